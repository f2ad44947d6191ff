"""Starting the engines a cluster runs on, on this machine (tests, bench, scripts/cluster)."""
