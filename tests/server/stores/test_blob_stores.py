"""The blob store contract, run against both backends: the local directory and S3 on a
real SeaweedFS (docs/operations.md all-or-nothing, §7 shared bytes)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import trio

from app.server.input_copies import InputCopies
from app.server.storage import WorkArea
from app.server.stores.blob_store import (
    CHUNKS,
    BlobStore,
    chunk_key,
    input_key,
    job_of_chunk,
    result_key,
)
from app.server.stores.local_blobs import LocalBlobStore
from app.server.stores.s3_blobs import S3BlobStore
from app.server.stores.s3_client import MIN_PART_BYTES, S3Location
from app.server.worker import put_and_hash
from tests.support.engines import S3Bucket

MiB = 1024 * 1024


def s3_store(bucket: S3Bucket) -> S3BlobStore:
    return S3BlobStore(
        S3Location(
            bucket=bucket.bucket,
            prefix=bucket.prefix,
            endpoint=bucket.endpoint,
            region=bucket.region,
            access_key=bucket.access_key,
            secret_key=bucket.secret_key,
        )
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "storage")
    return s3_store(request.getfixturevalue("s3_bucket"))


async def write_blob(store: BlobStore, key: str, data: bytes, batch: int = MiB) -> str:
    """Upload `data` as the upload sink does (batches from a worker thread); its sha256."""
    async with store.upload(key, len(data), hash_it=True) as upload:
        for start in range(0, len(data), batch):
            await trio.to_thread.run_sync(upload.write_batch, [data[start : start + batch]])
        await upload.commit_blob()
        return upload.hexdigest()


async def read_blob(store: BlobStore, key: str) -> bytes:
    out = bytearray()
    async with store.open(key) as source:
        while chunk := await source.read(256 * 1024):
            out += chunk
    return bytes(out)


async def stored_keys(store: BlobStore) -> list[str]:
    return [*await store.keys("uploads"), *await store.keys("results")]


@pytest.mark.trio
async def test_a_committed_upload_reads_back_byte_exact(store: BlobStore) -> None:
    await store.prepare()
    # Three parts' worth: the S3 backend sends parts while the upload runs.
    data = os.urandom(2 * MIN_PART_BYTES + 12345)
    key = input_key("job1")
    digest = await write_blob(store, key, data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await store.size(key) == len(data)
    assert await read_blob(store, key) == data
    assert await stored_keys(store) == [key]


@pytest.mark.trio
async def test_a_small_upload_is_one_object(store: BlobStore) -> None:
    await store.prepare()
    key = input_key("small")
    await write_blob(store, key, b"tiny")
    assert await read_blob(store, key) == b"tiny"


@pytest.mark.trio
async def test_an_upload_that_fails_leaves_nothing(store: BlobStore) -> None:
    await store.prepare()
    key = input_key("job2")
    with pytest.raises(ConnectionResetError):
        async with store.upload(key, 3 * MIN_PART_BYTES) as upload:
            await trio.to_thread.run_sync(upload.write_batch, [os.urandom(MIN_PART_BYTES + 1)])
            raise ConnectionResetError("the client went away")
    assert await store.size(key) is None
    assert await stored_keys(store) == []
    if isinstance(store, S3BlobStore):
        assert await store.unfinished_uploads() == []  # the multipart was aborted
    else:
        assert not [p for p in (store.root / "uploads").iterdir()]  # no partial file


@pytest.mark.trio
async def test_a_cancelled_upload_leaves_nothing(store: BlobStore) -> None:
    await store.prepare()
    key = input_key("job3")
    with trio.move_on_after(0.5):
        async with store.upload(key, 64 * MIN_PART_BYTES) as upload:
            while True:  # a payload that never ends, cut by the timeout
                await trio.to_thread.run_sync(upload.write_batch, [os.urandom(MiB)])
    assert await store.size(key) is None
    assert await stored_keys(store) == []
    if isinstance(store, S3BlobStore):
        assert await store.unfinished_uploads() == []


@pytest.mark.trio
async def test_an_upload_is_invisible_until_committed(store: BlobStore) -> None:
    await store.prepare()
    key = input_key("job4")
    async with store.upload(key, 3 * MIN_PART_BYTES) as upload:
        await trio.to_thread.run_sync(upload.write_batch, [os.urandom(MIN_PART_BYTES + 5)])
        if isinstance(store, S3BlobStore):  # a part went out already: it streams
            assert [k for k, _, _ in await store.unfinished_uploads()] == [key]
        assert await store.size(key) is None
        with pytest.raises(FileNotFoundError):
            async with store.open(key):
                pass
        await upload.commit_blob()
    assert await store.size(key) == MIN_PART_BYTES + 5


@pytest.mark.trio
async def test_local_copy_and_put_file(store: BlobStore, tmp_path: Path) -> None:
    """A node's round trip: input to a local file for FFmpeg, result back from one."""
    await store.prepare()
    data = os.urandom(MIN_PART_BYTES + 99)
    key = input_key("job5")
    await write_blob(store, key, data)
    scratch = tmp_path / "storage" / "scratch"
    async with store.local_copy(key, scratch) as path:
        assert path.read_bytes() == data
    if isinstance(store, S3BlobStore):
        assert not path.exists()  # the scratch copy went with the block
    scratch.mkdir(parents=True, exist_ok=True)
    result = scratch / "out.part"
    result.write_bytes(data[::-1])
    await store.put_file(result, result_key("job5", 1, "mp4"))
    assert not result.exists()
    assert await read_blob(store, result_key("job5", 1, "mp4")) == data[::-1]
    with pytest.raises(FileNotFoundError):
        async with store.local_copy(input_key("nothing"), scratch):
            pass


@pytest.mark.trio
async def test_a_jobs_chunks_are_fetched_listed_and_deleted(
    store: BlobStore, tmp_path: Path
) -> None:
    """Chunks another node stored (chunks/<job>/<name>): fetched into the job's own
    directory, listed per job for the deletion at its end."""
    await store.prepare()
    chunk = tmp_path / "chunk-00001-abc.nut"
    data = os.urandom(70_000)
    chunk.write_bytes(data)
    await store.put_file(chunk, chunk_key("job7", chunk.name))
    await write_blob(store, chunk_key("job8", "chunk-00000-def.nut"), b"other job")
    fetched = tmp_path / "fetched.part"
    await store.get_file(chunk_key("job7", chunk.name), fetched)
    assert fetched.read_bytes() == data
    assert await store.keys(f"{CHUNKS}/job7") == [f"chunks/job7/{chunk.name}"]
    assert job_of_chunk(f"chunks/job7/{chunk.name}") == "job7"
    assert job_of_chunk(input_key("job7")) is None
    await store.delete(chunk_key("job7", chunk.name))
    assert await store.keys(f"{CHUNKS}/job7") == []
    with pytest.raises(FileNotFoundError):
        await store.get_file(chunk_key("job7", chunk.name), tmp_path / "again.part")


@pytest.mark.trio
async def test_a_jobs_input_is_copied_once_for_all_its_tasks_on_a_node(
    store: BlobStore, tmp_path: Path
) -> None:
    await store.prepare()
    data = os.urandom(100_000)
    key = input_key("job9")
    await write_blob(store, key, data)
    copies = InputCopies(store, tmp_path / "work", linger_s=0.2)
    seen: list[Path] = []

    async def task() -> None:
        async with copies.copy_of(key) as path:
            seen.append(path)
            await trio.sleep(0.05)

    async with trio.open_nursery() as nursery:  # two tasks of the job at once
        nursery.start_soon(task)
        nursery.start_soon(task)
    assert len(set(seen)) == 1 and seen[0].read_bytes() == data
    async with copies.copy_of(key) as again:  # the next task, within the linger
        assert again == seen[0]
    assert copies.held == 1
    assert await copies.evict_idle() == 0  # not idle long enough yet
    await trio.sleep(0.3)
    assert await copies.evict_idle() == 1 and copies.held == 0
    # An S3 copy is deleted; the local store lends its own file, which stays.
    assert seen[0].exists() is not isinstance(store, S3BlobStore)


@pytest.mark.trio
async def test_delete(store: BlobStore) -> None:
    await store.prepare()
    key = result_key("job6", 1, "gif")
    await write_blob(store, key, b"GIF89a")
    await store.delete(key)
    await store.delete(key)  # twice is fine
    assert await store.size(key) is None
    assert await stored_keys(store) == []


@pytest.mark.trio
async def test_keys_are_ours_only(store: BlobStore) -> None:
    for bad in ("../etc/passwd", "uploads/../x", "uploads/a b", "/abs", "uploads/.hidden"):
        with pytest.raises(ValueError):
            async with store.upload(bad, 1):
                pass


@pytest.mark.trio
async def test_local_prepare_sweeps_partial_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.prepare()
    (tmp_path / "uploads" / ".abc.part").write_bytes(b"half")
    assert await store.prepare() == 1
    assert list((tmp_path / "uploads").iterdir()) == []


@pytest.mark.trio
async def test_s3_uploads_of_dead_nodes_are_aborted(s3_bucket: S3Bucket) -> None:
    """A node killed mid-upload leaves a multipart upload; the sweep aborts it unless the
    job store still sees that key uploading."""
    store = s3_store(s3_bucket)
    await store.prepare()
    client = store._client
    for name in ("dead", "alive"):
        key = store.location.object_key(f"uploads/{name}.mp4")
        started = client.create_multipart_upload(Bucket=s3_bucket.bucket, Key=key)
        client.upload_part(
            Bucket=s3_bucket.bucket,
            Key=key,
            UploadId=started["UploadId"],
            PartNumber=1,
            Body=b"x" * MiB,
        )

    async def uploading() -> set[str]:
        return {"uploads/alive.mp4"}

    assert await store.abort_uploads_except(uploading) == 1
    assert [k for k, _, _ in await store.unfinished_uploads()] == ["uploads/alive.mp4"]
    assert await store.size("uploads/dead.mp4") is None


def test_s3_location_parse() -> None:
    where = S3Location.parse("s3://media/vcs/prod", endpoint="http://127.0.0.1:1")
    assert (where.bucket, where.prefix) == ("media", "vcs/prod")
    assert where.object_key("uploads/a.mp4") == "vcs/prod/uploads/a.mp4"
    assert where.blob_key("vcs/prod/uploads/a.mp4") == "uploads/a.mp4"
    for bad in ("media", "http://x/y", "s3:///prefix"):
        with pytest.raises(ValueError):
            S3Location.parse(bad)


@pytest.mark.trio
async def test_a_result_is_stored_and_hashed_in_one_step(store: BlobStore, tmp_path: Path) -> None:
    """worker.put_and_hash: the store's copy and the digest are the file FFmpeg wrote."""
    await store.prepare()
    work = WorkArea(tmp_path / "node")
    work.prepare()
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read block, not a whole one
    key = result_key("0" * 32, 1, "mp4")
    with work.partial_result() as partial:
        partial.path.write_bytes(data)  # as FFmpeg writes it, by name
        digest, size = await put_and_hash(store, partial.path, key, trio.CapacityLimiter(1))
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert await read_blob(store, key) == data
    assert list(work.dir.iterdir()) == []  # no partial name left behind
