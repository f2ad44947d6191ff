"""Blobs in an S3-compatible object store (a cluster's shared bytes; docs/scale.md).

Tested on SeaweedFS; meant for any S3 (Ceph RGW, AWS, ...). boto3 is synchronous:
every call runs in a worker thread under the store's CapacityLimiter, and one client
(thread-safe) serves them all.

- Uploads stream: bytes collect into one part (8 MiB, or more for huge declared
  sizes: S3 allows 10,000 parts) and each full part goes out with UploadPart on a
  sender thread, up to PARTS_IN_FLIGHT at once, so an upload holds at most that many
  parts plus the one filling in memory (32 MiB at the default size). A payload that
  fits in one part is one PutObject at commit. Nothing is visible before
  CompleteMultipartUpload (or that PutObject); leaving the block any other way aborts
  the multipart upload, so no object and no stored part remains.
- A node killed mid-upload leaves an unfinished multipart upload: `abort_uploads_except`
  (run with the keys the job store still sees uploading) and `prepare` (for uploads
  older than a day) abort them. Production buckets should also carry a lifecycle rule
  AbortIncompleteMultipartUpload (docs/scale.md).
- FFmpeg's input is downloaded to local scratch (ranged GETs in parallel) and its
  result uploaded from a local file (parallel parts): see `local_copy`, `put_file`.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import hashlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from app.files.atomic_write import PARTIAL_SUFFIX
from app.server.stores.blob_store import BlobSource
from app.server.stores.job_store import StoreUnavailable
from app.server.stores.s3_client import (
    DEFAULT_THREADS,
    MIN_PART_BYTES,
    PARTS_IN_FLIGHT,
    STALE_UPLOAD_S,
    S3Location,
    is_missing,
    make_client,
    missing_is_file_not_found,
    part_size_for,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

T = TypeVar("T")


class S3Upload:
    """One object being written in parts; `write_batch` runs in the writer thread."""

    def __init__(self, client: S3Client, bucket: str, key: str, part_size: int, hash_it: bool):
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        # Parts on their way: the writer thread keeps receiving while they go out.
        self._sending: collections.deque[Future[CompletedPartTypeDef]] = collections.deque()
        self._senders: ThreadPoolExecutor | None = None
        self._hash = hashlib.sha256() if hash_it else None
        self.size = 0
        self.committed = False

    @property
    def fd(self) -> int | None:
        return None  # nothing local to splice into: bytes go through write_batch

    @property
    def digest(self) -> hashlib._Hash | None:
        return self._hash

    def write(self, data: bytes) -> None:
        """Buffer only (this may run in the event loop); `write_batch` sends parts."""
        self._buffer += data
        self.size += len(data)
        if self._hash is not None:
            self._hash.update(data)

    def write_batch(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)
        while len(self._buffer) >= self._part_size:
            self._send_part(self._part_size)

    def written_elsewhere(self, nbytes: int) -> None:
        raise AssertionError("an S3 upload has no file to splice into")

    def hexdigest(self) -> str:
        assert self._hash is not None
        return self._hash.hexdigest()

    def _send_part(self, nbytes: int) -> None:
        """Hand the next part to a sender thread; wait only when PARTS_IN_FLIGHT are out
        (so an upload holds at most that many parts plus the one filling)."""
        if self._upload_id is None:
            started = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload_id = started["UploadId"]
            self._senders = ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        assert self._senders is not None
        body = bytes(self._buffer[:nbytes])
        del self._buffer[:nbytes]
        number = len(self._parts) + len(self._sending) + 1
        upload_id = self._upload_id

        def send() -> CompletedPartTypeDef:
            sent = self._client.upload_part(
                Bucket=self._bucket, Key=self._key, UploadId=upload_id, PartNumber=number, Body=body
            )
            return {"PartNumber": number, "ETag": sent["ETag"]}

        self._sending.append(self._senders.submit(send))
        while len(self._sending) >= PARTS_IN_FLIGHT:
            self._parts.append(self._sending.popleft().result())

    def _wait_for_parts(self) -> None:
        try:
            while self._sending:
                self._parts.append(self._sending.popleft().result())
        finally:
            if self._senders is not None:
                self._senders.shutdown(wait=True, cancel_futures=True)
                self._senders = None

    def _complete(self) -> None:
        if self._upload_id is None:  # it all fits in one part: one request, atomic
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._send_part(len(self._buffer))
            self._wait_for_parts()
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()
        self.committed = True

    def _abort(self) -> None:
        self._buffer = bytearray()
        with contextlib.suppress(Exception):  # a part that failed: aborted all the same
            self._wait_for_parts()
        if self._upload_id is not None and not self.committed:
            from botocore.exceptions import ClientError

            with contextlib.suppress(ClientError):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )
            self._upload_id = None

    async def commit_blob(self) -> None:
        await trio.to_thread.run_sync(self._complete)


class S3Object:
    """A stored object being read through its GetObject body stream."""

    file = None

    def __init__(self, body: Any, limiter: trio.CapacityLimiter) -> None:
        self._body = body
        self._limiter = limiter

    async def read(self, max_bytes: int) -> bytes:
        data: bytes = await trio.to_thread.run_sync(
            self._body.read, max_bytes, limiter=self._limiter
        )
        return data


class S3BlobStore:
    def __init__(self, location: S3Location, threads: int = DEFAULT_THREADS) -> None:
        self.location = location
        self._limiter = trio.CapacityLimiter(threads)
        self._client = make_client(location, threads)

    @property
    def description(self) -> str:
        where = f" at {self.location.endpoint}" if self.location.endpoint else ""
        prefix = f"/{self.location.prefix}" if self.location.prefix else ""
        return f"S3 s3://{self.location.bucket}{prefix}{where}"

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def prepare(self) -> int:
        """Check the bucket answers (StoreUnavailable, saying why, if not); abort multipart
        uploads left for over a day."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            await self._call(lambda: self._client.head_bucket(Bucket=self.location.bucket))
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"cannot use {self.description}: {exc}") from exc
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=STALE_UPLOAD_S)
        return await self._abort_uploads(lambda key, started: started < cutoff)

    async def abort_uploads_except(self, in_progress: Callable[[], Awaitable[set[str]]]) -> int:
        """Abort every unfinished upload whose key `in_progress()` does not name: the
        uploads of nodes that died. Listed first, `in_progress()` read second, so an
        upload that starts in between is not aborted."""
        unfinished = await self.unfinished_uploads()
        if not unfinished:
            return 0
        alive = await in_progress()
        return await self._abort(
            [(key, upload_id) for key, upload_id, _ in unfinished if key not in alive]
        )

    async def unfinished_uploads(self) -> list[tuple[str, str, datetime.datetime]]:
        """(blob key, upload id, started) of every multipart upload not yet completed."""

        def list_all() -> list[tuple[str, str, datetime.datetime]]:
            found = []
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.location.bucket,
                Prefix=f"{self.location.prefix}/" if self.location.prefix else "",
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    found.append(
                        (
                            self.location.blob_key(upload["Key"]),
                            upload["UploadId"],
                            upload["Initiated"],
                        )
                    )
            return found

        return await self._call(list_all)

    async def _abort_uploads(self, doomed: Callable[[str, datetime.datetime], bool]) -> int:
        unfinished = await self.unfinished_uploads()
        return await self._abort(
            [(key, upload_id) for key, upload_id, started in unfinished if doomed(key, started)]
        )

    async def _abort(self, uploads: list[tuple[str, str]]) -> int:
        from botocore.exceptions import ClientError

        aborted = 0
        for key, upload_id in uploads:
            with contextlib.suppress(ClientError):  # finished or aborted meanwhile
                await self._call(
                    lambda k=key, u=upload_id: self._client.abort_multipart_upload(
                        Bucket=self.location.bucket, Key=self.location.object_key(k), UploadId=u
                    )
                )
                aborted += 1
        return aborted

    @contextlib.asynccontextmanager
    async def upload(
        self, key: str, size_hint: int, hash_it: bool = False
    ) -> AsyncIterator[S3Upload]:
        upload = S3Upload(
            self._client,
            self.location.bucket,
            self.location.object_key(key),
            part_size_for(size_hint),
            hash_it,
        )
        try:
            yield upload
        finally:
            if not upload.committed:
                with trio.CancelScope(shield=True):
                    await self._call(upload._abort)

    @contextlib.asynccontextmanager
    async def open(self, key: str) -> AsyncIterator[BlobSource]:
        with missing_is_file_not_found(key):
            got = await self._call(
                lambda: self._client.get_object(
                    Bucket=self.location.bucket, Key=self.location.object_key(key)
                )
            )
        body = got["Body"]
        try:
            yield S3Object(body, self._limiter)
        finally:
            body.close()

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str, scratch: Path) -> AsyncIterator[Path]:
        """Download to `scratch` (parallel ranged GETs); deleted when the block ends."""
        scratch.mkdir(parents=True, exist_ok=True)
        # A hidden partial name, no extension (like the key): swept at start if left.
        path = scratch / f".{secrets.token_hex(8)}{PARTIAL_SUFFIX}"
        try:
            await self.get_file(key, path)
            yield path
        finally:
            path.unlink(missing_ok=True)

    async def get_file(self, key: str, path: Path) -> None:
        with missing_is_file_not_found(key):
            await self._call(
                self._client.download_file,
                self.location.bucket,
                self.location.object_key(key),
                str(path),
            )

    async def put_file(self, path: Path, key: str) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=MIN_PART_BYTES,
            multipart_chunksize=part_size_for(path.stat().st_size),
            max_concurrency=4,
        )
        try:
            await self._call(
                lambda: self._client.upload_file(
                    str(path), self.location.bucket, self.location.object_key(key), Config=config
                )
            )
        finally:
            path.unlink(missing_ok=True)

    async def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = await self._call(
                lambda: self._client.head_object(
                    Bucket=self.location.bucket, Key=self.location.object_key(key)
                )
            )
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        await self._call(
            lambda: self._client.delete_object(
                Bucket=self.location.bucket, Key=self.location.object_key(key)
            )
        )

    async def keys(self, area: str) -> list[str]:
        prefix = self.location.object_key(f"{area}/x")[:-1]

        def list_all() -> list[str]:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix
            )
            return [
                self.location.blob_key(obj["Key"])
                for page in pages
                for obj in page.get("Contents", [])
            ]

        return await self._call(list_all)
