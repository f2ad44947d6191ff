"""The job store contract, run against SQLite and a real PostgreSQL: states, the
one-job-per-address rule, the quota, the work queue with leases (docs/operations.md, §7)."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from app.protocol.errors import ErrorCode, ErrorInfo
from app.server.stores.job_store import (
    MAX_ATTEMPTS,
    AddressBusy,
    AdmissionCaps,
    FinishedResult,
    JobState,
    NetworkBusy,
    NewJob,
    QueueFull,
    QuotaFull,
    TransitionRefused,
)
from app.server.stores.postgres_jobs import open_postgres_store
from app.server.stores.sql_jobs import SqlJobStore
from app.server.stores.sqlite_jobs import open_sqlite_store

QUOTA = 10_000
_ids = itertools.count(1)

OpenStore = Callable[[str], SqlJobStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """`open_store(node)`: the store as node `node` sees it (several share one database)."""
    opened: list[SqlJobStore] = []
    if request.param == "sqlite":

        def make(node: str) -> SqlJobStore:
            return open_sqlite_store(tmp_path, node)
    else:
        dsn = request.getfixturevalue("postgres_dsn")

        def make(node: str) -> SqlJobStore:
            return open_postgres_store(dsn, node)

    def opener(node: str) -> SqlJobStore:
        store = make(node)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


def new_job(ip: str = "10.0.0.1", size: int = 1000) -> NewJob:
    job_id = f"{next(_ids):032x}"
    return NewJob(
        id=job_id,
        op="compress",
        params={"codec": "h264"},
        client_ip=ip,
        filename="clip.mp4",
        input_key=f"uploads/{job_id}.mp4",
        input_size=size,
        input_media_type="mp4",
    )


async def queued(store: SqlJobStore, ip: str = "10.0.0.1", size: int = 1000) -> NewJob:
    job = new_job(ip, size)
    await store.accept_upload(job)
    await store.upload_stored(job.id)
    return job


async def fresh(open_store: OpenStore, node: str = "a") -> SqlJobStore:
    store = open_store(node)
    await store.set_quota_limit(QUOTA)
    await store.heartbeat()
    return store


def result_of(job: NewJob, size: int) -> FinishedResult:
    return FinishedResult(f"results/{job.id}-1.mp4", "mp4", size, "ab" * 32, {"crf": 23})


@pytest.mark.trio
async def test_one_active_job_per_address_and_quota_before_payload(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    first = new_job("10.0.0.1", 4000)
    await store.accept_upload(first)
    record = await store.get(first.id)
    assert record is not None and record.state is JobState.UPLOADING
    assert await store.quota() == (4000, QUOTA)
    # The same address again, through another node: refused, nothing reserved.
    other_node = await fresh(open_store, "b")
    with pytest.raises(AddressBusy):
        await other_node.accept_upload(new_job("10.0.0.1", 10))
    assert await store.quota() == (4000, QUOTA)
    # Another address that does not fit: refused with the numbers, no row.
    too_big = new_job("10.0.0.2", 7000)
    with pytest.raises(QuotaFull) as full:
        await other_node.accept_upload(too_big)
    assert (full.value.needed, full.value.free) == (7000, 6000)
    assert await store.get(too_big.id) is None
    # A failed upload frees both the address and its quota.
    await store.discard_upload(first.id)
    assert await store.get(first.id) is None
    assert await store.quota() == (0, QUOTA)
    await other_node.accept_upload(new_job("10.0.0.1", 10))


@pytest.mark.trio
async def test_a_job_from_queue_to_download(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    job = await queued(store, size=1000)
    assert (await store.get(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    task = await store.claim_task(lease_s=30)
    assert task is not None and (task.job_id, task.kind, task.attempt) == (job.id, "job", 1)
    assert await store.claim_task(lease_s=30) is None  # nothing else queued
    assert await store.renew_lease(task, 30, (0.5, 3.0, "encoding"))
    running = await store.get(job.id)
    assert running is not None
    assert (running.state, running.phase, running.progress, running.eta_s) == (
        JobState.RUNNING,
        "encoding",
        0.5,
        3.0,
    )
    await store.reserve_result(task, 3000)
    assert await store.quota() == (4000, QUOTA)
    await store.finish_job(task, result_of(job, 600))
    done = await store.get(job.id)
    assert done is not None and done.state is JobState.DONE and done.result_size == 600
    assert done.report == {"crf": 23}
    assert await store.quota() == (600, QUOTA)  # the input went, the result's real size stays
    # The address may send its next job now.
    await store.accept_upload(new_job("10.0.0.1"))
    old = await store.mark_downloaded(job.id)
    assert old.result_key == f"results/{job.id}-1.mp4"
    assert await store.quota() == (1000, QUOTA)
    with pytest.raises(TransitionRefused):
        await store.mark_downloaded(job.id)


@pytest.mark.trio
async def test_cancel_reaches_the_running_node(open_store: OpenStore) -> None:
    runner = await fresh(open_store, "a")
    other = await fresh(open_store, "b")
    job = await queued(other)
    task = await runner.claim_task(lease_s=30)
    assert task is not None
    old = await other.cancel_job(job.id)
    assert old.state is JobState.RUNNING and old.node == "a"
    # The runner learns at its next lease renewal, and can neither finish nor fail it.
    assert not await runner.renew_lease(task, 30)
    with pytest.raises(TransitionRefused):
        await runner.finish_job(task, result_of(job, 10))
    with pytest.raises(TransitionRefused):
        await runner.reserve_result(task, 10)
    record = await other.get(job.id)
    assert record is not None and record.state is JobState.CANCELLED
    assert await other.quota() == (0, QUOTA)
    with pytest.raises(TransitionRefused):
        await other.cancel_job(job.id)


@pytest.mark.trio
async def test_cancel_of_a_queued_or_done_job(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    waiting = await queued(store, "10.0.0.1")
    await store.cancel_job(waiting.id)
    assert await store.claim_task(lease_s=30) is None  # its task left the queue
    done = await queued(store, "10.0.0.2")
    task = await store.claim_task(lease_s=30)
    assert task is not None
    await store.finish_job(task, result_of(done, 500))
    old = await store.cancel_job(done.id)  # discards the result now
    assert old.result_key is not None
    assert await store.quota() == (0, QUOTA)
    with pytest.raises(KeyError):
        await store.cancel_job("0" * 32)


@pytest.mark.trio
async def test_failed_job_frees_everything(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    job = await queued(store)
    task = await store.claim_task(lease_s=30)
    assert task is not None
    await store.reserve_result(task, 2000)
    error = ErrorInfo(ErrorCode.UNREADABLE_MEDIA, "FFmpeg cannot read it.", "Send a video.")
    old = await store.fail_job(task, error)
    assert old.input_key == job.input_key
    record = await store.get(job.id)
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and record.error.code is ErrorCode.UNREADABLE_MEDIA
    assert await store.quota() == (0, QUOTA)


@pytest.mark.trio
async def test_a_lost_lease_runs_the_job_elsewhere_then_bounded(open_store: OpenStore) -> None:
    nodes = [await fresh(open_store, name) for name in ("a", "b", "c")]
    job = await queued(nodes[0])
    for attempt in range(1, MAX_ATTEMPTS + 1):
        node = nodes[attempt - 1]
        task = await node.claim_task(lease_s=0.05)  # this node "dies" at once
        assert task is not None and task.attempt == attempt
        await node.reserve_result(task, 500)
        await trio.sleep(0.2)
        failed = await nodes[0].requeue_lost_tasks()
        record = await nodes[0].get(job.id)
        assert record is not None
        if attempt < MAX_ATTEMPTS:
            assert failed == [] and record.state is JobState.QUEUED
            assert await nodes[0].quota() == (1000, QUOTA)  # the lost run's reservation went
            assert not await node.renew_lease(task, 30)  # the dead node cannot come back
        else:
            assert [r.id for r in failed] == [job.id]
            assert record.state is JobState.FAILED and record.error is not None
            assert record.error.code is ErrorCode.RETRIES_EXHAUSTED
            assert f"started {MAX_ATTEMPTS} times" in record.error.description
            assert await nodes[0].quota() == (0, QUOTA)


@pytest.mark.trio
async def test_expiry_removes_ended_jobs(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    job = await queued(store)
    task = await store.claim_task(lease_s=30)
    assert task is not None
    await store.finish_job(task, result_of(job, 300))
    assert await store.expire_finished(retention_s=3600) == []
    await trio.sleep(0.05)
    gone = await store.expire_finished(retention_s=0.01)
    assert [r.result_key for r in gone] == [f"results/{job.id}-1.mp4"]
    assert await store.get(job.id) is None
    assert await store.quota() == (0, QUOTA)


@pytest.mark.trio
async def test_restart_sweep_one_node_queues_unfinished_jobs_again(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    uploading = new_job("10.0.0.1")
    await store.accept_upload(uploading)
    first = await queued(store, "10.0.0.2")
    second = await queued(store, "10.0.0.3")
    task = await store.claim_task(lease_s=30)
    assert task is not None and task.job_id == first.id
    # Started again under another --node-id: alone, every row is its own all the same.
    restarted = await fresh(open_store, "renamed")
    sweep = await restarted.restart_sweep(requeue=False)
    assert [r.id for r in sweep.discarded] == [uploading.id]
    assert sweep.failed == []
    assert sweep.waiting == sorted([first.id, second.id])
    for job in (first, second):
        record = await restarted.get(job.id)
        assert record is not None and record.state is JobState.QUEUED
    # Each interrupted run counts: two more restarts while both run and the first
    # (stopped three times) fails; the second (twice) is queued again.
    for _ in range(2):
        assert {(await restarted.claim_task(lease_s=30)) is not None for _ in range(2)} == {True}
        sweep = await (await fresh(open_store, "again")).restart_sweep(requeue=False)
    assert [r.id for r in sweep.failed] == [first.id]
    assert sweep.waiting == [second.id]
    record = await restarted.get(first.id)
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and record.error.code is ErrorCode.RETRIES_EXHAUSTED
    assert await restarted.quota() == (second.input_size, QUOTA)


@pytest.mark.trio
async def test_restart_sweep_in_a_cluster_requeues_own_tasks(open_store: OpenStore) -> None:
    a = await fresh(open_store, "a")
    b = await fresh(open_store, "b")
    job = await queued(a)
    assert await a.claim_task(lease_s=30) is not None
    await b.accept_upload(new_job("10.0.0.9"))  # b's upload is not a's to sweep
    sweep = await (await fresh(open_store, "a")).restart_sweep(requeue=True)
    assert sweep.discarded == [] and sweep.failed == []
    task = await b.claim_task(lease_s=30)
    assert task is not None and task.job_id == job.id and task.attempt == 2


@pytest.mark.trio
async def test_a_jobs_chunk_tasks_are_queued_once_per_key_and_lost_ones_alone_requeued(
    open_store: OpenStore,
) -> None:
    a = await fresh(open_store, "a")
    b = await fresh(open_store, "b")
    job = await queued(a)
    run = await a.claim_task(lease_s=30)
    assert run is not None
    assert await a.queue_task(run, "chunk", "k1", {"n": 1}) == (1, False)
    assert await a.queue_task(run, "chunk", "k2", {"n": 2}) == (2, False)
    # The job's next run queues the same chunk again: the task that is there is its.
    assert await a.queue_task(run, "chunk", "k1", {"n": 1}) == (1, True)
    assert await b.claim_task(lease_s=30, kinds=("chunk",), job_id="0" * 32) is None
    lost = await b.claim_task(lease_s=0.01, kinds=("chunk",), job_id=job.id)
    assert lost is not None and (lost.task_no, lost.spec) == (1, {"n": 1, "key": "k1"})
    await trio.sleep(0.05)
    # b stalled: its chunk goes back to the queue, the job runs on with its own task.
    assert await a.requeue_lost_tasks() == []
    record = await a.get(job.id)
    assert record is not None and record.state is JobState.RUNNING and record.node == "a"
    again = await b.claim_task(lease_s=30, kinds=("chunk",), job_id=job.id)
    assert again is not None and (again.task_no, again.attempt) == (1, 2)
    with pytest.raises(TransitionRefused):
        await b.complete_task(lost, {"chunk": "stale"})
    await b.complete_task(again, {"chunk": "one"})
    assert await a.task_outcomes(job.id) == {1: {"chunk": "one"}}
    # The job ends: its chunk tasks go with it, queued ones too.
    await a.finish_job(run, result_of(job, 300))
    assert await a.task_outcomes(job.id) == {}
    assert await b.claim_task(lease_s=30, kinds=("chunk",)) is None
    with pytest.raises(TransitionRefused):
        await a.queue_task(run, "chunk", "k3", {})


@pytest.mark.trio
async def test_uploads_of_a_silent_node_are_reaped(open_store: OpenStore) -> None:
    a = await fresh(open_store, "a")
    b = await fresh(open_store, "b")
    job = new_job("10.0.0.1", 2500)
    await a.accept_upload(job)
    await a.accept_raw("raw/r1.mp4", "10.0.0.2", 3000, held=500)
    assert await b.reap_dead_uploads(silent_s=60) == ([], [])
    await trio.sleep(0.2)
    await b.heartbeat()
    jobs, raw = await b.reap_dead_uploads(silent_s=0.1)
    assert [r.input_key for r in jobs] == [job.input_key] and raw == ["raw/r1.mp4"]
    assert await b.uploading_keys() == set()
    assert await b.quota() == (0, QUOTA)
    await b.accept_upload(new_job("10.0.0.1"))  # the address is free again


@pytest.mark.trio
async def test_concurrent_claims_take_each_task_once(open_store: OpenStore) -> None:
    nodes = [await fresh(open_store, f"n{i}") for i in range(4)]
    jobs = [await queued(nodes[0], f"10.0.1.{i}", 10) for i in range(24)]
    claimed: list[tuple[str, str]] = []

    async def drain(node: SqlJobStore) -> None:
        while (task := await node.claim_task(lease_s=30)) is not None:
            claimed.append((task.job_id, node.node))

    async with trio.open_nursery() as nursery:
        for node in nodes:
            nursery.start_soon(drain, node)
    assert sorted(job_id for job_id, _ in claimed) == sorted(job.id for job in jobs)


@pytest.mark.trio
async def test_racing_uploads_from_one_address_on_two_nodes(open_store: OpenStore) -> None:
    a = await fresh(open_store, "a")
    b = await fresh(open_store, "b")
    outcomes: list[str] = []

    async def try_accept(node: SqlJobStore) -> None:
        try:
            await node.accept_upload(new_job("10.0.0.7", 100))
            outcomes.append("accepted")
        except AddressBusy:
            outcomes.append("busy")

    for _ in range(5):
        outcomes.clear()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(try_accept, a)
            nursery.start_soon(try_accept, b)
        assert sorted(outcomes) == ["accepted", "busy"]
        for record in await a.active_jobs():
            await a.discard_upload(record.id)
    assert await a.quota() == (0, QUOTA)


@pytest.mark.trio
async def test_sqlite_keeps_jobs_across_a_reopen(tmp_path: Path) -> None:
    store = open_sqlite_store(tmp_path)
    await store.set_quota_limit(QUOTA)
    job = await queued(store)
    task = await store.claim_task(lease_s=30)
    assert task is not None
    await store.finish_job(task, result_of(job, 100))
    store.close()
    reopened = open_sqlite_store(tmp_path)
    record = await reopened.get(job.id)
    assert record is not None and record.state is JobState.DONE and record.result_size == 100
    assert await reopened.quota() == (100, QUOTA)
    reopened.close()


def test_clock_is_the_databases(tmp_path: Path) -> None:
    """Leases use the database's clock (nodes' clocks may differ): it reads as epoch s."""
    store = open_sqlite_store(tmp_path)
    with store.db.transaction() as cur:
        cur.execute(f"SELECT {store.db.now}")
        assert abs(cur.fetchone()[0] - time.time()) < 5
    store.close()


@pytest.mark.trio
async def test_an_upload_holds_what_arrived_and_must_fit_whole(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    job = new_job("10.0.0.1", 8000)
    await store.accept_upload(job, held=1000)  # 8000 fit; 1000 held while it arrives
    assert await store.quota() == (1000, QUOTA)
    await store.grow_upload(job.id, 3000)
    assert await store.quota() == (3000, QUOTA)
    # Another upload that fits only because the first holds a part of its size...
    second = new_job("10.0.0.2", 6000)
    await store.accept_upload(second, held=6000)
    # ...then the first cannot grow past the store: it must stop.
    with pytest.raises(QuotaFull):
        await store.grow_upload(job.id, 8000)
    await store.discard_upload(job.id)
    await store.upload_stored(second.id)
    assert await store.quota() == (6000, QUOTA)
    # An upload that cannot fit whole is refused whatever it would hold at first.
    with pytest.raises(QuotaFull):
        await store.accept_upload(new_job("10.0.0.3", 4001), held=10)


@pytest.mark.trio
async def test_an_address_holds_at_most_its_share(open_store: OpenStore) -> None:
    store = open_store("a")
    await store.set_quota_limit(QUOTA, per_address_bytes=3000)
    job = await queued(store, "10.0.0.1", 2000)
    task = await store.claim_task(lease_s=30)
    assert task is not None
    with pytest.raises(QuotaFull) as full:
        await store.reserve_result(task, 1500)  # 2000 + 1500 > the address's 3000
    assert (full.value.address, full.value.free) == ("10.0.0.1", 1000)
    await store.finish_job(task, result_of(job, 2500))
    with pytest.raises(QuotaFull):  # its undownloaded result counts against it
        await store.accept_upload(new_job("10.0.0.1", 1000))
    await store.accept_upload(new_job("10.0.0.2", 3000))  # another address has its own


@pytest.mark.trio
async def test_queue_and_network_caps(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    caps = AdmissionCaps(max_queued_jobs=3, max_jobs_per_network=2)

    def from_net(ip: str) -> NewJob:
        return dataclasses.replace(new_job(ip, 10), network=ip.rsplit(".", 1)[0] + ".0/24")

    await store.accept_upload(from_net("10.0.0.1"), caps=caps)
    await store.accept_upload(from_net("10.0.0.2"), caps=caps)
    with pytest.raises(NetworkBusy) as busy:
        await store.accept_upload(from_net("10.0.0.3"), caps=caps)
    assert (busy.value.network, busy.value.active) == ("10.0.0.0/24", 2)
    await store.accept_upload(from_net("10.0.9.1"), caps=caps)
    with pytest.raises(QueueFull):
        await store.accept_upload(from_net("10.0.8.1"), caps=caps)


@pytest.mark.trio
async def test_raw_uploads_share_the_quota_and_the_address_share(open_store: OpenStore) -> None:
    store = open_store("a")
    await store.set_quota_limit(QUOTA, per_address_bytes=5000)
    await store.accept_raw("raw/one.mp4", "10.0.0.1", 4000, held=1000)
    assert await store.quota() == (1000, QUOTA)
    await store.grow_raw("raw/one.mp4", 3000)
    await store.raw_stored("raw/one.mp4")
    assert await store.quota() == (4000, QUOTA)
    # The raw file counts in its address's share: a job of 2000 more does not fit.
    with pytest.raises(QuotaFull) as full:
        await store.accept_upload(new_job("10.0.0.1", 2000))
    assert full.value.address == "10.0.0.1"
    # A raw upload cut short gives back what it held.
    await store.accept_raw("raw/two.mp4", "10.0.0.2", 3000, held=3000)
    await store.discard_raw("raw/two.mp4")
    assert await store.quota() == (4000, QUOTA)
    assert "raw/one.mp4" in (await store.owned_keys()).keys
    assert await store.expire_raw(retention_s=3600) == []
    await trio.sleep(0.05)
    assert await store.expire_raw(retention_s=0.01) == ["raw/one.mp4"]
    assert await store.quota() == (0, QUOTA)


@pytest.mark.trio
async def test_a_returned_task_runs_again_without_counting(open_store: OpenStore) -> None:
    a = await fresh(open_store, "a")
    b = await fresh(open_store, "b")
    job = await queued(a)
    task = await a.claim_task(lease_s=30)
    assert task is not None
    await a.reserve_result(task, 700)
    await a.return_task(task)  # a stops cleanly
    record = await a.get(job.id)
    assert record is not None and record.state is JobState.QUEUED
    assert await a.quota() == (1000, QUOTA)
    again = await b.claim_task(lease_s=30)
    assert again is not None and again.job_id == job.id and again.attempt == 1


@pytest.mark.trio
async def test_an_imported_job_is_held_and_owned(open_store: OpenStore) -> None:
    store = await fresh(open_store)
    job = await queued(store)
    task = await store.claim_task(lease_s=30)
    assert task is not None
    await store.finish_job(task, result_of(job, 400))
    record = await store.get(job.id)
    assert record is not None
    copy = dataclasses.replace(record, id="f" * 32, result_key="results/old.mp4")
    other = open_store("b")
    assert await other.import_job(copy)
    assert not await other.import_job(copy)  # once
    assert await store.quota() == (800, QUOTA)
    owned = await store.owned_keys()
    assert {"results/old.mp4", f"results/{job.id}-1.mp4"} <= owned.keys
    assert job.input_key not in owned.keys  # done: its input is no longer needed
    counts = await store.job_counts()
    assert counts[("compress", "done")] == 2
