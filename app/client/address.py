"""Server addresses as users type them: HOST:PORT, [v6]:PORT, or HOST alone."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9000
SERVER_ENV: Final = "VCS_SERVER"


@dataclass(frozen=True, slots=True)
class ServerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, default_port: int = DEFAULT_PORT) -> ServerAddress:
        text = text.strip()
        if not text:
            raise ValueError("empty server address")
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest.removeprefix(":") if rest else ""
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        else:  # a bare host name, IPv4 or unbracketed IPv6 address
            host, port_text = text, ""
        if not host:
            raise ValueError(f"no host in {text!r}")
        port = default_port
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"bad port in {text!r}")
            port = int(port_text)
        return cls(host, port)

    @classmethod
    def default(cls) -> ServerAddress:
        env = os.environ.get(SERVER_ENV)
        return cls.parse(env) if env else cls(DEFAULT_HOST, DEFAULT_PORT)
