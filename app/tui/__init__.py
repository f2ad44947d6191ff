"""`vcs tui`: the full-screen, keyboard-driven Textual client (docs/clients.md)."""
