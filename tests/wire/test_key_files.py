"""Private key files: made once with mode 0600, refused when exposed or unusable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.protocol import ErrorCode
from app.protocol.secure import fingerprint
from app.protocol.secure.keys import private_key_to_pem
from app.wire.key_files import KeyFileError, load_or_create_private_key, load_private_key


def test_a_key_is_made_on_first_use_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "key.pem"
    made = load_or_create_private_key(path)
    assert made.key_size >= 3072
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert fingerprint(load_or_create_private_key(path).public_key()) == fingerprint(
        made.public_key()
    )
    assert [p.name for p in path.parent.iterdir()] == ["key.pem"]  # no temp file left


def write_key(path: Path, data: bytes, mode: int) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_key_others_can_read_is_refused(tmp_path, client_key, mode: int) -> None:
    path = write_key(tmp_path / "key.pem", private_key_to_pem(client_key), mode)
    with pytest.raises(KeyFileError) as refused:
        load_private_key(path)
    assert refused.value.code is ErrorCode.BAD_KEY_FILE
    assert f"chmod 600 {path}" in refused.value.info.solution
    with pytest.raises(KeyFileError):  # never replaced by a new key either
        load_or_create_private_key(path)


def test_unusable_key_files_are_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for name, data in [
        ("garbage.pem", b"not a key"),
        ("weak.pem", private_key_to_pem(weak)),
    ]:
        with pytest.raises(KeyFileError, match="usable private key"):
            load_or_create_private_key(write_key(tmp_path / name, data, 0o600))
