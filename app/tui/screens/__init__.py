"""The TUI's screens: the main view and the dialogs pushed over it."""
