"""`vcs-serve`: start the daemon from the command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import trio

from app.media.ffmpeg_exe import FFMPEG_ENV, FFmpegNotFound
from app.media.limits import MediaLimits
from app.protocol.secure import fingerprint
from app.server import config as defaults
from app.server import keys_command
from app.server.authorized_keys import AuthorizedKeys, AuthorizedKeysError
from app.server.client_address import parse_networks
from app.server.config import ServerConfig
from app.server.config_file import parse_with_config
from app.server.job import NODE_ID_RE
from app.server.key_exchange_limits import KeyExchangeRates
from app.server.log_format import LOG_FORMATS, setup_logging
from app.server.service import serve
from app.server.units import (
    argument_type,
    format_bytes,
    format_duration,
    parse_duration,
    parse_size,
)
from app.wire.key_files import KeyFileError, load_or_create_private_key

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
        help="where uploads, results and the job index live (default $XDG_STATE_HOME/vcs/storage)",
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
        help="name of this node behind a balancer (a-z, 0-9, up to 16); prefixes job ids",
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


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The settings the parsed command line (over the config file) asks for."""
    if args.proxy_protocol and not args.trusted_proxy:
        raise ValueError("--proxy-protocol needs at least one --trusted-proxy")
    return ServerConfig(
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
        trusted_proxies=parse_networks(args.trusted_proxy),
        raw_port=args.raw_port,
        raw_retention_s=args.raw_retention,
        max_connections_per_ip=args.max_connections_per_ip,
        min_transfer_rate=args.min_transfer_rate,
        transfer_window_s=args.transfer_window,
        max_queued_jobs=args.max_queued_jobs,
        max_jobs_per_network=args.max_jobs_per_network,
        max_bytes_per_address=args.max_bytes_per_address,
        metrics_address=args.metrics,
        media_limits=MediaLimits(
            max_decoded_frames=args.max_decoded_frames, ffmpeg_memory_base=args.ffmpeg_memory
        ),
        authorized_keys_file=args.authorized_keys.expanduser() if args.authorized_keys else None,
        key_exchange_rates=KeyExchangeRates(
            args.key_exchange_rate,
            args.key_exchange_burst,
            args.key_exchange_total_rate,
            max(args.key_exchange_burst, int(2 * args.key_exchange_total_rate)),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        return keys_command.main(argv[1:])
    parser = build_parser()
    args, config_path = parse_with_config(parser, argv)
    setup_logging(args.verbose, args.log_format)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))

    def reload() -> ServerConfig | None:
        """SIGHUP: read the config file (and flags) again; None if it cannot be used."""
        try:
            again, _ = parse_with_config(build_parser(), argv)
            return config_from_args(again)
        except (ValueError, SystemExit):
            logging.getLogger("vcs-serve").error("reload: the configuration is unusable; kept")
            return None

    if config.authorized_keys_file is not None:
        try:
            AuthorizedKeys(config.authorized_keys_file).load()
        except (OSError, AuthorizedKeysError) as exc:
            print(f"vcs-serve: --authorized-keys: {exc}", file=sys.stderr)
            return 1
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
            bound = await nursery.start(
                partial(serve, config, server_key=server_key, reload=reload)
            )
            host, port, raw_port, metrics_port = bound
            # Machine-readable lines on stdout: the MMP line comes last and means ready.
            if metrics_port is not None:
                assert config.metrics_address is not None
                metrics_host = config.metrics_address[0]
                print(f"vcs-serve metrics on http://{metrics_host}:{metrics_port}", flush=True)
            print(f"vcs-serve raw listening on {host}:{raw_port}", flush=True)
            print(f"vcs-serve listening on {host}:{port}", flush=True)
            logging.getLogger("vcs-serve").info(
                "storage %s, quota %s, %d FFmpeg job(s) at once; settings from %s",
                config.storage_dir,
                format_bytes(config.quota_bytes),
                config.max_jobs,
                config_path or "the command line only",
            )
            logging.getLogger("vcs-serve").info(
                "server key %s (%s); %s", key_fingerprint, config.key_path, _access(config)
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


def _access(config: ServerConfig) -> str:
    """Whether the server is open, said at start (docs/security.md, "Who may connect")."""
    if config.authorized_keys_file is not None:
        count = len(AuthorizedKeys(config.authorized_keys_file).entries_now())
        return (
            f"access: only the {count} client key(s) in {config.authorized_keys_file} "
            "(`vcs-serve keys`), plaintext refused"
        )
    plaintext = "plaintext refused" if config.require_encryption else "plaintext allowed"
    return (
        f"access: OPEN to any client that reaches {config.host}:{config.port}, {plaintext} "
        "(--authorized-keys FILE restricts it)"
    )


if __name__ == "__main__":
    sys.exit(main())
