"""Fields every request of a kind carries: `job_id`, `wait_s` (status), `sha256` and
`filename` (uploads), with the file-name rule both sides apply to a name from the peer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Final

from app.protocol.errors import ErrorCode, VcsError
from app.protocol.ops.fields import Field, is_json_number, shown

# `<node>-<32 hex>` behind a balancer (--node-id), else `<32 hex>`.
JOB_ID_RE: Final = re.compile(r"(?:([a-z0-9]{1,16})-)?([0-9a-f]{32})", re.ASCII)
MAX_STATUS_WAIT_S: Final = 60.0
# Bytes, not characters: file systems cap a name at 255 bytes, and a client adds " (12)".
MAX_FILENAME_BYTES: Final = 200
SHA256_RE: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)
# Characters no file name should carry on any system a result may be saved on.
_UNSAFE_CHARS: Final = frozenset('\\/:*?"<>|')


def job_not_found() -> VcsError:
    # The same answer for a malformed id, an unknown one and an expired one: a wrong
    # id reveals nothing about which ids exist.
    return VcsError(
        ErrorCode.JOB_NOT_FOUND,
        "No job with that id exists on this server.",
        "Check the id printed when you uploaded; results are kept for a limited time "
        "and are deleted once downloaded.",
    )


@dataclass(frozen=True, kw_only=True)
class JobId(Field):
    """A job id as the server hands them out; anything else is `job_not_found`, with the
    very answer an unknown id gets."""

    metavar: str = "JOB_ID"

    @property
    def range_text(self) -> str:
        return "32 hex digits, or NODE-32 hex digits behind a balancer"

    def match(self, value: object) -> re.Match[str]:
        found = JOB_ID_RE.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            raise job_not_found()
        return found

    def check(self, value: object) -> str:
        return self.match(value).group(0)

    def missing(self) -> VcsError:
        return job_not_found()


@dataclass(frozen=True, kw_only=True)
class WaitSeconds(Field):
    """How long a `status` may wait for news: any number, clamped to 0..`most_s`."""

    most_s: float
    metavar: str = "S"

    @property
    def range_text(self) -> str:
        return f"0..{self.most_s:g} (longer waits are cut to {self.most_s:g})"

    def check(self, value: object) -> float:
        if not is_json_number(value):
            raise self.refuse(
                "a number of seconds",
                f"'{self.name}' must be a number of seconds; got {shown(value)}.",
                f'Send e.g. "{self.name}": 30.',
            )
        assert isinstance(value, int | float)
        # Clamped before converting: a 4000-digit integer cannot become a float.
        return float(min(max(0, value), self.most_s))


@dataclass(frozen=True, kw_only=True)
class Sha256(Field):
    """The payload's SHA-256 in hex (any case), normalised to lower case."""

    metavar: str = "HEX"

    @property
    def range_text(self) -> str:
        return "64 hexadecimal digits"

    def check(self, value: object) -> str:
        if not isinstance(value, str) or not SHA256_RE.fullmatch(value.lower()):
            raise self.refuse(
                "64 hex digits",
                f"'{self.name}' must be 64 hexadecimal digits.",
                "Send the SHA-256 of the payload in hex, or leave the field out.",
            )
        return value.lower()


@dataclass(frozen=True, kw_only=True)
class FileName(Field):
    """A file name from the peer, only ever shown or used as a base name: never refused,
    reduced by `safe_base_name` (None when nothing usable is left)."""

    metavar: str = "NAME"

    @property
    def range_text(self) -> str:
        return "a base name; path parts, control characters and leading dots are dropped"

    def check(self, value: object) -> str | None:
        return safe_base_name(value)


def safe_base_name(raw: object) -> str | None:
    """`raw` as a harmless base name, or None: the last path part (either slash), without
    control, format or unprintable characters, characters Windows forbids, leading dots
    and spaces (no hidden files, no `..`), at most MAX_FILENAME_BYTES of UTF-8."""
    if not isinstance(raw, str):
        return None
    name = PureWindowsPath(PurePosixPath(raw).name).name
    name = "".join(
        ch
        for ch in name
        if ch.isprintable() and ch not in _UNSAFE_CHARS and unicodedata.category(ch)[0] != "C"
    )
    name = name.strip().lstrip(". ").rstrip(". ")
    if len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        keep = f"{dot}{ext}" if dot and 0 < len(ext.encode()) <= 16 else ""
        budget = MAX_FILENAME_BYTES - len(keep.encode())
        cut = (stem if keep else name).encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = cut.rstrip(". ") + keep
    return name or None
