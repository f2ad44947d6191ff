"""The `vcs-serve` trio daemon: listeners, connection handling, storage, quota and jobs."""
