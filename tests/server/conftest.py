"""Fixtures of the server tests: one loopback cluster (three nodes on one PostgreSQL and
one S3 store, behind HAProxy) for the session's cluster tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.local_cluster import LocalCluster
from tests.support.cluster_calls import TASK_LEASE, revive


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = LocalCluster.up(tmp_path_factory.mktemp("cluster"), 3, task_lease=TASK_LEASE)
    try:
        yield running
    finally:
        running.down()


@pytest.fixture
def nodes_up(cluster: LocalCluster) -> Iterator[LocalCluster]:
    """Every node runs when the test starts and again when it ends (it may kill some)."""
    revive(cluster)
    yield cluster
    revive(cluster)
