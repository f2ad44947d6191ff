"""One job's full report, as rows of (label, text) for the report screen.

From what the client knows of the job (its steps and when it saw them) and the
server's report (`status`'s `result`: sizes, codec and CRF, VMAF and where it was
measured, the CRF search, every stream in and what became of it, the server's own
times; docs/operations.md). Keys this module does not know are listed under "More",
so a report from a newer server is never hidden.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from app.client.byte_sizes import figure, human_bytes
from app.client.report_lines import chunk_spread_line
from app.tui.jobs import Step, TrackedJob, format_duration
from app.tui.widgets.folder_input import display_path

Row = tuple[str, str]

# The result's fields about the file itself (shown as sizes, or of no use to read).
_FILE_KEYS: Final = frozenset(
    {"filename", "media_type", "size", "sha256", "downloaded", "input_size", "output_size"}
)
_QUALITY_KEYS: Final = frozenset(
    {"vmaf", "ssim", "metric", "target_vmaf", "target_ssim", "quality_measured_on"}
)
_ENCODING_KEYS: Final = frozenset(
    {"codec", "encoder", "preset", "crf", "audio", "bitrate", "format", "codecs", "outcome"}
    | {"width", "height", "ratio", "mode", "start", "end", "fps", "tried", "predicted_size"}
)
_OTHER_KNOWN: Final = frozenset({"reduction", "search", "streams", "time_s", "note"})
# A chunked compress's chunks (issue 19): the spread in a line, each chunk in the next.
_CHUNK_KEYS: Final = frozenset(
    {"chunks", "chunk_spread", "chunked", "chunked_fallback", "quality_scale"}
)
# Chunks listed one per line; past this many, how many more.
MAX_CHUNK_LINES: Final = 12
# What the result kept of the source (issue 16's reports): container, picture, HDR.
_FIDELITY_KEYS: Final = frozenset(
    {"container", "container_note", "source_orientation", "source_colour", "hdr", "hdr_note"}
    | {"chapters"}
)
_KNOWN: Final = (
    _FILE_KEYS | _QUALITY_KEYS | _ENCODING_KEYS | _OTHER_KNOWN | _FIDELITY_KEYS | _CHUNK_KEYS
)


def _seconds(value: object) -> str:
    n = figure(value)
    return "?" if n is None else (f"{n:.1f} s" if n < 60 else format_duration(n))


def _sizes(job: TrackedJob) -> Row | None:
    size_in, size_out = job.input_size, job.output_size
    if size_in is None and size_out is None:
        return None
    text = human_bytes(size_in) if size_in is not None else "?"
    if size_out is not None:
        text += f" → {human_bytes(size_out)}"
        reduction = job.reduction_text()
        if reduction:
            text += (
                f" ({reduction} smaller)" if not reduction.startswith("+") else f" ({reduction})"
            )
    return "Sizes", text


def _quality(r: dict[str, Any]) -> Row | None:
    metric = "vmaf" if figure(r.get("vmaf")) is not None else "ssim"
    value = figure(r.get(metric))
    target = figure(r.get("target_vmaf"))
    if value is None and target is None:
        return None
    aim = f"target VMAF {target:g}" if target is not None else ""
    if value is None:
        return "Quality", f"not measured ({aim})"
    text = f"VMAF {value:.2f}" if metric == "vmaf" else f"SSIM {value:.4f}"
    if metric == "ssim" and figure(r.get("target_ssim")) is not None:
        aim = f"target SSIM {r['target_ssim']:g}, for {aim}"
    text += f" ({aim})" if aim else ""
    if r.get("quality_measured_on"):
        text += f", measured on the {r['quality_measured_on']}"
    return "Quality", text


def _encoding(r: dict[str, Any]) -> Iterable[Row]:
    codecs = r.get("codecs")
    listed = " + ".join(map(str, codecs)) if isinstance(codecs, list) else ""
    if r.get("codec") or listed:
        codec = str(r.get("codec") or listed)
        how = ", ".join(str(r[k]) for k in ("encoder", "preset") if r.get(k))
        text = codec + (f" ({how})" if how else "")
        if figure(r.get("crf")) is not None:
            text += f", CRF {r['crf']:g}"
        if r.get("bitrate"):
            text += f", {r['bitrate']}"
        yield "Encoding", text
    if r.get("audio"):
        yield "Audio", str(r["audio"])
    if r.get("format"):
        yield "Format", str(r["format"])
    if r.get("width") and r.get("height"):
        picture = f"{r['width']}x{r['height']}"
        if r.get("ratio"):
            picture += f", {r['ratio']} by {r.get('mode', 'pad')}"
        if figure(r.get("fps")) is not None:
            picture += f", {r['fps']:g} fps"
        yield "Picture", picture
    if figure(r.get("start")) is not None and figure(r.get("end")) is not None:
        yield "Range", f"{r['start']:g} s → {r['end']:g} s"
    tried = r.get("tried")
    if isinstance(tried, dict) and tried:
        parts = [str(tried.get("codec", "")), str(tried.get("encoder", ""))]
        crf = f" CRF {tried['crf']:g}" if figure(tried.get("crf")) is not None else ""
        yield "Tried", " ".join(p for p in parts if p) + crf


def _chunks(r: dict[str, Any]) -> Iterable[Row]:
    """The spread of a chunked compress, then each chunk: its span, CRF and VMAF."""
    if spread := chunk_spread_line(r):
        yield "Chunks", spread
    chunks = r.get("chunks")
    if isinstance(chunks, list):
        lines = []
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue
            start, end = figure(chunk.get("start_s")), figure(chunk.get("end_s"))
            span = f"{start:.1f}–{end:.1f} s" if start is not None and end is not None else "?"
            crf, vmaf = figure(chunk.get("crf")), figure(chunk.get("vmaf"))
            parts = [span] + ([f"CRF {crf:g}"] if crf is not None else [])
            parts += [f"VMAF {vmaf:.1f}"] if vmaf is not None else []
            parts += [str(chunk["node"])] if isinstance(chunk.get("node"), str) else []
            lines.append(" · ".join(parts))
        if len(lines) > MAX_CHUNK_LINES:
            lines[MAX_CHUNK_LINES:] = [f"… {len(lines) - MAX_CHUNK_LINES} more"]
        if lines:
            yield "Each chunk", "\n".join(lines)
    if isinstance(r.get("chunked_fallback"), str):
        yield "Chunking", f"not used: {r['chunked_fallback']}"


def _search(r: dict[str, Any]) -> Row | None:
    search = r.get("search")
    if not isinstance(search, dict):
        return None
    tried = search.get("trials")
    trials = [t for t in tried if isinstance(t, dict)] if isinstance(tried, list) else []
    tries = ", ".join(
        f"CRF {t['crf']:g} → {t['score']:.1f}"
        for t in trials
        if figure(t.get("crf")) is not None and figure(t.get("score")) is not None
    )
    text = f"{len(trials)} tr{'ies' if len(trials) != 1 else 'y'}" + (f": {tries}" if tries else "")
    if figure(search.get("sample_s")) is not None:
        windows = search.get("sample_windows")
        parts = windows if isinstance(windows, int) and not isinstance(windows, bool) else 1
        text += f" (samples: {search['sample_s']:g} s in {parts} part{'s' if parts != 1 else ''})"
    if figure(r.get("predicted_size")) is not None:
        text += f"; predicted size {human_bytes(r['predicted_size'])}"
    return "CRF search", text


def _fidelity(r: dict[str, Any]) -> Iterable[Row]:
    if r.get("container"):
        note = f" ({r['container_note']})" if r.get("container_note") else ""
        yield "Container", f"{r['container']}{note}"
    source = [str(r[k]) for k in ("source_orientation", "source_colour") if r.get(k)]
    if source:
        yield "Source", ", ".join(source)
    if r.get("hdr") or r.get("hdr_note"):
        yield "HDR", "; ".join(str(r[k]) for k in ("hdr", "hdr_note") if r.get(k))
    if isinstance(r.get("chapters"), int) and not isinstance(r["chapters"], bool):
        yield "Chapters", str(r["chapters"])


def _stream(s: dict[str, Any]) -> str:
    index = s.get("index")
    head = f"#{index} " if isinstance(index, int) and not isinstance(index, bool) else ""
    head += " ".join(str(s[k]) for k in ("kind", "codec") if s.get(k))
    tags = [str(s[k]) for k in ("language", "title") if s.get(k)]
    if tags:
        head += f" ({', '.join(tags)})"
    action = str(s.get("action") or "")
    if s.get("encoder"):
        action = f"{action or 'encoded'} with {s['encoder']}"
    out = s.get("output_index")
    if isinstance(out, int) and not isinstance(out, bool):
        action += f" as #{out}"
    text = f"{head} → {action}" if action else head
    return text + (f": {s['reason']}" if s.get("reason") else "")


def _streams(r: dict[str, Any]) -> Row | None:
    streams = r.get("streams")
    if not isinstance(streams, list) or not streams:
        return None
    return "Streams", "\n".join(_stream(s) for s in streams if isinstance(s, dict))


# The client's steps that start each phase, and the steps that end it.
_PHASES: Final = (
    ("upload", (Step.HASHING, Step.UPLOADING), (Step.QUEUED, Step.RUNNING, Step.FAILED)),
    ("queue", (Step.QUEUED,), (Step.RUNNING, Step.DONE, Step.FAILED, Step.CANCELLED)),
    ("processing", (Step.RUNNING,), (Step.DONE, Step.FAILED, Step.CANCELLED)),
    ("download", (Step.DOWNLOADING,), (Step.SAVED,)),
)


def _phases(job: TrackedJob, r: dict[str, Any]) -> Iterable[Row]:
    """How long each phase took as this client saw it (only for a job sent in this
    session: one adopted from an earlier one was not watched from the start), then the
    server's own times (compress: the CRF search and the encode)."""
    seen = job.timeline if Step.WAITING in job.timeline else {}
    parts = []
    for name, starts, ends in _PHASES:
        began = min((seen[s] for s in starts if s in seen), default=None)
        if began is None:
            continue
        end = min(((seen[s], s) for s in ends if s in seen and seen[s] >= began), default=None)
        if end is None:
            continue
        if name == "queue" and end[1] is not Step.RUNNING and Step.RUNNING not in seen:
            name = "queue + processing"  # a quick job: no status poll saw it running
        parts.append(f"{name} {_seconds(end[0] - began)}")
    if parts:
        yield "Phases", " · ".join(parts)
    server_times = r.get("time_s")
    if isinstance(server_times, dict) and server_times:
        yield "Server time", " · ".join(f"{k} {_seconds(v)}" for k, v in server_times.items())


def _more(r: dict[str, Any]) -> Row | None:
    rest = {k: v for k, v in r.items() if k not in _KNOWN}
    if not rest:
        return None
    return "More", "\n".join(f"{k}: {json.dumps(v, default=str)[:200]}" for k, v in rest.items())


def report_rows(job: TrackedJob) -> list[Row]:
    """Everything known about `job`, most important first."""
    r = job.result
    progress = job.progress_text()
    state = str(job.step) + (f", {progress}" if progress and job.step is Step.RUNNING else "")
    params = ", ".join(f"{k} {v}" for k, v in job.params.items())
    rows: list[Row] = [
        ("File", display_path(job.path)),
        ("Operation", job.op + (f" ({params})" if params else "")),
        ("State", state),
    ]
    if job.job_id:
        rows.append(("Job", f"{job.job_id}" + (f" on {job.server}" if job.server else "")))
    candidates: list[Row | None] = [_sizes(job), _quality(r), *_encoding(r), _search(r)]
    candidates += [*_chunks(r), *_fidelity(r), _streams(r), *_phases(job, r)]
    rows += [row for row in candidates if row is not None]
    if job.saved_path is not None:
        rows.append(("Saved to", display_path(job.saved_path)))
    if r.get("note"):
        rows.append(("Note", str(r["note"])))
    if job.error is not None:
        rows.append(("Error", f"{job.error.code}: {job.error.description}"))
        if job.error.solution:
            rows.append(("Solution", job.error.solution))
    more = _more(r)
    if more is not None:
        rows.append(more)
    return rows
