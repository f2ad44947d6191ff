"""A flood of key exchanges from several loopback addresses (tests and bench/crypto.py).

Each task opens a connection from its address, sends a real `key_exchange` hello (so
the server would have to sign, were it not limited), reads the answer, and closes; it
never finishes the exchange. Bounded in time, and each step in a timeout.
"""

from __future__ import annotations

import collections
import contextlib

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from app.client.address import ServerAddress
from app.protocol import ErrorInfo, RemoteProtocolError
from app.protocol.secure import ClientHandshake
from app.wire.sockets import connect
from app.wire.stream import MessageStream

STEP_TIMEOUT_S = 10.0


async def flood_key_exchanges(
    address: ServerAddress,
    sources: list[str],
    seconds: float,
    key: rsa.RSAPrivateKey,
    tasks_per_source: int = 4,
) -> collections.Counter[str]:
    """How the server answered: `key_exchange` (it signed) or the refusal's code, or
    `closed` / `broken` when a connection ended without an answer."""
    answers: collections.Counter[str] = collections.Counter()
    deadline = trio.current_time() + seconds

    async def one_source(source: str) -> None:
        while trio.current_time() < deadline:
            answers[await _one_hello(address, source, key)] += 1

    with trio.move_on_at(deadline + STEP_TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            for source in sources:
                for _ in range(tasks_per_source):
                    nursery.start_soon(one_source, source)
    return answers


async def _one_hello(address: ServerAddress, source: str, key: rsa.RSAPrivateKey) -> str:
    try:
        with trio.fail_after(STEP_TIMEOUT_S):
            stream = await connect(address.host, address.port, source)
            async with stream:
                ms = MessageStream(stream, STEP_TIMEOUT_S)
                await ms.send_message(ClientHandshake(key).hello())
                answer = await ms.receive_message()
    except (OSError, trio.BrokenResourceError, trio.TooSlowError, RemoteProtocolError):
        return "broken"
    if answer is None:
        return "closed"
    refusal = ErrorInfo.from_json(answer)
    if refusal is not None:
        return str(refusal.code)
    with contextlib.suppress(Exception):
        return str(answer.get("status"))
    return "other"
