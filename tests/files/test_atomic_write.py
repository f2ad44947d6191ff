"""One atomic write for every file: whole or absent, never replaced when told, locked edits."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from app.client.known_servers import KnownServers
from app.files.atomic_write import AtomicFile, atomic_write, locked, sweep_partials


def test_a_file_appears_only_on_commit_and_nothing_stays_otherwise(tmp_path: Path) -> None:
    final = tmp_path / "result.mp4"
    with AtomicFile(tmp_path, hash_it=True) as partial:
        partial.write(b"half")
        assert list(tmp_path.iterdir()) == [partial.path]  # hidden temp name only
        assert partial.path.name.startswith(".") and partial.path.name.endswith(".part")
    assert list(tmp_path.iterdir()) == []  # left without a commit: deleted
    with AtomicFile(tmp_path, hash_it=True) as partial:
        partial.write_batch([b"who", b"le"])
        assert partial.commit_now(final)
    assert final.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [final]


def test_replace_false_keeps_the_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    assert atomic_write(path, b"first", replace=False)
    assert not atomic_write(path, b"second", replace=False)
    assert path.read_bytes() == b"first"
    assert atomic_write(path, b"third")
    assert path.read_bytes() == b"third"
    assert list(tmp_path.iterdir()) == [path]


def test_modes_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "shared", b"x", mode=0o666)
        atomic_write(tmp_path / "secret", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_a_sweep_removes_what_a_crash_left(tmp_path: Path) -> None:
    leftover = AtomicFile(tmp_path)
    os.close(leftover.fd or -1)  # as if the process died here
    (tmp_path / "kept.mp4").write_bytes(b"x")
    assert sweep_partials(tmp_path) == [leftover.path]
    assert [p.name for p in tmp_path.iterdir()] == ["kept.mp4"]


def _pin_many(path: str, worker: int) -> None:
    servers = KnownServers(Path(path))
    for i in range(20):
        servers.replace(f"host{worker}-{i}:9000", "SHA256:" + "A" * 43)


@pytest.mark.timeout(60)
def test_concurrent_edits_of_one_file_all_survive(tmp_path: Path) -> None:
    path = tmp_path / "known_servers"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_pin_many, args=(str(path), w)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(50)
        assert process.exitcode == 0
    assert len(KnownServers(path).entries()) == 80


def test_the_lock_is_exclusive_within_a_process_too(tmp_path: Path) -> None:
    import fcntl

    target = tmp_path / "authorized_keys"
    with locked(target):
        fd = os.open(target.with_name(target.name + ".lock"), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
