"""`vcs-serve --config FILE`: every flag has a key, values read like flags, flags win."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.server.cli import build_parser, config_from_args
from app.server.config_file import file_options, parse_with_config

# One value per option: as the file writes it, and as the command line does. A new
# flag without a line here fails test_every_option_has_a_sample.
SAMPLES: dict[str, tuple[str, list[str]]] = {
    "host": ('"0.0.0.0"', ["--host", "0.0.0.0"]),
    "port": ("9100", ["--port", "9100"]),
    "raw-port": ("9101", ["--raw-port", "9101"]),
    "storage-dir": ('"/srv/vcs"', ["--storage-dir", "/srv/vcs"]),
    "quota": ('"500GB"', ["--quota", "500GB"]),
    "max-bytes-per-address": ('"20GiB"', ["--max-bytes-per-address", "20GiB"]),
    "max-jobs": ("3", ["--max-jobs", "3"]),
    "max-queued-jobs": ("10", ["--max-queued-jobs", "10"]),
    "max-jobs-per-network": ("0", ["--max-jobs-per-network", "0"]),
    "retention": ('"2h"', ["--retention", "2h"]),
    "raw-retention": ("600", ["--raw-retention", "600"]),
    "job-timeout": ('"1h30m"', ["--job-timeout", "1h30m"]),
    "idle-timeout": ('"45s"', ["--idle-timeout", "45s"]),
    "drain-timeout": ('"5m"', ["--drain-timeout", "5m"]),
    "max-connections": ("100", ["--max-connections", "100"]),
    "max-connections-per-ip": ("4", ["--max-connections-per-ip", "4"]),
    "min-transfer-rate": ('"4KiB"', ["--min-transfer-rate", "4KiB"]),
    "transfer-window": ('"1m"', ["--transfer-window", "1m"]),
    "ffmpeg": ('"/usr/bin/ffmpeg"', ["--ffmpeg", "/usr/bin/ffmpeg"]),
    "ffmpeg-memory": ('"3GiB"', ["--ffmpeg-memory", "3GiB"]),
    "max-decoded-frames": ("1000", ["--max-decoded-frames", "1000"]),
    "node-id": ('"n7"', ["--node-id", "n7"]),
    "key-file": ('"/etc/vcs/key.pem"', ["--key-file", "/etc/vcs/key.pem"]),
    "require-encryption": ("true", ["--require-encryption"]),
    "authorized-keys": (
        '"/etc/vcs/authorized_keys"',
        ["--authorized-keys", "/etc/vcs/authorized_keys"],
    ),
    "key-exchange-rate": ("0.5", ["--key-exchange-rate", "0.5"]),
    "key-exchange-burst": ("4", ["--key-exchange-burst", "4"]),
    "key-exchange-total-rate": ("20", ["--key-exchange-total-rate", "20"]),
    "proxy-protocol": ("true", ["--proxy-protocol"]),
    "trusted-proxy": (
        '["10.0.0.0/8", "::1"]',
        ["--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1"],
    ),
    "metrics": ('"127.0.0.1:9300"', ["--metrics", "127.0.0.1:9300"]),
    "log-format": ('"json"', ["--log-format", "json"]),
    "verbose": ("true", ["--verbose"]),
}


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the machine's own ~/.config/vcs/serve.toml says stays out of these tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))


def test_every_option_has_a_sample() -> None:
    assert sorted(file_options(build_parser())) == sorted(SAMPLES)


def _parse(argv: list[str]) -> argparse.Namespace:
    return parse_with_config(build_parser(), argv)[0]


def test_a_file_with_every_key_means_what_the_same_flags_mean(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text("".join(f"{key} = {value}\n" for key, (value, _) in SAMPLES.items()))
    from_file = _parse(["--config", str(path)])
    from_flags = _parse([arg for _, argv in SAMPLES.values() for arg in argv])
    for key, action in file_options(build_parser()).items():
        assert getattr(from_file, action.dest) == getattr(from_flags, action.dest), key
    # And every one of them differs from the default: the file really changed it.
    plain = _parse([])
    for key, action in file_options(build_parser()).items():
        assert getattr(from_file, action.dest) != getattr(plain, action.dest), key
    config = config_from_args(from_file)
    assert config.quota_bytes == 500 * 10**9 and config.job_timeout_s == 5400
    assert config.max_bytes_per_address == 20 * 2**30
    assert [str(n) for n in config.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert config.metrics_address == ("127.0.0.1", 9300)


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('max_jobs = 3\nretention = "2h"\ntrusted-proxy = ["10.0.0.0/8"]\n')
    args = _parse(["--config", str(path), "--max-jobs", "5", "--trusted-proxy", "192.0.2.1"])
    assert args.max_jobs == 5  # the flag
    assert args.retention == 7200  # the file, `_` spelling for `-` accepted
    assert args.trusted_proxy == ["192.0.2.1"]  # a list on the command line replaces
    assert _parse(["--config", str(path)]).trusted_proxy == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max-jbos = 2\n", "unknown key 'max-jbos' (did you mean max-jobs?)"),
        ('quota = "lots"\n', "quota: not a size: 'lots'"),
        ("max-jobs = 0\n", "max-jobs: must be at least 1"),
        ('require-encryption = "yes"\n', "require-encryption must be true or false"),
        ('log-format = "xml"\n', "log-format must be one of text, json"),
        ("port = [1, 2]\n", "port takes one value"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_a_usage_error_naming_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        _parse(["--config", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_the_default_file_is_read_from_the_user_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "vcs").mkdir()
    (tmp_path / "vcs" / "serve.toml").write_text("max-jobs = 4\n")
    args, path = parse_with_config(build_parser(), [])
    assert path == tmp_path / "vcs" / "serve.toml" and args.max_jobs == 4


def test_help_speaks_units_and_cites_no_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "4.0 TB" in text and "6h" in text and "1.0 KB/s" in text
    assert "SPEC" not in text and "§" not in text
