"""`vcs-serve`: start the daemon from the command line."""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial

import trio

from app.media.ffmpeg_exe import FFmpegNotFound
from app.media.limits import MediaLimits
from app.protocol.secure import fingerprint
from app.server import keys_command
from app.server.authorized_keys import AuthorizedKeys, AuthorizedKeysError
from app.server.cli_flags import build_parser
from app.server.client_address import parse_networks
from app.server.config import ServerConfig
from app.server.config_file import parse_with_config
from app.server.engines import check_engines
from app.server.key_exchange_limits import KeyExchangeRates
from app.server.log_format import setup_logging
from app.server.service import serve
from app.server.stores.job_store import StoreUnavailable
from app.server.units import (
    format_bytes,
)
from app.wire.exception_groups import sole_exception
from app.wire.key_files import KeyFileError, load_or_create_private_key


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The settings the parsed command line (over the config file) asks for."""
    if args.proxy_protocol and not args.trusted_proxy:
        raise ValueError("--proxy-protocol needs at least one --trusted-proxy")
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
        job_store=args.job_store,
        blob_store=args.blob_store,
        s3_endpoint=args.s3_endpoint,
        s3_region=args.s3_region,
        task_lease_s=args.task_lease,
    )
    check_engines(config)
    return config


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
        try:
            trio.run(run)
        except BaseExceptionGroup as group:  # a failed start, from inside the nursery
            raise sole_exception(group) from None
    except FFmpegNotFound as exc:
        print(f"vcs-serve: {exc}", file=sys.stderr)
        return 1
    except (OSError, StoreUnavailable) as exc:
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
