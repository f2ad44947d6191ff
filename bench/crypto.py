"""What encryption costs: sealed vs plaintext MMP, measured in one run (issue 17 goals).

    .venv/bin/python -m bench.crypto [--size-mib 512] [--e2e-mib 1024] [--rounds 3]
                                     [--quick] [--write]

Loopback only, bounded in time, on tmpfs (the network path is measured, not the disk):

- `vcs compress FILE --no-wait` end to end (the CLI process: hash while sending, key
  exchange, upload, stored and verified by the server), encrypted vs `--no-encryption`
  vs `iperf3 -l 1400`, on `--e2e-mib`;
- sealed vs plaintext transfers alone (upload and download of `--size-mib`, the server
  checking a `sha256` given in the request; the client's hashing is outside the clock);
- requests: a new connection each (key exchange each) vs many on one session;
- the record layer alone (seal + open per record size).

Modes take turns, round after round, and each figure is the median of its rounds: the
machine is shared, so compare the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.keyring import Keyring
from app.protocol import limits
from app.protocol.secure.records import (
    RECORD_OVERHEAD,
    RECORD_UNITS,
    ChannelKey,
    Cipher,
    Direction,
    RecordOpener,
    RecordSealer,
)
from app.wire.key_files import load_or_create_private_key
from bench.net import (
    MiB,
    RssSampler,
    fmt_rate,
    iperf3_bytes_per_s,
    make_payload,
    running_server,
    seed_finished_job,
    wait_until_finished,
)
from bench.report import stamp, table, write_section

MODES: dict[str, Cipher | None] = {
    "plaintext": None,
    "AES-256-GCM": Cipher.AES_256_GCM,
    "ChaCha20-Poly1305": Cipher.CHACHA20_POLY1305,
}


def record_rates(units: int, cipher: Cipher, total: int) -> tuple[float, float]:
    """Plaintext bytes/s through seal and through open, for records of `units` packets."""
    chunk = os.urandom(units * limits.PACKET_SIZE - RECORD_OVERHEAD)
    count = max(1, total // len(chunk))
    channel = ChannelKey(cipher, os.urandom(32), os.urandom(32), Direction.CLIENT_TO_SERVER)
    sealer, opener = RecordSealer(channel), RecordOpener(channel)
    start = time.perf_counter()
    wire = [sealer.seal(chunk) for _ in range(count)]
    sealed_s = time.perf_counter() - start
    start = time.perf_counter()
    for piece in wire:
        opener.feed(piece)
        opened = opener.next_record()
        assert opened == chunk
    opened_s = time.perf_counter() - start
    return count * len(chunk) / sealed_s, count * len(chunk) / opened_s


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    seconds: float
    server_cpu_s: float
    client_cpu_s: float


class Meter:
    """Wall time and CPU of both processes from creation to `stop()`."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.server_cpu = cpu_s(server_pid)
        self.client_cpu = time.process_time()
        self.start = time.perf_counter()

    def stop(self) -> Sample:
        return Sample(
            time.perf_counter() - self.start,
            cpu_s(self.server_pid) - self.server_cpu,
            time.process_time() - self.client_cpu,
        )


async def upload_sample(client: VcsClient, server_pid: int, payload: Path, sha: str) -> Sample:
    """One upload (the server verifies its sha256; the client's hashing is done already)."""
    meter = Meter(server_pid)
    answer = await client.upload("compress", payload, {"sha256": sha}, verify=False)
    sample = meter.stop()
    await wait_until_finished(client, str(answer["job_id"]))  # frees this IP's job slot
    return sample


async def download_sample(client: VcsClient, server_pid: int, job_id: str, into: Path) -> Sample:
    meter = Meter(server_pid)
    got = await client.download(job_id, into)  # the client checks size and sha256
    sample = meter.stop()
    got.path.unlink()
    return sample


def client_for(server_address: ServerAddress, keyring: Keyring, cipher: Cipher | None) -> VcsClient:
    if cipher is None:
        return VcsClient(server_address, encrypt=False)
    return VcsClient(server_address, keyring=keyring, cipher=cipher)


async def request_latency(client: VcsClient, count: int, session: bool) -> float:
    """Seconds per `status` of a job that exists: each on a new connection (and key
    exchange when encrypting), or all on one session (its one exchange included)."""
    job_id = str((await client.upload("compress", PROBE, verify=False))["job_id"])
    await wait_until_finished(client, job_id)
    start = time.perf_counter()
    async with client.session() if session else contextlib.nullcontext():
        for _ in range(count):
            await client.status(job_id)
    return (time.perf_counter() - start) / count


PROBE = Path(__file__)  # a small upload whose job fails at once: a job id to ask about


def vcs_compress_no_wait(
    address: ServerAddress, path: Path, config: Path, encrypt: bool
) -> tuple[float, str]:
    """Wall seconds of the `vcs compress PATH --no-wait` process (its whole run), and the
    job id it printed."""
    argv = [sys.executable, "-m", "app.cli", "compress", str(path), "--no-wait", "-q"]
    argv += ["--server", str(address)] + ([] if encrypt else ["--no-encryption"])
    env = {**os.environ, "XDG_CONFIG_HOME": str(config), "VCS_CLIENT_KEY": ""}
    env.pop("VCS_CLIENT_KEY")
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"vcs compress failed: {done.stderr}")
    return elapsed, done.stdout.strip()


def transfer_rows(
    name: str, size: int, samples: dict[str, list[Sample]], peak_rss_kib: dict[str, int]
) -> list[list[str]]:
    rows = []
    plain = statistics.median(s.seconds for s in samples["plaintext"])
    for mode, runs in samples.items():
        seconds = statistics.median(s.seconds for s in runs)
        gib = size / 2**30
        rows.append(
            [
                f"{name}, {mode}",
                fmt_rate(size / seconds),
                f"{plain / seconds:.2f}×",
                f"{statistics.median(s.server_cpu_s for s in runs) / gib:.2f}",
                f"{statistics.median(s.client_cpu_s for s in runs) / gib:.2f}",
                f"{peak_rss_kib[mode] / 1024:.0f} MiB" if mode in peak_rss_kib else "",
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--e2e-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="64 MiB, 2 rounds")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.e2e_mib, args.rounds = 64, 128, 2
    size = args.size_mib * MiB
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = Path(tempfile.mkdtemp(prefix="vcs-bench-crypto-", dir=base))
    try:
        print("record layer ...", file=sys.stderr)
        record_rows = []
        for units in (1, 2, 4, 8, RECORD_UNITS):
            row = [f"{units} × 1,400 B" + (" (used)" if units == RECORD_UNITS else "")]
            for cipher in (Cipher.AES_256_GCM, Cipher.CHACHA20_POLY1305):
                sealed, opened = record_rates(units, cipher, 32 * MiB)
                row += [f"{sealed / 1e6:,.0f} MB/s", f"{opened / 1e6:,.0f} MB/s"]
            record_rows.append(row)

        key_file = work / "server_key.pem"
        load_or_create_private_key(key_file)
        keyring = Keyring(work / "client")
        keyring.client_key()
        payload = work / "payload.bin"
        sha = make_payload(payload, size)
        uploads: dict[str, list[Sample]] = {mode: [] for mode in MODES}
        downloads: dict[str, list[Sample]] = {mode: [] for mode in MODES}
        peak_rss: dict[str, int] = {}
        latency: dict[str, float] = {}

        print("vcs compress --no-wait end to end ...", file=sys.stderr)
        e2e_size = args.e2e_mib * MiB
        e2e_payload = work / "e2e.bin"
        make_payload(e2e_payload, e2e_size)
        iperf = iperf3_bytes_per_s(["-l", "1400"], 5)
        e2e: dict[str, list[float]] = {"encrypted (AES-256-GCM)": [], "--no-encryption": []}
        with running_server(work / "e2e", "--key-file", str(key_file)) as server:
            config = work / "e2e-config"
            keyring_e2e = Keyring(config / "vcs")
            keyring_e2e.client_key()  # made once, before the clocks
            waiter = VcsClient(server.address, keyring=keyring_e2e)
            for _ in range(args.rounds):
                for mode in e2e:
                    encrypt = "no-" not in mode
                    seconds, job_id = vcs_compress_no_wait(
                        server.address, e2e_payload, config, encrypt
                    )
                    e2e[mode].append(seconds)
                    # Its job fails at once (random bytes) and frees this address's slot.
                    trio.run(wait_until_finished, waiter, job_id)
        e2e_payload.unlink()

        print("uploads and request latency ...", file=sys.stderr)
        session_latency: dict[str, float] = {}
        # Key exchanges are measured here, not limited (bench/flood.py measures the limits).
        unlimited = ("--key-exchange-rate", "0", "--key-exchange-total-rate", "0")
        with running_server(work / "up", "--key-file", str(key_file), *unlimited) as server:
            assert server.proc is not None
            for mode, cipher in MODES.items():
                client = client_for(server.address, keyring, cipher)
                latency[mode] = trio.run(request_latency, client, 30, False)
                session_latency[mode] = trio.run(request_latency, client, 30, True)
            for _ in range(args.rounds):
                for mode, cipher in MODES.items():
                    client = client_for(server.address, keyring, cipher)
                    with RssSampler(server.proc.pid) as rss:
                        sample = trio.run(upload_sample, client, server.proc.pid, payload, sha)
                    uploads[mode].append(sample)
                    peak_rss[mode] = max(peak_rss.get(mode, 0), rss.peak_kib)

        print("downloads ...", file=sys.stderr)
        storage = work / "down"
        jobs = {
            mode: [seed_finished_job(storage, payload, sha) for _ in range(args.rounds)]
            for mode in MODES
        }
        into = work / "into"
        into.mkdir()
        with running_server(storage, "--key-file", str(key_file)) as server:
            assert server.proc is not None
            for round_index in range(args.rounds):
                for mode, cipher in MODES.items():
                    client = client_for(server.address, keyring, cipher)
                    job_id = jobs[mode][round_index]
                    downloads[mode].append(
                        trio.run(download_sample, client, server.proc.pid, job_id, into)
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    transfers = table(
        [
            "transfer (tmpfs, loopback)",
            "rate",
            "vs plaintext",
            "server CPU s/GiB",
            "client CPU s/GiB",
            "peak server RSS",
        ],
        transfer_rows(f"upload {args.size_mib} MiB", size, uploads, peak_rss)
        + transfer_rows(f"download {args.size_mib} MiB", size, downloads, {}),
    )
    requests = table(
        ["status request", "new connection each", "vs plaintext", "30 on one session"],
        [
            [
                mode,
                f"{seconds * 1000:.1f} ms",
                f"{seconds / latency['plaintext']:.1f}×",
                f"{session_latency[mode] * 1000:.1f} ms",
            ]
            for mode, seconds in latency.items()
        ],
    )
    plain_e2e = statistics.median(e2e["--no-encryption"])
    e2e_rows = [
        [
            f"`vcs compress --no-wait` {args.e2e_mib} MiB, {mode}",
            fmt_rate(e2e_size / statistics.median(runs)),
            f"{plain_e2e / statistics.median(runs):.2f}×",
            f"{e2e_size / statistics.median(runs) / iperf:.2f}×" if iperf else "n/a",
        ]
        for mode, runs in e2e.items()
    ]
    e2e_rows.append(["iperf3 -l 1400 (reference)", fmt_rate(iperf), "", "1.00×" if iperf else ""])
    end_to_end = table(
        ["end to end (tmpfs, loopback)", "rate", "vs --no-encryption", "vs iperf3 -l 1400"],
        e2e_rows,
    )
    records = table(
        ["record size", "AES-GCM seal", "AES-GCM open", "ChaCha20 seal", "ChaCha20 open"],
        record_rows,
    )
    up_ratio = statistics.median(s.seconds for s in uploads["plaintext"]) / statistics.median(
        s.seconds for s in uploads["AES-256-GCM"]
    )
    down_ratio = statistics.median(s.seconds for s in downloads["plaintext"]) / statistics.median(
        s.seconds for s in downloads["AES-256-GCM"]
    )
    summary = (
        f"With AES-256-GCM (the default) an upload keeps {up_ratio:.2f}× of the plaintext "
        f"rate and a download {down_ratio:.2f}× (goal ≥ 0.8× both); `vcs compress --no-wait` "
        "end to end runs at "
        + ", ".join(f"{row[1]} ({row[2]} of --no-encryption)" for row in e2e_rows[:1])
        + ". A new connection pays "
        f"{(latency['AES-256-GCM'] - latency['plaintext']) * 1000:.0f} ms for the key "
        "exchange (one RSA-3072 signature per side, X25519); a session pays it once. "
        "Plaintext payloads go out with sendfile(2) and in with splice(2); sealed ones of "
        "1 MiB or more are sealed and opened by one worker thread per transfer, 16 records "
        "of 46 packets per system call.\n\n"
    )
    text = (
        summary + f"End to end: the CLI process's wall time, median of {args.rounds} rounds; it "
        "hashes while it sends (sha256 trailer), the server verifies before storing.\n\n"
        + end_to_end
        + f"\nTransfers alone: median of {args.rounds} rounds, modes taking turns; "
        "sha256-verified uploads (the client's hashing pass is outside the clock).\n\n"
        + transfers
        + "\nStatus requests of an existing job, 30 in a row (connect + key exchange + "
        "request + answer each, or one session):\n\n"
        + requests
        + "\nThe record layer alone (sans-IO seal and open of 32 MiB in records of n "
        "packets, one Python call per record, rates of plaintext):\n\n" + records
    )
    print(text)
    if args.write:
        command = "python -m bench.crypto" + (" --quick" if args.quick else "")
        if not args.quick and (args.size_mib, args.e2e_mib, args.rounds) != (512, 1024, 3):
            command += f" --size-mib {args.size_mib} --e2e-mib {args.e2e_mib}"
            command += f" --rounds {args.rounds}"
        write_section("crypto", "Encryption", stamp(command) + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
