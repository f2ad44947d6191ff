"""The job store's tables, written once for SQLite and PostgreSQL (docs/operations.md, §7).

Portable SQL only: TEXT, BIGINT, INTEGER flags, DOUBLE PRECISION seconds since the
epoch from the database's own clock (nodes' clocks never decide a lease), JSON kept as
TEXT. Partial indexes (both engines have them) carry the two rules that must hold
across nodes: one active job per client address, and a cheap scan of queued tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from app.server.stores.sql_core import Cursor

SCHEMA_VERSION: Final = 1

TABLES: Final = (
    """
    CREATE TABLE IF NOT EXISTS vcs_jobs (
        id TEXT PRIMARY KEY,
        op TEXT NOT NULL,
        params TEXT NOT NULL,
        client_ip TEXT NOT NULL,
        network TEXT NOT NULL,
        owner TEXT,
        filename TEXT NOT NULL,
        input_key TEXT NOT NULL,
        input_size BIGINT NOT NULL,
        input_media_type TEXT NOT NULL,
        state TEXT NOT NULL,
        phase TEXT NOT NULL,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0,
        eta_s DOUBLE PRECISION,
        error TEXT,
        result_key TEXT,
        result_media_type TEXT,
        result_size BIGINT,
        result_sha256 TEXT,
        report TEXT NOT NULL DEFAULT '{}',
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        downloaded INTEGER NOT NULL DEFAULT 0,
        input_reserved BIGINT NOT NULL DEFAULT 0,
        result_reserved BIGINT NOT NULL DEFAULT 0,
        node TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    )
    """,
    # docs/operations.md "one job per client IP", cluster-wide: a second INSERT for an address with
    # an active job fails here, in the database, whichever node it reached.
    """
    CREATE UNIQUE INDEX IF NOT EXISTS vcs_one_active_job_per_address
        ON vcs_jobs (client_ip) WHERE state IN ('uploading', 'queued', 'running')
    """,
    "CREATE INDEX IF NOT EXISTS vcs_jobs_finished ON vcs_jobs (finished_at)",
    "CREATE INDEX IF NOT EXISTS vcs_jobs_address ON vcs_jobs (client_ip)",
    """
    CREATE INDEX IF NOT EXISTS vcs_jobs_active_network
        ON vcs_jobs (network) WHERE state IN ('uploading', 'queued', 'running')
    """,
    # One row: the cluster-wide storage quota (docs/operations.md), reserved from declared sizes.
    """
    CREATE TABLE IF NOT EXISTS vcs_quota (
        id INTEGER PRIMARY KEY,
        limit_bytes BIGINT NOT NULL,
        used_bytes BIGINT NOT NULL,
        per_address_bytes BIGINT NOT NULL DEFAULT 0
    )
    """,
    # The work queue: task 0 of kind 'job' runs a whole job; chunks (issue 19) add more.
    """
    CREATE TABLE IF NOT EXISTS vcs_tasks (
        job_id TEXT NOT NULL REFERENCES vcs_jobs (id) ON DELETE CASCADE,
        task_no INTEGER NOT NULL,
        kind TEXT NOT NULL,
        spec TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL,
        node TEXT,
        lease_until DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        queued_at DOUBLE PRECISION NOT NULL,
        outcome TEXT,
        PRIMARY KEY (job_id, task_no)
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS vcs_tasks_queued
        ON vcs_tasks (queued_at) WHERE state = 'queued'
    """,
    """
    CREATE INDEX IF NOT EXISTS vcs_tasks_leased
        ON vcs_tasks (lease_until) WHERE state = 'running'
    """,
    # Raw uploads (docs/protocol.md): no job, but their bytes are held against the same quota.
    """
    CREATE TABLE IF NOT EXISTS vcs_raw_uploads (
        key TEXT PRIMARY KEY,
        client_ip TEXT NOT NULL,
        node TEXT NOT NULL,
        state TEXT NOT NULL,
        size BIGINT NOT NULL,
        reserved BIGINT NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        stored_at DOUBLE PRECISION
    )
    """,
    "CREATE INDEX IF NOT EXISTS vcs_raw_uploads_address ON vcs_raw_uploads (client_ip)",
    "CREATE INDEX IF NOT EXISTS vcs_raw_uploads_stored ON vcs_raw_uploads (stored_at)",
    # Nodes say they are alive; an upload whose node stopped saying so is reaped.
    """
    CREATE TABLE IF NOT EXISTS vcs_nodes (
        name TEXT PRIMARY KEY,
        seen_at DOUBLE PRECISION NOT NULL
    )
    """,
    "CREATE TABLE IF NOT EXISTS vcs_schema (version INTEGER NOT NULL)",
)

JOB_COLUMNS: Final = (
    "id, op, params, client_ip, owner, filename, input_key, input_size, input_media_type, "
    "state, phase, progress, eta_s, error, result_key, result_media_type, result_size, "
    "result_sha256, report, created_at, finished_at, downloaded, input_reserved, "
    "result_reserved, node, attempts"
)


def create_tables(cur: Cursor) -> None:
    """Every table and index (those already there are kept), and the schema version."""
    for statement in TABLES:
        cur.execute(statement)
    cur.execute("SELECT count(*) FROM vcs_schema")
    if cur.fetchone()[0] == 0:
        cur.execute("INSERT INTO vcs_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
