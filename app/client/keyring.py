"""The client's keys: its own RSA key pair and the pinned server keys (docs/security.md).

Both live under `$XDG_CONFIG_HOME/vcs/` (default `~/.config/vcs/`): `client_key.pem`
(mode 0600, made on first use; `$VCS_CLIENT_KEY` names another file, like `ssh -i`)
and `known_servers`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from app.client.address import ServerAddress
from app.client.known_servers import KnownServers
from app.protocol.secure import fingerprint
from app.wire.key_files import load_or_create_private_key

CLIENT_KEY_NAME: Final = "client_key.pem"
CLIENT_KEY_ENV: Final = "VCS_CLIENT_KEY"
KNOWN_SERVERS_NAME: Final = "known_servers"

PinNotice = Callable[[str, str], None]
"""Told (address, fingerprint) when a server's key is pinned on first use."""


def default_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "vcs"


def server_name(address: ServerAddress) -> str:
    """How a server is named in known_servers: `host:port`, `[v6]:port`, host in lower case."""
    return str(ServerAddress(address.host.lower(), address.port))


class Keyring:
    def __init__(
        self, directory: Path, on_pin: PinNotice | None = None, key_path: Path | None = None
    ) -> None:
        self.directory = directory
        self.on_pin = on_pin
        self.key_path = key_path or directory / CLIENT_KEY_NAME
        self.known_servers = KnownServers(directory / KNOWN_SERVERS_NAME)
        self._key: rsa.RSAPrivateKey | None = None
        self._lock = threading.Lock()

    @classmethod
    def default(cls, on_pin: PinNotice | None = None) -> Keyring:
        key_file = os.environ.get(CLIENT_KEY_ENV)
        return cls(default_config_dir(), on_pin, Path(key_file).expanduser() if key_file else None)

    def client_key(self) -> rsa.RSAPrivateKey:
        """Our key pair, read once; made on first use (about a second: call from a thread)."""
        with self._lock:
            if self._key is None:
                self._key = load_or_create_private_key(self.key_path)
            return self._key

    def check_server(self, address: ServerAddress, key: rsa.RSAPublicKey) -> None:
        """Trust on first use: pin a new server, pass a known key, refuse a changed one."""
        name = server_name(address)
        if self.known_servers.check(name, key) and self.on_pin is not None:
            self.on_pin(name, fingerprint(key))
