"""Quitting cancels network work cleanly: trio's cleanup runs before the app returns."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.errors import ServerError
from app.protocol import ErrorCode
from app.tui.app import VcsTui
from app.tui.jobs import Step
from tests.server_process import ServerProcess
from tests.tamper_proxy import TamperProxy, running_in_thread, stall_after
from tests.tui.pilot_steps import only_job, open_form, wait_until

# Client → server units of an encrypted upload: key_exchange, key_exchange_finish, then
# the request's head in one sealed record.
HEAD_UNIT = 2


def upload_when_the_ip_is_free(address: ServerAddress, path: Path, timeout_s: float) -> str:
    """Upload `path`; while the server still counts an earlier upload from this IP
    (job_limit), try again. Returns the job id."""

    async def attempt() -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                accepted = await VcsClient(address).upload("compress", path)
                return str(accepted["job_id"])
            except ServerError as exc:
                if exc.code is not ErrorCode.JOB_LIMIT or time.monotonic() > deadline:
                    raise
            await trio.sleep(0.2)

    return trio.run(attempt)


@pytest.mark.parametrize("key", ["q", "x"], ids=["quit", "cancel-key"])
@pytest.mark.asyncio
async def test_stopping_mid_upload_leaves_nothing_on_the_server(
    server: ServerProcess, videos: Path, key: str
) -> None:
    """`q` quits the app, `x` on the job's row cancels just the upload."""
    big = videos / "big.mp4"
    with big.open("wb") as f:
        f.truncate(64 << 20)  # sparse: far more than the socket buffers hold
    # Between the TUI and the server, a proxy passes the key exchange (SPEC §6) and the
    # request's head, then stops reading: the kernel buffers a few MB and the upload
    # stalls half-way, deterministically, while the server holds the partial file.
    proxy = TamperProxy((server.host, server.port), stall_after(HEAD_UNIT))
    with running_in_thread(proxy) as port:
        app = VcsTui(ServerAddress("127.0.0.1", port), folder=videos)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_form(pilot, "big.mp4")
            await pilot.press("ctrl+s")
            job = only_job(pilot)
            await wait_until(
                pilot,
                lambda: (
                    job.step is Step.UPLOADING
                    and job.transfer is not None
                    and job.transfer.done_bytes > 0
                ),
                "the upload to start",
            )
            await wait_until(pilot, lambda: len(server.files()) == 1, "the partial file")
            assert job.transfer is not None and job.transfer.fraction < 1
            assert app.focused is app.main.jobs  # the form hands the focus to the table
            await pilot.press(key)
            if key == "x":
                row = app.main.jobs.get_row
                await wait_until(pilot, lambda: str(row(job.key)[2]) == "cancelled", "the row")
                assert not app.main.transfers.has_class("-busy")
    assert job.step is Step.CANCELLED
    assert not app.guest.running
    # The server sees the connection end mid-payload, drops the partial file and frees
    # this IP's job slot: a new upload is accepted (an abandoned connection would hold
    # the slot until the idle timeout, 60 s).
    upload_when_the_ip_is_free(server.address, videos / "clip.mp4", timeout_s=20)
    # Only the new upload is left: a whole input under its job's id, no partial file.
    assert [(p.parent.name, p.name.startswith(".")) for p in server.files()] == [("uploads", False)]


@pytest.mark.asyncio
async def test_quitting_waits_for_shielded_cleanup_in_trio_tasks(home: Path) -> None:
    partial = home / ".result.mp4.part"

    async def transfer() -> None:
        partial.write_bytes(b"half a file")
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.05)  # cleanup that awaits, as closing a socket does
                partial.unlink()

    app = VcsTui(ServerAddress("127.0.0.1", 9), folder=home)
    async with app.run_test(size=(80, 24)) as pilot:
        app.guest.start_soon(transfer)
        await wait_until(pilot, partial.exists, "the task to start")
        await pilot.press("q")
    assert not partial.exists()
    assert not app.guest.running
