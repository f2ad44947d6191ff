"""Where an S3-compatible store is (`S3Location`) and the boto3 client that reaches it.

Also the rules of its multipart uploads (part sizes) and how its "no such key"
becomes the FileNotFoundError of the blob store interface. Used by s3_blobs.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from app.server.stores.blob_store import check_key

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MIN_PART_BYTES: Final = 8 * 1024 * 1024
PARTS_IN_FLIGHT: Final = 3
MAX_PARTS: Final = 10_000
# Unfinished multipart uploads older than this are aborted by `prepare` on any node.
STALE_UPLOAD_S: Final = 24 * 3600.0
DEFAULT_THREADS: Final = 16


@dataclass(frozen=True, slots=True)
class S3Location:
    """`s3://BUCKET[/PREFIX]` plus where the store is. Credentials are boto3's own chain
    (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role) unless given."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None

    @classmethod
    def parse(cls, url: str, **where: Any) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an S3 location: {url!r} (expected s3://BUCKET[/PREFIX])")
        return cls(bucket=parts.netloc, prefix=parts.path.strip("/"), **where)

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{check_key(key)}" if self.prefix else check_key(key)

    def blob_key(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1 :] if self.prefix else object_key


def is_missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
        "NoSuchKey",
        "404",
        "NotFound",
    )


@contextlib.contextmanager
def missing_is_file_not_found(key: str) -> Iterator[None]:
    """S3's "no such key" as the FileNotFoundError the blob store interface promises."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if is_missing(exc):
            raise FileNotFoundError(key) from None
        raise


def part_size_for(size_hint: int) -> int:
    """Parts of at least 8 MiB, large enough that `size_hint` bytes fit in MAX_PARTS."""
    needed = -(-size_hint // (MAX_PARTS - 1))
    mib = 1024 * 1024
    return max(MIN_PART_BYTES, -(-needed // mib) * mib)


def make_client(location: S3Location, threads: int) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(
        max_pool_connections=threads + 8,
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        # Path-style URLs work on every S3-compatible store; AWS picks its own.
        s3={"addressing_style": "path" if location.endpoint else "auto"},
        # Our own SHA-256 checks payloads end to end; extra trailers confuse some stores.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client(
        "s3",
        endpoint_url=location.endpoint,
        region_name=location.region,
        aws_access_key_id=location.access_key,
        aws_secret_access_key=location.secret_key,
        config=config,
    )
