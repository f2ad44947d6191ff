"""`--metrics HOST:PORT`: a tiny HTTP/1.0 endpoint for scrapers and balancer checks.

GET /metrics → the Prometheus text exposition; GET /health → `200 ok`, or `503
draining` once the server takes no new uploads (HAProxy's `option httpchk GET /health`
then sends new clients to other nodes). One request per connection, read with a time
and size bound, a few connections at a time: nothing a scraper does can cost the
server more than that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import trio

from app.server.metrics import Metrics
from app.wire.sockets import open_listener

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES: Final = 8192
REQUEST_TIMEOUT_S: Final = 5.0
MAX_CONCURRENT: Final = 16
CONTENT_TYPE_METRICS: Final = "text/plain; version=0.0.4; charset=utf-8"


def _response(status: str, body: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    data = body.encode()
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + data


def answer(request: bytes, metrics: Metrics, draining: Callable[[], bool]) -> bytes:
    """The whole response to one request's bytes (its head, at least its first line)."""
    line = request.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split()
    if len(parts) < 2 or parts[0] not in (b"GET", b"HEAD"):
        return _response("405 Method Not Allowed", "only GET /metrics and GET /health\n")
    path = parts[1].split(b"?", 1)[0]
    if path == b"/metrics":
        response = _response("200 OK", metrics.render(), CONTENT_TYPE_METRICS)
    elif path == b"/health":
        response = (
            _response("503 Service Unavailable", "draining\n")
            if draining()
            else _response("200 OK", "ok\n")
        )
    else:
        response = _response("404 Not Found", "try /metrics or /health\n")
    if parts[0] == b"HEAD":
        return response.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    return response


async def _serve_one(
    stream: trio.SocketStream, metrics: Metrics, draining: Callable[[], bool]
) -> None:
    request = b""
    with trio.move_on_after(REQUEST_TIMEOUT_S):
        try:
            while b"\r\n\r\n" not in request and b"\n\n" not in request:
                data = await stream.receive_some(MAX_REQUEST_BYTES)
                if not data:
                    break
                request += data
                if len(request) > MAX_REQUEST_BYTES:
                    break
            await stream.send_all(answer(request, metrics, draining))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    with trio.CancelScope(shield=True):
        await stream.aclose()


async def serve_metrics(
    host: str,
    port: int,
    metrics: Metrics,
    draining: Callable[[], bool],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound port when listening."""
    listener = await open_listener(host, port)
    slots = trio.Semaphore(MAX_CONCURRENT)
    task_status.started(int(listener.socket.getsockname()[1]))
    async with listener, trio.open_nursery() as nursery:
        while True:
            await slots.acquire()
            stream = await listener.accept()

            async def one(stream: trio.SocketStream = stream) -> None:
                try:
                    await _serve_one(stream, metrics, draining)
                finally:
                    slots.release()

            nursery.start_soon(one)
