"""Shared fixtures: generated media (once per session) and real vcs-serve processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.protocol.secure.keys import generate_private_key, private_key_to_pem
from app.wire.key_files import load_or_create_private_key
from tests.media_files import make_clip
from tests.server_process import ServerProcess


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


@pytest.fixture
def client_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_key: rsa.RSAPrivateKey
) -> Path:
    """A fresh $XDG_CONFIG_HOME for this test: the session's client key, no pinned server
    (servers on reused ports must not meet another test's pins)."""
    home = tmp_path / "config"
    (home / "vcs").mkdir(parents=True, mode=0o700)
    fd = os.open(home / "vcs" / "client_key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_to_pem(client_key))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def start_server(
    tmp_path: Path, client_config: Path, server_key_file: Path
) -> Iterator[Callable[..., ServerProcess]]:
    """Start vcs-serve with extra flags; every server is stopped at the end of the test.

    Servers use the session's key (a later --key-file in `args` wins), and clients in the
    test the session's client key under a per-test $XDG_CONFIG_HOME."""
    started: list[ServerProcess] = []

    def start(*args: str, storage_dir: Path | None = None) -> ServerProcess:
        args = ("--key-file", str(server_key_file), *args)
        server = ServerProcess(storage_dir or tmp_path / f"storage{len(started)}", args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()
