"""`vcs tui`: the full-screen, keyboard-driven Textual client (SPEC §5)."""
