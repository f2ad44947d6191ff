"""Reusable widgets of the TUI; their looks live in app/tui/app.tcss."""
