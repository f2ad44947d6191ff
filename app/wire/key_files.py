"""Private key files: created once with 0600 permissions, refused when others can read them.

Shared by the server (its key in the storage dir, or --key-file) and the client (its key
under $XDG_CONFIG_HOME/vcs/). See docs/security.md.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from app.files.atomic_write import atomic_write
from app.protocol.errors import ErrorCode, VcsError
from app.protocol.secure.keys import generate_private_key, private_key_from_pem, private_key_to_pem


class KeyFileError(VcsError):
    """A key file that cannot be used: unreadable, not a fitting RSA key, or exposed."""

    def __init__(self, path: Path, problem: str, solution: str) -> None:
        super().__init__(ErrorCode.BAD_KEY_FILE, f"The key file {path} {problem}.", solution)


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """Read a PEM private key that only its owner can read (as ssh insists too)."""
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyFileError(
            path, f"cannot be read ({exc.strerror})", "Check its owner and permissions."
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            path,
            f"can be read by other users (mode {stat.S_IMODE(mode):o})",
            f"Restrict it with `chmod 600 {path}`; if others may have copied it, delete it "
            "so that a new key is made (clients that pinned the old one must accept the new).",
        )
    try:
        return private_key_from_pem(data)
    except ValueError as exc:
        raise KeyFileError(
            path,
            f"does not hold a usable private key ({exc})",
            "Point to an unencrypted PEM RSA key of 3,072 to 8,192 bits, or move the file "
            "away so that a new key is made.",
        ) from None


def load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The key at `path`; on first use a new one, written atomically with mode 0600.

    Two processes creating it at once both end up with the same key: the file is
    linked into place only if no other appeared meanwhile (never replaced).
    """
    with contextlib.suppress(FileNotFoundError):
        return load_private_key(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(
            path, f"cannot be created ({exc.strerror})", "Check the directory's permissions."
        ) from None
    key = generate_private_key()
    # Linked into place, never replaced: a key lost to a crash or overwritten by a
    # concurrent first start would look like a changed key to every client.
    if not atomic_write(path, private_key_to_pem(key), mode=0o600, replace=False):
        return load_private_key(path)
    return key
