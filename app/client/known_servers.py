"""Server keys pinned on first use, in a file like SSH's known_hosts (SPEC §6).

One line per server, `HOST:PORT SHA256:...`; `#` starts a comment. A first connection
appends a line; a later one must present the same key or it is refused
(ServerKeyChanged). `vcs keys` lists, forgets and accepts entries.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from app.client.errors import ServerKeyChanged
from app.protocol.secure import fingerprint

FINGERPRINT_RE: Final = re.compile(r"SHA256:[A-Za-z0-9+/]{43}", re.ASCII)
_HEADER: Final = "# vcs known servers: HOST:PORT FINGERPRINT, pinned on first use (`vcs keys`)\n"


class KnownServers:
    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[tuple[str, str]]:
        """(address, fingerprint) pairs in file order; lines that do not parse are skipped."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        found: list[tuple[str, str]] = []
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) == 2 and FINGERPRINT_RE.fullmatch(fields[1]):
                found.append((fields[0], fields[1]))
        return found

    def lookup(self, address: str) -> str | None:
        for known, pinned in self.entries():
            if known == address:
                return pinned
        return None

    def check(self, address: str, key: rsa.RSAPublicKey) -> bool:
        """Pass a pinned key, pin a new server's key (returns True), refuse a changed one."""
        presented = fingerprint(key)
        pinned = self.lookup(address)
        if pinned is None:
            self._append(address, presented)
            return True
        if pinned != presented:
            raise ServerKeyChanged(address, pinned, presented, str(self.path))
        return False

    def _append(self, address: str, pinned: str) -> None:
        # One short append is atomic: two clients pinning at once both keep their line.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size == 0:
                os.write(fd, _HEADER.encode())
            os.write(fd, f"{address} {pinned}\n".encode())
        finally:
            os.close(fd)

    def replace(self, address: str, pinned: str | None) -> int:
        """Drop the address's lines, then pin `pinned` if given; returns lines dropped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        except FileNotFoundError:
            lines = [_HEADER]
        kept = [
            line if line.endswith("\n") else line + "\n"
            for line in lines
            if line.split("#", 1)[0].split()[:1] != [address]
        ]
        if pinned is not None:
            kept.append(f"{address} {pinned}\n")
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=self.path.parent, prefix=".known-", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.writelines(kept)
            os.replace(temp_name, self.path)
        except BaseException:
            os.unlink(temp_name)
            raise
        return len(lines) - len(kept) + (pinned is not None)
