"""What only the PostgreSQL job store does: notifications between nodes, and riding out a
database restart (docs/scale.md)."""

from __future__ import annotations

import pytest
import trio

from app.server.stores.job_store import JobState, StoreUnavailable
from app.server.stores.postgres_jobs import PostgresDatabase, listen, open_postgres_store
from deploy.postgres import PostgresServer
from tests.server.stores.test_job_stores import QUOTA, queued, result_of


@pytest.mark.trio
async def test_changes_on_one_node_wake_waiters_on_another(postgres_dsn: str) -> None:
    a = open_postgres_store(postgres_dsn, "a")
    b = open_postgres_store(postgres_dsn, "b")
    await a.set_quota_limit(QUOTA)
    assert isinstance(b.db, PostgresDatabase)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen, b.db, b.board)
            await trio.sleep(0.5)  # LISTEN is in place
            with trio.fail_after(10):
                # An idle worker on b wakes when a queues work...
                async with trio.open_nursery() as wait:
                    wait.start_soon(b.board.wait_work)
                    await trio.sleep(0.1)
                    job = await queued(a)
                task = await a.claim_task(lease_s=30)
                assert task is not None
                # ...a long poll on b answers when a's job changes...
                async with trio.open_nursery() as wait:
                    wait.start_soon(b.board.wait_job, job.id)
                    await trio.sleep(0.1)
                    await a.finish_job(task, result_of(job, 10))
                # ...and a cancel made on a reaches b's board.
                other = await queued(a, "10.0.0.2")
                running = await b.claim_task(lease_s=30)
                assert running is not None and running.job_id == other.id
                with trio.CancelScope() as run:
                    b.board.running_here(other.id, run)
                    await a.cancel_job(other.id)
                    await trio.sleep_forever()
                assert run.cancelled_caught
            nursery.cancel_scope.cancel()
    finally:
        a.close()
        b.close()


@pytest.mark.trio
async def test_a_postgres_restart_loses_no_acknowledged_job(
    postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    store = open_postgres_store(postgres_dsn, "a")
    await store.set_quota_limit(QUOTA)
    job = await queued(store)
    try:
        postgres_server.stop()
        with pytest.raises(StoreUnavailable):
            await store.get(job.id)
        postgres_server.start()
        record = await store.get(job.id)  # the pool reconnected by itself
        assert record is not None and record.state is JobState.QUEUED
        task = await store.claim_task(lease_s=30)
        assert task is not None and task.job_id == job.id
    finally:
        if not postgres_server.accepts_connections():
            postgres_server.start()
        store.close()


@pytest.mark.trio
async def test_claims_racing_cancels_end_consistent(postgres_dsn: str) -> None:
    """A claim locks task then job, a cancel job then tasks: when they deadlock,
    PostgreSQL aborts one and the store runs it again; every job ends cancelled."""
    a = open_postgres_store(postgres_dsn, "a")
    b = open_postgres_store(postgres_dsn, "b")
    await a.set_quota_limit(QUOTA)
    try:
        jobs = [await queued(a, f"10.0.2.{i}", 10) for i in range(30)]

        async def claim_all() -> None:
            while await a.claim_task(lease_s=30) is not None:
                pass

        async def cancel_all() -> None:
            for job in jobs:
                await b.cancel_job(job.id)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(claim_all)
            nursery.start_soon(cancel_all)
        for job in jobs:
            record = await a.get(job.id)
            assert record is not None and record.state is JobState.CANCELLED
        assert await a.quota() == (0, QUOTA)
        assert await a.claim_task(lease_s=30) is None
    finally:
        a.close()
        b.close()
