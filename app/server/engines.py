"""The job store and blob store the settings name (docs/operations.md, "Where things live").

    --job-store sqlite                       jobs.sqlite3 in the storage directory (default)
    --job-store postgresql://HOST/DB         a cluster's shared PostgreSQL
    --blob-store local                       uploads/, results/, raw/ in the storage dir
    --blob-store s3://BUCKET[/PREFIX]        any S3-compatible store (--s3-endpoint)

Credentials never come from flags, where `ps` would show them: PostgreSQL's password
from PGPASSWORD or ~/.pgpass (libpq's own rules), S3's keys from boto3's chain
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, an instance role).
"""

from __future__ import annotations

import os
from typing import Final

from app.server.config import ServerConfig
from app.server.stores.blob_store import BlobStore
from app.server.stores.local_blobs import LocalBlobStore
from app.server.stores.sql_jobs import SqlJobStore

SQLITE: Final = "sqlite"
LOCAL: Final = "local"
POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")
# The node's name in the job store when it has no --node-id (one node alone).
LOCAL_NODE: Final = "local"


def is_postgres(job_store: str) -> bool:
    return job_store.startswith(POSTGRES_SCHEMES)


def check_engines(config: ServerConfig) -> None:
    """ValueError (a usage error) for settings that cannot work together."""
    if config.job_store != SQLITE and not is_postgres(config.job_store):
        raise ValueError("--job-store: 'sqlite' or a postgresql:// DSN")
    if config.blob_store != LOCAL and not config.blob_store.startswith("s3://"):
        raise ValueError("--blob-store: 'local' or s3://BUCKET[/PREFIX]")
    if is_postgres(config.job_store):
        if config.blob_store == LOCAL:
            raise ValueError(
                "--job-store postgresql:// is for a cluster, whose nodes must share their "
                "files: add --blob-store s3://BUCKET[/PREFIX]"
            )
        if not config.node_id:
            raise ValueError("--job-store postgresql:// needs a --node-id unique to this node")


def open_job_store(config: ServerConfig) -> SqlJobStore:
    """Blocking (it connects and creates the tables): run it in a thread."""
    node = config.node_id or LOCAL_NODE
    if is_postgres(config.job_store):
        from app.server.stores.postgres_jobs import open_postgres_store

        return open_postgres_store(config.job_store, node)
    from app.server.stores.sqlite_jobs import open_sqlite_store

    return open_sqlite_store(config.storage_dir, node)


def open_blob_store(config: ServerConfig) -> BlobStore:
    if config.blob_store == LOCAL:
        return LocalBlobStore(config.storage_dir)
    from app.server.stores.s3_blobs import S3BlobStore
    from app.server.stores.s3_client import S3Location

    endpoint = (
        config.s3_endpoint
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    return S3BlobStore(
        S3Location.parse(config.blob_store, endpoint=endpoint, region=config.s3_region)
    )
