"""FFmpeg in its box: only its own files, no network, its limits, and killable.

Each confinement test has a control: the same FFmpeg command outside the box does what
the box stops, so the test fails if the box stops confining.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import trio

from app.media.argv import OutputSpec, convert_argv
from app.media.capabilities import muxer_details_of
from app.media.containers import rule_for
from app.media.demuxers import check_input_args, own_input_args, upload_input_args
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.limits import DEFAULT_LIMITS, MiB, RunLimits
from app.media.probe import probe_media
from app.media.runner import Box, StderrWatch, run_failure, run_ffmpeg
from app.media.sandbox import BOX_USER, boxed, ffmpeg_confinement
from app.protocol.errors import ErrorCode, VcsError
from app.server.ops.convert import plan_convert
from tests.media_files import make_clip, probe
from tests.server_process import wait_for
from tests.support.hostile_media import Secret, hls_vod

QUIET = ("-nostdin", "-hide_banner", "-y", "-loglevel", "error")
LIMITS = DEFAULT_LIMITS.for_ffmpeg(None, 64 * MiB)


def require_bwrap() -> None:
    confinement = ffmpeg_confinement(find_ffmpeg())
    if confinement.bwrap is None:
        pytest.skip(f"bubblewrap (bwrap) is not usable here: {confinement.why_not_bwrap}")


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Secret:
    return Secret.make(tmp_path_factory.mktemp("elsewhere"))


@pytest.fixture(scope="module")
def upload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A neutral name, as the server stores uploads: FFmpeg probes the content.
    path = tmp_path_factory.mktemp("job") / "upload"
    return make_clip(path, seconds=1, size="160x120", extra=("-f", "mp4"))


def unboxed(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=120, check=False)


@pytest.mark.trio
async def test_a_second_input_outside_the_job_cannot_be_opened(
    upload: Path, secret: Secret, tmp_path: Path
) -> None:
    require_bwrap()
    out = tmp_path / "out.mkv"
    argv = [find_ffmpeg(), *QUIET, *upload_input_args(), "-i", str(upload)]
    argv += [*upload_input_args(), "-i", str(secret.path), "-map", "1:v", "-c", "copy", str(out)]
    assert unboxed(argv).returncode == 0 and out.stat().st_size > 0  # control
    out.unlink()
    with pytest.raises(VcsError) as caught:
        await run_ffmpeg(argv, 1.0, box=Box((upload,), (out,), LIMITS))
    assert caught.value.code is ErrorCode.FFMPEG_FAILED
    assert "No such file" in caught.value.info.description
    assert out.stat().st_size == 0


@pytest.mark.trio
async def test_a_movie_filter_cannot_read_outside_the_box(secret: Secret, tmp_path: Path) -> None:
    require_bwrap()
    out = tmp_path / "out.nut"
    for target in (str(secret.path), "/etc/passwd"):
        graph = f"movie={target}"
        argv = [find_ffmpeg(), *QUIET, *own_input_args("lavfi"), "-i", graph, "-f", "nut", str(out)]
        if target != "/etc/passwd":
            assert unboxed(argv).returncode == 0 and out.stat().st_size > 0  # control
            out.unlink()
        with pytest.raises(VcsError) as caught:
            await run_ffmpeg(argv, 1.0, box=Box((), (out,), LIMITS))
        assert "No such file" in caught.value.info.description, caught.value.info
        assert out.stat().st_size == 0


@pytest.mark.trio
async def test_the_box_has_no_network(tmp_path: Path) -> None:
    require_bwrap()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        argv = [find_ffmpeg(), *QUIET, *own_input_args("lavfi"), "-i", "testsrc2=d=1"]
        argv += ["-f", "mpegts", f"tcp://127.0.0.1:{port}"]
        with pytest.raises(VcsError) as caught:
            await run_ffmpeg(argv, 1.0, box=Box((), (), LIMITS))
        assert "refused" in caught.value.info.description.lower()
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
        control = await trio.lowlevel.open_process(argv, stderr=subprocess.DEVNULL)
        try:
            with trio.fail_after(60):
                while not _accepts(listener):  # noqa: ASYNC110 (another process connects)
                    await trio.sleep(0.05)
        finally:
            control.kill()
            await control.wait()


def _accepts(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def test_as_root_the_box_runs_as_nobody_and_gives_the_files_back(tmp_path: Path) -> None:
    require_bwrap()
    if os.geteuid() != 0:
        pytest.skip("the box changes user only when the server runs as root")
    confinement = ffmpeg_confinement(find_ffmpeg())
    mine = tmp_path / "input"
    mine.write_bytes(b"x")
    mine.chmod(0o600)
    command = ["/usr/bin/id", "-u"]
    with boxed(
        confinement,
        command,
        programs=(Path("/usr/bin/id"),),
        reads=(mine,),
        writes=(),
        limits=LIMITS,
    ) as launch:
        assert mine.stat().st_uid == BOX_USER[0]  # readable by the box's user, 0600 or not
        done = subprocess.run(
            launch.argv, pass_fds=launch.pass_fds, env=launch.env, capture_output=True, check=True
        )
    assert done.stdout.strip() == str(BOX_USER[0]).encode()
    assert (mine.stat().st_uid, mine.stat().st_gid) == (0, 0)


@pytest.mark.trio
async def test_an_output_past_its_cap_is_stopped_by_the_kernel(tmp_path: Path) -> None:
    out = tmp_path / "big.nut"
    cap = 2 * MiB
    # No -fs: only RLIMIT_FSIZE stops this one (~46 MB of raw frames).
    argv = [find_ffmpeg(), *QUIET, *own_input_args("lavfi"), "-i", "testsrc2=s=640x480:d=2"]
    argv += ["-c:v", "rawvideo", "-f", "nut", str(out)]
    limits = RunLimits(LIMITS.memory_bytes, cap, LIMITS.cpu_s, LIMITS.processes)
    with pytest.raises(VcsError) as caught:
        await run_ffmpeg(argv, 2.0, box=Box((), (out,), limits))
    assert caught.value.code is ErrorCode.RESULT_TOO_LARGE
    assert out.stat().st_size <= cap


@pytest.mark.trio
async def test_an_ffmpeg_past_its_memory_is_stopped(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    argv = [find_ffmpeg(), *QUIET, *own_input_args("lavfi"), "-i", "color=s=7680x4320:d=1"]
    argv += ["-c:v", "libx264", "-preset", "medium", "-f", "mp4", str(out)]
    assert unboxed(argv).returncode == 0  # control: with memory enough, it encodes
    limits = RunLimits(400 * MiB, LIMITS.file_bytes, LIMITS.cpu_s, LIMITS.processes)
    with pytest.raises(VcsError) as caught:
        await run_ffmpeg(argv, 1.0, box=Box((), (out,), limits))
    # x264 says "malloc of size N failed" most of the time; when the failed allocation
    # is one it does not report, FFmpeg's own error is all there is.
    assert caught.value.code in (ErrorCode.MEDIA_TOO_LARGE, ErrorCode.FFMPEG_FAILED)
    assert out.stat().st_size == 0


def test_an_allocation_failure_anywhere_in_stderr_is_reported_as_memory() -> None:
    watch = StderrWatch()
    watch.line("x264 [error]: malloc of size 85657917 failed")
    for n in range(100):  # every thread says goodbye: the first line scrolls out
        watch.line(f"[vost#0:0/libx264 @ 0x{n:x}] Terminating thread with return code -22")
    limits = RunLimits(400 * MiB, LIMITS.file_bytes, LIMITS.cpu_s, LIMITS.processes)
    error = run_failure(187, watch, Box((), (), limits), ffmpeg_confinement(find_ffmpeg()))
    assert error.code is ErrorCode.MEDIA_TOO_LARGE
    assert "400 MiB" in error.info.description


@pytest.mark.trio
async def test_cancelling_a_boxed_run_leaves_no_ffmpeg(tmp_path: Path) -> None:
    out = tmp_path / "endless.nut"
    marker = f"vcs-cancel-{os.getpid()}-{tmp_path.name}"
    argv = [find_ffmpeg(), *QUIET, "-progress", "pipe:1", "-nostats"]
    argv += [*own_input_args("lavfi"), "-i", "testsrc2=s=64x64", "-metadata", f"title={marker}"]
    argv += ["-f", "nut", str(out)]
    started = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run() -> None:
            await run_ffmpeg(argv, 3600.0, lambda p: started.set(), box=Box((), (out,), LIMITS))

        nursery.start_soon(run)
        with trio.fail_after(120):
            await started.wait()
        assert _running(marker)
        nursery.cancel_scope.cancel()
    assert wait_for(lambda: not _running(marker), timeout_s=30)


def _running(marker: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


@pytest.mark.trio
async def test_ffmpeg_refuses_a_playlist_even_without_the_probe(
    secret: Secret, tmp_path: Path
) -> None:
    """The probe refuses playlists first; FFmpeg's own allowlist refuses them too."""
    playlist = tmp_path / "upload.m3u8"  # the extension HLS wants: the worst case
    playlist.write_bytes(hls_vod(secret.path))
    out = tmp_path / "out.mkv"
    control = [find_ffmpeg(), *QUIET, "-i", str(playlist), "-c", "copy", str(out)]
    assert unboxed(control).returncode == 0
    assert probe(out)["width"] == 160  # the attack works on a bare FFmpeg
    out.unlink()
    info = probe_media(secret.path)  # what a probe lied into accepting would describe
    rule = rule_for(muxer_details_of(find_ffmpeg(), "matroska"))
    plan, treatment = plan_convert(info, rule, "matroska")
    argv = convert_argv(find_ffmpeg(), playlist, OutputSpec(out, "matroska"), plan, rule, treatment)
    check_input_args(argv)
    with pytest.raises(VcsError) as caught:
        await run_ffmpeg(argv, 2.0, box=Box((playlist,), (out,), LIMITS))
    assert caught.value.code is ErrorCode.FORMAT_NOT_ALLOWED
    assert out.stat().st_size == 0


def test_an_input_without_the_allowlist_is_a_bug_caught_before_ffmpeg() -> None:
    with pytest.raises(AssertionError, match="-format_whitelist"):
        check_input_args(["ffmpeg", "-i", "/x/upload", "out.mkv"])
    with pytest.raises(AssertionError, match="protocols"):
        check_input_args(["ffmpeg", "-format_whitelist", "mov", "-i", "/x/upload", "o.mkv"])
    # Options of the first input do not cover the second.
    first = [*upload_input_args(), "-i", "/x/a"]
    with pytest.raises(AssertionError):
        check_input_args(["ffmpeg", *first, "-i", "/x/b", "out.mkv"])
    check_input_args(["ffmpeg", *first, *own_input_args("nut"), "-i", "/x/b", "out.mkv"])


def test_a_file_read_twice_in_one_run_gets_its_owner_back(tmp_path: Path) -> None:
    require_bwrap()
    if os.geteuid() != 0:
        pytest.skip("the box changes owners only when the server runs as root")
    clip = tmp_path / "clip"
    clip.write_bytes(b"x")
    confinement = ffmpeg_confinement(find_ffmpeg())
    with boxed(confinement, ["true"], programs=(), reads=(clip, clip), writes=(), limits=LIMITS):
        assert clip.stat().st_uid == BOX_USER[0]
    assert clip.stat().st_uid == 0
