"""`vcs`: the command line, the top layer (it starts the TUI and uses the client library)."""
