"""The op table (sans-IO): every request field declared once, for server, CLI and TUI."""

from app.protocol.ops.fields import BadParam, Choice, Field, Flag, Number
from app.protocol.ops.request_fields import JOB_ID_RE, job_not_found, safe_base_name
from app.protocol.ops.shapes import FormatName, Mp3Bitrate, Ratio, Time, ratio_fraction
from app.protocol.ops.table import (
    FILENAME,
    JOB_ID,
    QUERY_OPS,
    SHA256,
    TRAILER,
    UPLOAD_FIELDS,
    UPLOAD_OPS,
    WAIT_S,
    Checked,
    OpSpec,
)
from app.protocol.ops.time_range import fit_span

__all__ = [
    "FILENAME",
    "JOB_ID",
    "JOB_ID_RE",
    "QUERY_OPS",
    "SHA256",
    "TRAILER",
    "UPLOAD_FIELDS",
    "UPLOAD_OPS",
    "WAIT_S",
    "BadParam",
    "Checked",
    "Choice",
    "Field",
    "Flag",
    "FormatName",
    "Mp3Bitrate",
    "Number",
    "OpSpec",
    "Ratio",
    "Time",
    "fit_span",
    "job_not_found",
    "ratio_fraction",
    "safe_base_name",
]
