"""Real PostgreSQL and SeaweedFS for the tests: one server each per session, a fresh
database or bucket per test. A test that needs an engine this machine cannot have
skips, naming the engine and how to get it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deploy.balancer import haproxy_binary
from deploy.postgres import PostgresServer, postgres_bindir
from deploy.processes import EngineUnavailable
from deploy.seaweedfs import REGION, SeaweedServer, weed_binary

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.create(tmp_path_factory.mktemp("postgres"), durable=False)
        server.start()
    except EngineUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.remove()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a new empty database on the session's PostgreSQL."""
    if not postgres_server.accepts_connections():  # a test restarted it and failed
        postgres_server.start()
    return postgres_server.create_database(f"test{next(_names)}")


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    try:
        server = SeaweedServer.create(tmp_path_factory.mktemp("seaweedfs")).start()
    except EngineUnavailable as exc:
        pytest.skip(f"SeaweedFS unavailable: {exc}")
    yield server
    server.remove()


@dataclass(frozen=True)
class S3Bucket:
    """Where a test's objects go, and the credentials that reach it."""

    endpoint: str
    bucket: str
    prefix: str
    access_key: str
    secret_key: str
    region: str = REGION

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@pytest.fixture
def s3_bucket(seaweed_server: SeaweedServer) -> S3Bucket:
    """An empty place in the session's bucket: a prefix of its own per test. (A bucket
    per test would give SeaweedFS a collection, with its own volumes, per test.)"""
    return S3Bucket(
        seaweed_server.endpoint,
        seaweed_server.bucket,
        f"test{next(_names)}",
        seaweed_server.access_key,
        seaweed_server.secret_key,
    )


def cluster_tools_missing() -> str | None:
    """Why a whole loopback cluster (scripts/cluster) cannot run here, or None."""
    if postgres_bindir() is None:
        return "needs PostgreSQL (Debian: apt-get install postgresql-15)"
    try:
        haproxy_binary(install=False)
        weed_binary(install=False)
    except EngineUnavailable as exc:
        return str(exc)
    return None
