"""Server keys pinned on first use, in a file like SSH's known_hosts (docs/security.md).

One line per server, `HOST:PORT SHA256:...`; `#` starts a comment. A first connection
adds a line; a later one must present the same key or it is refused
(ServerKeyChanged). `vcs keys` lists, forgets and accepts entries. Every change is a
locked read-modify-write, written back atomically (app/files/atomic_write.py): two
clients pinning at once both keep their line, and a crash never tears the file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from app.client.errors import ServerKeyChanged
from app.files.atomic_write import atomic_write, locked
from app.protocol.secure import fingerprint
from app.protocol.secure.keys import FINGERPRINT_RE

_HEADER: Final = "# vcs known servers: HOST:PORT FINGERPRINT, pinned on first use (`vcs keys`)\n"


class KnownServers:
    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[tuple[str, str]]:
        """(address, fingerprint) pairs in file order; lines that do not parse are skipped."""
        return _parse(self._lines())

    def lookup(self, address: str) -> str | None:
        return _lookup(self.entries(), address)

    def check(self, address: str, key: rsa.RSAPublicKey) -> bool:
        """Pass a pinned key, pin a new server's key (returns True), refuse a changed one."""
        presented = fingerprint(key)
        pinned = self.lookup(address)
        pinned_now = False
        if pinned is None:
            with self._editing() as lines:
                # Under the lock: another client may have pinned it since we looked.
                pinned = _lookup(_parse(lines), address)
                if pinned is None:
                    lines.append(f"{address} {presented}\n")
                    pinned, pinned_now = presented, True
        if pinned != presented:
            raise ServerKeyChanged(address, pinned, presented, str(self.path))
        return pinned_now

    def replace(self, address: str, pinned: str | None) -> int:
        """Drop the address's lines, then pin `pinned` if given; returns lines changed."""
        with self._editing() as lines:
            kept = [line for line in lines if line.split("#", 1)[0].split()[:1] != [address]]
            dropped = len(lines) - len(kept)
            if pinned is not None:
                kept.append(f"{address} {pinned}\n")
            lines[:] = kept
        return dropped + (pinned is not None)

    def _lines(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line if line.endswith("\n") else line + "\n" for line in text.splitlines()]

    @contextlib.contextmanager
    def _editing(self) -> Iterator[list[str]]:
        """The file's lines to change in place, under a lock; written back atomically."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with locked(self.path):
            lines = self._lines() or [_HEADER]
            yield lines
            atomic_write(self.path, "".join(lines).encode("utf-8"), mode=0o600)


def _parse(lines: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) == 2 and FINGERPRINT_RE.fullmatch(fields[1]):
            found.append((fields[0], fields[1]))
    return found


def _lookup(entries: list[tuple[str, str]], address: str) -> str | None:
    for known, pinned in entries:
        if known == address:
            return pinned
    return None
