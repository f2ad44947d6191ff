"""Property test on a real server: any value in any request field — every op's
parameters, `op`, `job_id`, `wait_s`, `sha256`, `filename` — gets an answer or the error
JSON with a known code, never `internal`, and the server logs no traceback.

Requests carry no payload, or a tiny one (a few hundred junk bytes, whose job fails at
the probe), so 200 examples take seconds; accepted jobs are then asked about (status,
download, cancel), which sends their reduced file name back out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.protocol import ErrorCode
from app.protocol.ops import QUERY_OPS, UPLOAD_FIELDS, UPLOAD_OPS
from tests.server_process import ServerProcess
from tests.spec_client import SpecClient, header64

OPS: Final = [*UPLOAD_OPS, *QUERY_OPS]
FIELDS: Final = sorted(
    {f.name for spec in [*UPLOAD_OPS.values(), *QUERY_OPS.values()] for f in spec.fields}
    | {f.name for f in UPLOAD_FIELDS}
)
# Refusals a client may get; `internal` is the one this test must never see.
KNOWN_CODES: Final = {str(code) for code in ErrorCode} - {str(ErrorCode.INTERNAL)}
KNOWN_JOB: Final = "<a job id the server handed out>"
JUNK: Final = b"\x00junk" * 50

SHAPED = st.sampled_from(
    [
        *["00:01:02.5", "1:75", "00:61:00", "2.39:1", "16:9", "0:0", "192k", "720p", "mkv"],
        *["mxf_d10", "h264", "pad", "NaN", "Infinity", "-Infinity", "1e999", "-0", "0x1F"],
        *["", " ", "\u202e", "ｍｋｖ", "١٢", "../../etc/passwd", "C:\\x\\..\\y", ".bashrc"],
        *["a" * 64, "f" * 64, "F" * 64, "\x00", "\x1b[31mred", "\ud800", "\U0001f600" * 30],
        *["[bold]x[/]", "[/]", "%s%n", "{op}", KNOWN_JOB, "9" * 4000],
    ]
)
HUGE_INTS = st.integers(min_value=20, max_value=4000).map(lambda digits: 10**digits)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    HUGE_INTS.map(lambda n: -n),
    st.floats(),  # NaN and infinities too: the JSON decoder must refuse those
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    SHAPED,
    SHAPED,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _fields_of(op: object) -> list[str]:
    """The fields the server reads for `op` (drawn more often than the others)."""
    if not isinstance(op, str):
        return []
    if op in UPLOAD_OPS:
        return [f.name for f in (*UPLOAD_OPS[op].fields, *UPLOAD_FIELDS)]
    return [f.name for f in QUERY_OPS[op].fields] if op in QUERY_OPS else []


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(OPS) if draw(st.integers(0, 9)) else VALUES)
    names = st.sampled_from([*FIELDS, "junk", *_fields_of(op) * 3] if _fields_of(op) else FIELDS)
    doc: dict[str, Any] = {"op": op}
    for name in draw(st.lists(names, max_size=6, unique=True)):
        doc[name] = draw(VALUES)
    return doc


def body_of(doc: dict[str, Any], known_jobs: list[str]) -> bytes:
    def real(value: Any) -> Any:
        if value == KNOWN_JOB and known_jobs:
            return known_jobs[-1]
        return value

    return json.dumps({key: real(value) for key, value in doc.items()}).encode()


def check_answer(doc: dict[str, Any], request: bytes) -> None:
    shown = request[:200]
    if "error" in doc and "state" not in doc:
        error = doc["error"]
        assert error["code"] in KNOWN_CODES, (error, shown)
        assert isinstance(error["description"], str) and error["description"], shown
        assert isinstance(error["solution"], str) and error["solution"], shown
    else:
        assert doc.get("status") in ("accepted", "ok", "cancelled") or "state" in doc, doc


def ask(server: ServerProcess, source: str, body: bytes, payload: bytes = b"") -> dict[str, Any]:
    client = SpecClient(server.host, server.port, source=source, timeout=30)
    try:
        media_type = b"mp4" if payload else b""
        client.send_bytes(header64(len(body), len(media_type), len(payload)))
        client.send_bytes(body + media_type + payload)
        return client.receive().doc
    finally:
        client.close()


def no_traceback(server: ServerProcess) -> Callable[[], None]:
    """A check of the server's log (stdout and stderr), run after every request so that
    nothing scrolls out of its bounded buffer unseen."""

    def check() -> None:
        lines = list(server.log)
        assert not any("Traceback" in line for line in lines), "".join(lines[-60:])

    return check


def test_any_request_gets_an_answer_or_a_known_error(start_server) -> None:
    server: ServerProcess = start_server("--retention", "60")
    # One job per client address at a time: each upload comes from an address of its own.
    sources = (f"127.0.{n // 250}.{n % 250 + 2}" for n in range(1, 60_000))
    clean_log = no_traceback(server)
    first = ask(server, next(sources), b'{"op": "compress"}', JUNK)  # a job to ask about
    known_jobs: list[str] = [first["job_id"]]

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(doc=requests(), with_payload=st.booleans())
    # The numbers that once gave `internal` (a float made of a 4000-digit integer).
    @example(doc={"op": "gif", "start": 10**4000}, with_payload=False)
    @example(doc={"op": "webm", "start": 1, "end": 10**4000}, with_payload=False)
    @example(doc={"op": "status", "job_id": KNOWN_JOB, "wait_s": 10**4000}, with_payload=False)
    @example(doc={"op": "status", "job_id": KNOWN_JOB, "wait_s": -(10**4000)}, with_payload=False)
    def one_request(doc: dict[str, Any], with_payload: bool) -> None:
        body = body_of(doc, known_jobs)
        if len(body) > 65_536:
            return  # the JSON limit has its own tests (test_limits.py)
        source = next(sources) if with_payload else "127.0.0.1"
        answer = ask(server, source, body, JUNK if with_payload else b"")
        check_answer(answer, body)
        if answer.get("status") == "accepted":
            job_id = answer["job_id"]
            known_jobs.append(job_id)
            for op in ("status", "download", "cancel"):
                query = json.dumps({"op": op, "job_id": job_id}).encode()
                check_answer(ask(server, source, query), query)
        clean_log()

    one_request()
    assert server.proc is not None and server.proc.poll() is None  # still serving
    clean_log()
