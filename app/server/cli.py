"""`vcs-serve`: start the daemon from the command line."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from functools import partial
from pathlib import Path

import trio

from app.media.ffmpeg_exe import FFMPEG_ENV, FFmpegNotFound
from app.protocol.secure import fingerprint
from app.server import config as defaults
from app.server.client_address import parse_networks
from app.server.config import ServerConfig
from app.server.job import NODE_ID_RE
from app.server.service import serve
from app.wire.key_files import KeyFileError, load_or_create_private_key

_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'4TB', '500G', '10MiB', '1048576' → bytes (decimal units; 'i' for binary)."""
    match = _SIZE_RE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 4TB, 500GB, 10MiB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    power = " kmgtp".index(unit.lower()) if unit else 0
    return int(float(number) * base**power)


def _node_id(text: str) -> str:
    if text and not NODE_ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError("node id: 1-16 letters a-z or digits")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vcs-serve",
        description="Video Compressor Service daemon: takes uploads over MMP (SPEC §2.1) "
        "and raw MP4 uploads (§2.2), "
        "runs FFmpeg on them and sends the results back.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=defaults.DEFAULT_PORT, help="MMP port (0: any)")
    p.add_argument(
        "--storage-dir",
        type=Path,
        default=defaults.default_storage_dir(),
        help="where uploads, results and the job index live",
    )
    p.add_argument(
        "--quota", type=parse_size, default=defaults.DEFAULT_QUOTA_BYTES, help="storage quota"
    )
    p.add_argument(
        "--max-bytes-per-address",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="bytes one client address may hold: its uploads, results and raw files "
        "(default: a quarter of --quota; 0: no cap)",
    )
    p.add_argument(
        "--max-queued-jobs",
        type=int,
        default=defaults.DEFAULT_MAX_QUEUED_JOBS,
        help="jobs waiting for FFmpeg, uploads in progress included; more are refused "
        "with queue_full (0: no cap)",
    )
    p.add_argument(
        "--max-jobs-per-network",
        type=int,
        default=defaults.DEFAULT_MAX_JOBS_PER_NETWORK,
        help="jobs at once from one /24 (IPv4) or /64 (IPv6) network (0: no cap)",
    )
    p.add_argument(
        "--max-jobs",
        type=int,
        default=ServerConfig().max_jobs,
        help="FFmpeg jobs run at once (others queue)",
    )
    p.add_argument(
        "--retention",
        type=float,
        default=defaults.DEFAULT_RETENTION_S,
        help="seconds a finished result is kept if nobody downloads it",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=defaults.DEFAULT_IDLE_TIMEOUT_S,
        help="seconds a connection may stay silent",
    )
    p.add_argument(
        "--job-timeout",
        type=float,
        default=defaults.DEFAULT_JOB_TIMEOUT_S,
        help="seconds one job may run before it fails",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=defaults.DEFAULT_MAX_CONNECTIONS,
        help="open connections at once",
    )
    p.add_argument(
        "--raw-port",
        type=int,
        default=defaults.DEFAULT_RAW_PORT,
        help="raw upload port (SPEC §2.2; 0: any)",
    )
    p.add_argument(
        "--raw-retention",
        type=float,
        default=defaults.DEFAULT_RETENTION_S,
        help="seconds a raw upload is kept",
    )
    p.add_argument(
        "--max-connections-per-ip",
        type=int,
        default=defaults.DEFAULT_MAX_CONNECTIONS_PER_IP,
        help="open connections from one address (0: no cap)",
    )
    p.add_argument(
        "--min-transfer-rate",
        type=float,
        default=defaults.DEFAULT_MIN_TRANSFER_RATE,
        help="bytes/s a peer must keep up mid-message, or it is dropped (0: off)",
    )
    p.add_argument(
        "--transfer-window",
        type=float,
        default=defaults.DEFAULT_TRANSFER_WINDOW_S,
        help="seconds over which --min-transfer-rate is judged",
    )
    p.add_argument("--ffmpeg", help=f"ffmpeg binary (default: ${FFMPEG_ENV}, else the bundled one)")
    p.add_argument(
        "--node-id",
        type=_node_id,
        default="",
        help="name of this node behind a balancer (a-z, 0-9, up to 16); prefixes job ids",
    )
    p.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="the server's RSA private key, made on first start with mode 0600 "
        "(default: server_key.pem in the storage dir)",
    )
    p.add_argument(
        "--require-encryption",
        action="store_true",
        help="refuse plaintext MMP clients (SPEC §6; see docs/security.md)",
    )
    p.add_argument(
        "--show-fingerprint",
        action="store_true",
        help="print the server key's fingerprint (for users to check their pin) and exit",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=0.0,
        metavar="S",
        help="on SIGTERM stop accepting and let running jobs finish for up to S seconds "
        "(a second signal stops at once); 0 stops at once",
    )
    p.add_argument(
        "--proxy-protocol",
        action="store_true",
        help="behind a balancer: connections from --trusted-proxy must start with a "
        "PROXY v1/v2 header, whose client address is used for per-IP rules",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDR[/BITS]",
        help="a balancer address or network allowed to send PROXY headers (repeatable)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.max_queued_jobs < 0 or args.max_jobs_per_network < 0:
        print(
            "vcs-serve: --max-queued-jobs and --max-jobs-per-network must be ≥ 0",
            file=sys.stderr,
        )
        return 2
    if args.max_jobs < 1 or args.max_connections < 1:
        print("vcs-serve: --max-jobs and --max-connections must be at least 1", file=sys.stderr)
        return 2
    if args.max_connections_per_ip < 0 or args.min_transfer_rate < 0 or args.transfer_window <= 0:
        print(
            "vcs-serve: --max-connections-per-ip and --min-transfer-rate must be ≥ 0, "
            "--transfer-window > 0",
            file=sys.stderr,
        )
        return 2
    try:
        trusted = parse_networks(args.trusted_proxy)
    except ValueError as exc:
        print(f"vcs-serve: --trusted-proxy: {exc}", file=sys.stderr)
        return 2
    if args.proxy_protocol and not trusted:
        print("vcs-serve: --proxy-protocol needs at least one --trusted-proxy", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        storage_dir=args.storage_dir.expanduser(),
        quota_bytes=args.quota,
        max_jobs=args.max_jobs,
        retention_s=args.retention,
        idle_timeout_s=args.idle_timeout,
        job_timeout_s=args.job_timeout,
        max_connections=args.max_connections,
        ffmpeg=args.ffmpeg,
        node_id=args.node_id,
        key_file=args.key_file.expanduser() if args.key_file else None,
        require_encryption=args.require_encryption,
        proxy_protocol=args.proxy_protocol,
        drain_timeout_s=args.drain_timeout,
        trusted_proxies=trusted,
        raw_port=args.raw_port,
        raw_retention_s=args.raw_retention,
        max_connections_per_ip=args.max_connections_per_ip,
        min_transfer_rate=args.min_transfer_rate,
        transfer_window_s=args.transfer_window,
        max_queued_jobs=args.max_queued_jobs,
        max_jobs_per_network=args.max_jobs_per_network,
        max_bytes_per_address=args.max_bytes_per_address,
    )
    try:
        server_key = load_or_create_private_key(config.key_path)
    except KeyFileError as exc:
        print(f"vcs-serve: {exc.info.description}\n  {exc.info.solution}", file=sys.stderr)
        return 1
    key_fingerprint = fingerprint(server_key.public_key())
    if args.show_fingerprint:
        print(key_fingerprint)
        return 0

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            host, port, raw_port = await nursery.start(
                partial(serve, config, server_key=server_key)
            )
            # Machine-readable lines on stdout: the MMP line comes last and means ready.
            print(f"vcs-serve raw listening on {host}:{raw_port}", flush=True)
            print(f"vcs-serve listening on {host}:{port}", flush=True)
            logging.getLogger("vcs-serve").info(
                "storage %s, quota %s bytes, %d FFmpeg job(s) at once",
                config.storage_dir,
                config.quota_bytes,
                config.max_jobs,
            )
            logging.getLogger("vcs-serve").info(
                "server key %s (%s)%s",
                key_fingerprint,
                config.key_path,
                "; plaintext clients refused" if config.require_encryption else "",
            )

    try:
        trio.run(run)
    except FFmpegNotFound as exc:
        print(f"vcs-serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"vcs-serve: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
