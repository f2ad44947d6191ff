"""Who may use this server: the `--authorized-keys` file, like SSH's (docs/security.md).

One client key per line, then an optional name and optional per-key limits:

    # KEY [NAME] [quota=SIZE] [jobs=N]
    SHA256:x6Yo...  alice  quota=50GB jobs=2
    MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA...  build-bot

KEY is a fingerprint as `vcs keys` prints it, or the public key itself (one line of
base64 DER). `quota` caps the bytes this key's jobs hold on the server (inputs and
results), `jobs` the jobs it has uploading, queued or running at once. `#` starts a
comment. The server reads the file at start (a malformed file stops it) and again
whenever it changes, so `vcs-serve keys add` takes effect at the next connection; a
file broken while running is logged and the last good version stays in force. Edits
(`vcs-serve keys add|remove`) are locked and atomic (app/files/atomic_write.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.files.atomic_write import atomic_write, locked
from app.protocol.secure.keys import FINGERPRINT_RE, fingerprint, public_key_from_text
from app.server.units import format_bytes, parse_size

log = logging.getLogger(__name__)

HEADER: Final = (
    "# vcs-serve authorized keys: KEY [NAME] [quota=SIZE] [jobs=N]  (`vcs-serve keys --help`)\n"
)
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")
MAX_NAME: Final = 64


class AuthorizedKeysError(ValueError):
    """A line of the file that cannot be read; says which and why."""


@dataclass(frozen=True, slots=True)
class AuthorizedKey:
    fingerprint: str
    name: str = ""
    quota_bytes: int | None = None  # bytes its jobs may hold; None: only the server's quota
    max_jobs: int | None = None  # jobs at once; None: only the per-address rule

    @property
    def label(self) -> str:
        return f"{self.name} ({self.fingerprint})" if self.name else self.fingerprint

    def to_line(self) -> str:
        fields = [self.fingerprint]
        if self.name:
            fields.append(self.name)
        if self.quota_bytes is not None:
            fields.append(f"quota={self.quota_bytes}")
        if self.max_jobs is not None:
            fields.append(f"jobs={self.max_jobs}")
        return "  ".join(fields) + "\n"

    def describe(self) -> str:
        limits = []
        if self.quota_bytes is not None:
            limits.append(f"quota {format_bytes(self.quota_bytes)}")
        if self.max_jobs is not None:
            limits.append(f"{self.max_jobs} job(s) at once")
        return f"{self.fingerprint}  {self.name or '-'}  {', '.join(limits) or 'no own limits'}"


def check_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or not set(name) <= _NAME_CHARS or "=" in name:
        raise ValueError(f"a name is 1-{MAX_NAME} of letters, digits and . _ @ - (got {name!r})")
    return name


def key_fingerprint(text: str) -> str:
    """A fingerprint as written, or the fingerprint of a base64 DER public key."""
    if text.startswith("SHA256:"):
        if not FINGERPRINT_RE.fullmatch(text):
            raise ValueError(f"{text!r} is not a fingerprint (SHA256: and 43 base64 characters)")
        return text
    return fingerprint(public_key_from_text(text))


def parse_line(line: str) -> AuthorizedKey | None:
    """One line of the file (None for a blank or comment line); ValueError if malformed."""
    fields = line.split("#", 1)[0].split()
    if not fields:
        return None
    key, name, quota, jobs = key_fingerprint(fields[0]), "", None, None
    for field in fields[1:]:
        option, sep, value = field.partition("=")
        if not sep:
            if name:
                raise ValueError(f"two names ({name!r}, {field!r}); a name has no spaces")
            name = check_name(field)
        elif option == "quota":
            quota = parse_size(value)
        elif option == "jobs" and value.isdigit() and int(value) >= 1:
            jobs = int(value)
        else:
            raise ValueError(f"unknown option {field!r} (quota=SIZE, jobs=N with N ≥ 1)")
    return AuthorizedKey(key, name, quota, jobs)


def parse(text: str, where: str) -> list[AuthorizedKey]:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = parse_line(line)
        except ValueError as exc:
            raise AuthorizedKeysError(f"{where}, line {number}: {exc}") from None
        if entry is not None:
            entries.append(entry)
    return entries


class AuthorizedKeys:
    """The file's entries by fingerprint, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._by_fingerprint: dict[str, AuthorizedKey] = {}

    def load(self) -> None:
        """Read the file now; AuthorizedKeysError or OSError when it cannot be used."""
        stamp = self._current_stamp()
        entries = parse(self.path.read_text(encoding="utf-8"), str(self.path))
        self._by_fingerprint = {entry.fingerprint: entry for entry in entries}
        self._stamp = stamp

    def __len__(self) -> int:
        return len(self._by_fingerprint)

    def entries_now(self) -> list[AuthorizedKey]:
        """The entries as the file says them now (read on each call)."""
        self._reload_if_changed()
        return list(self._by_fingerprint.values())

    def lookup(self, key_fingerprint: str) -> AuthorizedKey | None:
        self._reload_if_changed()
        return self._by_fingerprint.get(key_fingerprint)

    def _current_stamp(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload_if_changed(self) -> None:
        try:
            if self._current_stamp() == self._stamp:
                return
            self.load()
        except (OSError, AuthorizedKeysError) as exc:
            log.error("authorized keys not reloaded, the previous ones stay in force: %s", exc)
        else:
            log.info("authorized keys reloaded from %s: %d key(s)", self.path, len(self))


@contextlib.contextmanager
def editing(path: Path) -> Iterator[list[str]]:
    """The file's lines, to change in place under a lock; written back atomically (and
    refused whole if the result does not parse)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        try:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        except FileNotFoundError:
            lines = [HEADER]
        lines = [line if line.endswith("\n") else line + "\n" for line in lines]
        yield lines
        parse("".join(lines), str(path))
        atomic_write(path, "".join(lines).encode("utf-8"), mode=0o644)


def add(path: Path, entry: AuthorizedKey) -> bool:
    """Add `entry`, or update the line of its key; returns True when the key is new."""
    with editing(path) as lines:
        for other in _entries(lines):
            if entry.name and other.name == entry.name and other.fingerprint != entry.fingerprint:
                raise ValueError(f"the name {entry.name!r} is already used by {other.fingerprint}")
        kept = [line for line in lines if _fingerprint_of(line) != entry.fingerprint]
        new = len(kept) == len(lines)
        lines[:] = [*kept, entry.to_line()]
    return new


def remove(path: Path, key_or_name: str) -> list[AuthorizedKey]:
    """Drop the lines of a key (by fingerprint, public key or name); returns what went."""
    target = key_or_name
    with contextlib.suppress(ValueError):
        target = key_fingerprint(key_or_name)
    with editing(path) as lines:
        gone = [e for e in _entries(lines) if target in (e.fingerprint, e.name)]
        lines[:] = [
            line
            for line in lines
            if (entry := _safe_parse(line)) is None or target not in (entry.fingerprint, entry.name)
        ]
    return gone


def read_entries(path: Path) -> list[AuthorizedKey]:
    return parse(path.read_text(encoding="utf-8"), str(path))


def _entries(lines: list[str]) -> list[AuthorizedKey]:
    return [entry for line in lines if (entry := _safe_parse(line)) is not None]


def _safe_parse(line: str) -> AuthorizedKey | None:
    try:
        return parse_line(line)
    except ValueError:
        return None


def _fingerprint_of(line: str) -> str | None:
    entry = _safe_parse(line)
    return entry.fingerprint if entry is not None else None
