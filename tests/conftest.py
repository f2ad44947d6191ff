"""Shared fixtures: generated media (once per session) and real vcs-serve processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import settings

from app.protocol.secure.keys import generate_private_key
from app.wire.key_files import load_or_create_private_key
from tests.media_files import make_clip
from tests.server_process import ServerProcess

# Machines here are shared: hypothesis's per-example deadline would time the neighbours'
# load, not our code, and fail at random.
settings.register_profile("shared-machine", deadline=None)
settings.load_profile("shared-machine")


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_mp4(media: Path) -> Path:
    """4 s, 640x360, H.264 at high quality + AAC: compress makes it much smaller."""
    return make_clip(media / "clip.mp4")


@pytest.fixture(scope="session")
def slow_clip(media: Path) -> Path:
    """A clip whose compress job runs for a few seconds (for per-IP and cancel tests)."""
    return make_clip(media / "slow.mp4", seconds=20, size="1280x720", rate=30)


# RSA keys (SPEC §6): 3,072-bit generation costs about a second, so the session makes
# one client key and one server key and every test and server uses them.
@pytest.fixture(scope="session")
def server_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("server-key") / "server_key.pem"
    load_or_create_private_key(path)
    return path


@pytest.fixture(scope="session")
def server_key(server_key_file: Path) -> rsa.RSAPrivateKey:
    return load_or_create_private_key(server_key_file)


@pytest.fixture(scope="session")
def client_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture(scope="session", autouse=True)
def client_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every client of the session (CLI and TUI subprocesses too) uses one key file, made
    by the first that needs it; pins go to a session $XDG_CONFIG_HOME, never the user's."""
    base = tmp_path_factory.mktemp("client")
    path = base / "client_key.pem"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VCS_CLIENT_KEY", str(path))
        patch.setenv("XDG_CONFIG_HOME", str(base / "config"))
        yield path


# Small clips (320x240, 3 s) in the containers SPEC §1 users bring, with the codecs they
# usually hold there; the media ops tests run on these.
SMALL_CLIP_CODECS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mp4": (("-c:v", "libx264", "-preset", "ultrafast"), ("-c:a", "aac")),
    "mkv": (("-c:v", "libx264", "-preset", "ultrafast"), ("-c:a", "libopus")),
    "mov": (("-c:v", "mpeg4", "-q:v", "5"), ("-c:a", "pcm_s16le")),
    "webm": (
        ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"),
        ("-c:a", "libopus"),
    ),
    "avi": (("-c:v", "mpeg4", "-q:v", "5"), ("-c:a", "libmp3lame")),
}


@pytest.fixture(scope="session")
def small_clips(media: Path) -> dict[str, Path]:
    """`{"mp4": path, "mkv": ..., "mov": ..., "webm": ..., "avi": ...}`."""
    return {
        ext: make_clip(
            media / f"small.{ext}", seconds=3, size="320x240", video_args=v, audio_args=a
        )
        for ext, (v, a) in SMALL_CLIP_CODECS.items()
    }


@pytest.fixture(scope="session")
def silent_clip(media: Path) -> Path:
    """320x240, 3 s, no audio stream."""
    return make_clip(media / "silent.mp4", seconds=3, size="320x240", audio=False)


@pytest.fixture
def client_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh $XDG_CONFIG_HOME for this test: no pinned server (servers on reused ports
    must not meet another test's pins); the key is still the session's."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def start_server(
    tmp_path: Path, client_config: Path, server_key_file: Path
) -> Iterator[Callable[..., ServerProcess]]:
    """Start vcs-serve with extra flags; every server is stopped at the end of the test.

    Servers use the session's key (a later --key-file in `args` wins); clients in the
    test pin under a per-test $XDG_CONFIG_HOME."""
    started: list[ServerProcess] = []

    def start(*args: str, storage_dir: Path | None = None) -> ServerProcess:
        args = ("--key-file", str(server_key_file), *args)
        server = ServerProcess(storage_dir or tmp_path / f"storage{len(started)}", args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def ops_server(
    tmp_path_factory: pytest.TempPathFactory, server_key_file: Path
) -> Iterator[ServerProcess]:
    """One server per test module: its jobs run one after another, so the per-IP rule
    holds."""
    storage = tmp_path_factory.mktemp("ops-storage")
    server = ServerProcess(storage, ("--key-file", str(server_key_file))).start()
    yield server
    server.stop()


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()
