"""The `vcs-serve` flags: their types, defaults and help (one per ServerConfig field).

Every flag is also a key of the TOML config file (app/server/config_file.py);
app/server/cli.py turns the parsed flags into a ServerConfig.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from app.media.ffmpeg_exe import FFMPEG_ENV
from app.server import config as defaults
from app.server.client_address import parse_networks
from app.server.config import ServerConfig
from app.server.job import NODE_ID_RE
from app.server.key_exchange_limits import KeyExchangeRates
from app.server.log_format import LOG_FORMATS
from app.server.units import (
    argument_type,
    format_bytes,
    format_duration,
    parse_duration,
    parse_size,
)

size = argument_type(parse_size)
duration = argument_type(parse_duration)


def _at_least(minimum: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return count


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def _positive_duration(text: str) -> float:
    value = duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be longer than 0 s")
    return float(value)


def _node_id(text: str) -> str:
    if text and not NODE_ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError("node id: 1-16 letters a-z or digits")
    return text


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r} (e.g. 127.0.0.1:9100)")
    return host.strip("[]") or "127.0.0.1", int(port)


def _networks(text: str) -> str:
    try:
        parse_networks([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    d = ServerConfig()
    p = argparse.ArgumentParser(
        prog="vcs-serve",
        description="Video Compressor Service daemon: takes uploads over MMP (port 9000, "
        "docs/protocol.md) and raw MP4 uploads (port 9001), runs FFmpeg on them and sends "
        "the results back. Sizes take units (500GB, 10MiB), durations too (90s, 5m, 1h). "
        "Every option can also be set in a TOML file (--config; docs/operations.md). "
        "`vcs-serve keys add|list|remove` edits an --authorized-keys file.",
    )
    add = p.add_argument
    add(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML file of settings, keys named like these flags (default: "
        "$XDG_CONFIG_HOME/vcs/serve.toml, else /etc/vcs/serve.toml, if one exists); "
        "flags given here override it",
    )
    add("--host", default=d.host, help=f"address to listen on (0.0.0.0: all; default {d.host})")
    add("--port", type=_at_least(0), default=d.port, help=f"MMP port (0: any; default {d.port})")
    add(
        "--raw-port",
        type=_at_least(0),
        default=d.raw_port,
        help=f"raw upload port (0: any; default {d.raw_port})",
    )
    add(
        "--storage-dir",
        type=Path,
        default=defaults.default_storage_dir(),
        help="where the job store, uploads and results live with the default stores, and "
        "FFmpeg's work files always (default $XDG_STATE_HOME/vcs/storage)",
    )
    add(
        "--quota",
        type=size,
        default=d.quota_bytes,
        metavar="SIZE",
        help=f"storage quota (default {format_bytes(d.quota_bytes)})",
    )
    add(
        "--max-bytes-per-address",
        type=size,
        default=None,
        metavar="SIZE",
        help="bytes one client address may hold: its uploads, results and raw files "
        "(default: a quarter of --quota; 0: no cap)",
    )
    add(
        "--max-jobs",
        type=_at_least(1),
        default=d.max_jobs,
        help=f"FFmpeg jobs run at once, others queue (default {d.max_jobs}: cores / 2)",
    )
    add(
        "--max-queued-jobs",
        type=_at_least(0),
        default=d.max_queued_jobs,
        help="jobs waiting for FFmpeg, uploads in progress included; more are refused "
        f"with queue_full (0: no cap; default {d.max_queued_jobs})",
    )
    add(
        "--max-jobs-per-network",
        type=_at_least(0),
        default=d.max_jobs_per_network,
        help="jobs at once from one /24 (IPv4) or /64 (IPv6) network "
        f"(0: no cap; default {d.max_jobs_per_network})",
    )
    add(
        "--retention",
        type=duration,
        default=d.retention_s,
        metavar="DURATION",
        help=f"how long a finished result is kept if nobody downloads it "
        f"(default {format_duration(d.retention_s)})",
    )
    add(
        "--raw-retention",
        type=duration,
        default=d.raw_retention_s,
        metavar="DURATION",
        help=f"how long a raw upload is kept (default {format_duration(d.raw_retention_s)})",
    )
    add(
        "--job-timeout",
        type=_positive_duration,
        default=d.job_timeout_s,
        metavar="DURATION",
        help=f"how long one job may run before it fails "
        f"(default {format_duration(d.job_timeout_s)})",
    )
    add(
        "--idle-timeout",
        type=_positive_duration,
        default=d.idle_timeout_s,
        metavar="DURATION",
        help=f"how long a connection may stay silent (default {format_duration(d.idle_timeout_s)})",
    )
    add(
        "--drain-timeout",
        type=duration,
        default=d.drain_timeout_s,
        metavar="DURATION",
        help="on SIGTERM stop accepting and let running jobs finish for up to this long "
        "(a second signal stops at once); 0 stops at once (default)",
    )
    add(
        "--max-connections",
        type=_at_least(1),
        default=d.max_connections,
        help=f"open connections at once, both ports (default {d.max_connections})",
    )
    add(
        "--max-connections-per-ip",
        type=_at_least(0),
        default=d.max_connections_per_ip,
        help=f"open connections from one address (0: no cap; default {d.max_connections_per_ip})",
    )
    add(
        "--min-transfer-rate",
        type=size,
        default=int(d.min_transfer_rate),
        metavar="SIZE",
        help="bytes per second a peer must keep up mid-message, or it is dropped "
        f"(0: off; default {format_bytes(int(d.min_transfer_rate))}/s)",
    )
    add(
        "--transfer-window",
        type=_positive_duration,
        default=d.transfer_window_s,
        metavar="DURATION",
        help="over how long --min-transfer-rate is judged "
        f"(default {format_duration(d.transfer_window_s)})",
    )
    add("--ffmpeg", help=f"ffmpeg binary (default: ${FFMPEG_ENV}, else the bundled one)")
    limits = d.media_limits
    add(
        "--ffmpeg-memory",
        type=size,
        default=limits.ffmpeg_memory_base,
        metavar="SIZE",
        help="address space of one FFmpeg run, plus "
        f"{limits.ffmpeg_memory_per_pixel} bytes per input pixel "
        f"(default {format_bytes(limits.ffmpeg_memory_base)}; docs/security.md)",
    )
    add(
        "--max-decoded-frames",
        type=_at_least(1),
        default=limits.max_decoded_frames,
        metavar="N",
        help="frames one op may decode; longer inputs are refused before FFmpeg starts "
        f"(default {limits.max_decoded_frames:,})",
    )
    add(
        "--node-id",
        type=_node_id,
        default="",
        help="name of this node behind a balancer (a-z, 0-9, up to 16), unique in a "
        "cluster: it names the node in the job store and prefixes the job ids it accepts",
    )
    add(
        "--job-store",
        default=d.job_store,
        metavar="sqlite|DSN",
        help="where job records, the quota and the work queue live: 'sqlite' "
        "(jobs.sqlite3 in the storage dir; default) or a postgresql:// DSN shared by a "
        "cluster's nodes (password from PGPASSWORD or ~/.pgpass, not here)",
    )
    add(
        "--blob-store",
        default=d.blob_store,
        metavar="local|s3://BUCKET[/PREFIX]",
        help="where uploads, results and raw files live: 'local' (the storage dir; "
        "default) or an S3 bucket shared by a cluster (keys from boto3's chain: "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws)",
    )
    add(
        "--s3-endpoint",
        default=None,
        metavar="URL",
        help="the S3 service's URL for a store other than AWS (e.g. Ceph RGW, SeaweedFS; "
        "default: $AWS_ENDPOINT_URL)",
    )
    add("--s3-region", default=None, metavar="NAME", help="the S3 region (default: boto3's)")
    add(
        "--task-lease",
        type=_positive_duration,
        default=d.task_lease_s,
        metavar="DURATION",
        help="how long a node's claim on a running job lasts unrenewed: a dead node's jobs "
        f"run again on another after this (default {format_duration(d.task_lease_s)})",
    )
    add(
        "--key-file",
        type=Path,
        default=None,
        help="the server's RSA private key, made on first start with mode 0600 "
        "(default: server_key.pem in the storage dir)",
    )
    add(
        "--require-encryption",
        action="store_true",
        help="refuse plaintext MMP clients (docs/security.md)",
    )
    add(
        "--authorized-keys",
        type=Path,
        default=None,
        metavar="FILE",
        help="admit only the client keys listed in FILE (one per line, with optional name "
        "and limits; edit it with `vcs-serve keys`) and refuse plaintext clients; without "
        "it any client may connect (docs/security.md)",
    )
    rates = KeyExchangeRates()
    add(
        "--key-exchange-rate",
        type=_non_negative_float,
        default=rates.per_address_per_s,
        metavar="N",
        help="key exchanges per second from one address, after a burst of "
        f"--key-exchange-burst (0: no cap; default {rates.per_address_per_s:g})",
    )
    add(
        "--key-exchange-burst",
        type=_at_least(1),
        default=rates.per_address_burst,
        metavar="N",
        help=f"key exchanges one address may make at once (default {rates.per_address_burst})",
    )
    add(
        "--key-exchange-total-rate",
        type=_non_negative_float,
        default=rates.total_per_s,
        metavar="N",
        help="key exchanges per second from all addresses together "
        f"(0: no cap; default {rates.total_per_s:g})",
    )
    add(
        "--show-fingerprint",
        action="store_true",
        help="print the server key's fingerprint (for users to check their pin) and exit",
    )
    add(
        "--proxy-protocol",
        action="store_true",
        help="behind a balancer: connections from --trusted-proxy must start with a "
        "PROXY v1/v2 header, whose client address is used for per-IP rules",
    )
    add(
        "--trusted-proxy",
        action="append",
        type=_networks,
        default=[],
        metavar="ADDR[/BITS]",
        help="a balancer address or network allowed to send PROXY headers (repeatable)",
    )
    add(
        "--metrics",
        type=_host_port,
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics and a health check on "
        "/health (503 while draining); off by default",
    )
    add("--log-format", choices=LOG_FORMATS, default="text", help="text (default) or json")
    add("-v", "--verbose", action="store_true", help="log every request")
    return p
