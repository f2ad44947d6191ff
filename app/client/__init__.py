"""The trio client library for MMP, and the `vcs` command line built on it."""
