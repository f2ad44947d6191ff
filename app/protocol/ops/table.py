"""The op table: every request's fields, declared once (docs/protocol.md, docs/operations.md).

The server's static checks, the `vcs OP` flags and the TUI's op form are all made from
these declarations, so the three accept exactly the same values. Checks that need the
probed input (streams, sizes against the picture) stay in the server's ops; the time
range against a known duration is `fit_span`, used by the server and by the TUI alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.protocol.ops.fields import BadParam, Choice, Field, Flag, Number
from app.protocol.ops.request_fields import (
    MAX_STATUS_WAIT_S,
    FileName,
    JobId,
    Sha256,
    WaitSeconds,
)
from app.protocol.ops.shapes import FormatName, Mp3Bitrate, Ratio, Time
from app.protocol.ops.time_range import MAX_SPAN_S

MIN_SIDE_PX: Final = 16
MAX_SIDE_PX: Final = 7680
PRESET_LINES: Final = {"480p": 480, "720p": 720, "1080p": 1080, "1440p": 1440, "2160p": 2160}
VIDEO_CODECS: Final = ("h264", "h265", "av1")
# VMAF below 60 is visibly poor; above 99 costs bits no eye sees.
DEFAULT_TARGET_VMAF: Final = 93.0
ASPECT_MODES: Final = ("pad", "crop", "stretch")
GIF_MAX_FPS: Final = 30.0
GIF_MAX_WIDTH_PX: Final = 1280
# Without a width, a GIF is the video's width up to this, a WEBM up to the other.
GIF_DEFAULT_WIDTH_PX: Final = 480
WEBM_DEFAULT_MAX_WIDTH_PX: Final = 1920

# A rule between fields, given every field's parsed value; raises BadParam.
Rule = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Checked:
    """Every field's parsed value, and every problem found (none: the request is fine)."""

    values: dict[str, Any]
    problems: tuple[BadParam, ...]


@dataclass(frozen=True, slots=True)
class OpSpec:
    name: str
    # One line (the CLI's command list, the TUI's form) and a paragraph (`vcs OP --help`).
    summary: str
    description: str
    fields: tuple[Field, ...]
    rules: tuple[Rule, ...] = ()

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def check(self, doc: Mapping[str, Any]) -> Checked:
        """Each field of `doc`, then the rules between them once every field is valid."""
        values: dict[str, Any] = {}
        problems: list[BadParam] = []
        for f in self.fields:
            try:
                values[f.name] = f.parse(doc)
            except BadParam as problem:
                problems.append(problem)
        if not problems:
            for rule in self.rules:
                try:
                    rule(values)
                except BadParam as problem:
                    problems.append(problem)
                    break
        return Checked(values, tuple(problems))

    def parse(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The server's static check: the normalised values, or the first problem raised."""
        checked = self.check(doc)
        if checked.problems:
            raise checked.problems[0]
        return checked.values


def _side(name: str, label: str, default_text: str) -> Number:
    return Number(
        name=name,
        label=label,
        help=f"{name} in pixels",
        low=MIN_SIDE_PX,
        high=MAX_SIDE_PX,
        whole=True,
        even=True,
        unit="pixels",
        example=1280,
        default_text=default_text,
        metavar="PX",
    )


START: Final = Time(
    name="start", label="start", help="where the clip starts", default=0.0, metavar="TIME"
)
END: Final = Time(
    name="end",
    label="end",
    help=f"where it ends, at most {MAX_SPAN_S:g} s after the start",
    default_text=f"the end of the video (at most {MAX_SPAN_S:g} s)",
)


def _span_rule(values: dict[str, Any]) -> None:
    start, end = values["start"], values["end"]
    if end is None:
        return
    if end <= start:
        raise BadParam(
            "end",
            "must be after start",
            f"end {end:g} is not after start {start:g}.",
            "Pick an end later than the start, e.g. start 3 and end 6.",
        )
    if round(end - start, 3) > MAX_SPAN_S:  # times are whole milliseconds
        raise BadParam(
            "end",
            f"at most {MAX_SPAN_S:g} s after start",
            f"The span {start:g}..{end:g} s is {end - start:g} s long; "
            f"at most {MAX_SPAN_S:g} s are allowed.",
            f"Pick end ≤ {start + MAX_SPAN_S:g}, or a later start.",
        )


def _resize_rule(values: dict[str, Any]) -> None:
    has_size = values["width"] is not None or values["height"] is not None
    if values["preset"] is not None and has_size:
        raise BadParam(
            "preset",
            "a preset or a width/height, not both",
            "Give either a preset or width/height, not both.",
            'Send e.g. "preset": "720p", or "width": 1280 (the height follows).',
        )
    if values["preset"] is None and not has_size:
        raise BadParam(
            "",
            "give a width, a height or a preset",
            "resize needs a width, a height or a preset.",
            'Send e.g. "width": 1280, or "preset": "720p" (480p, 720p, 1080p, 1440p, 2160p).',
        )


UPLOAD_OPS: Final[dict[str, OpSpec]] = {
    spec.name: spec
    for spec in (
        OpSpec(
            "compress",
            "make a video smaller while it looks the same",
            "Upload FILE, let the server pick the encoder settings, download the smaller "
            "result. Every sound and subtitle track, chapters and tags are kept; HDR stays "
            "HDR unless you ask for h264. If the input is already well compressed it comes "
            "back unchanged. How the server chooses: docs/compression.md.",
            (
                Choice(
                    name="codec",
                    label="codec",
                    help="video codec of the result (h264 plays everywhere; h265 and av1 "
                    "keep HDR, h264 tone-maps it to SDR)",
                    options=VIDEO_CODECS,
                    default_text="h264, or h265 for HDR input",
                ),
                Number(
                    name="target_vmaf",
                    label="target VMAF",
                    help="quality to aim at (93 looks like the original; higher keeps more "
                    "detail, lower makes smaller files)",
                    low=60,
                    high=99,
                    default=DEFAULT_TARGET_VMAF,
                    example=90,
                    metavar="SCORE",
                ),
            ),
        ),
        OpSpec(
            "resize",
            "scale a video to a new size (result: MP4)",
            "Upload FILE and get it back at a new size as MP4 (H.264, or HEVC 10-bit for "
            "HDR; every sound and subtitle track kept; MKV when it has picture subtitles "
            "or fonts). Give --width and/or --height, or --preset. Sizes are as the video "
            "is shown (a portrait phone clip is portrait). With only one side the other "
            "follows the picture's shape; with both the picture is scaled to exactly that "
            "size.",
            (
                _side("width", "width (px)", "follows the height"),
                _side("height", "height (px)", "follows the width"),
                Choice(
                    name="preset",
                    label="preset",
                    help="a standard size by its short side: 720p makes a 16:9 video "
                    "1280x720 and a portrait one 720x1280 (not with width/height)",
                    options=tuple(PRESET_LINES),
                    default_text="none",
                ),
                Flag(
                    name="upscale",
                    label="upscale",
                    help="let a preset enlarge a video smaller than it (without, such a "
                    "video keeps its size and the report says so)",
                ),
            ),
            (_resize_rule,),
        ),
        OpSpec(
            "aspect",
            "change the display aspect ratio (result: MP4)",
            "Upload FILE and get it back with the display aspect ratio --ratio, as MP4. "
            "The way there is --mode: pad adds black bars (letterbox/pillarbox, nothing "
            "lost), crop cuts the centre out (frame filled, edges lost), stretch rescales "
            "(all kept, shapes distorted).",
            (
                Ratio(
                    name="ratio",
                    label="ratio",
                    help="the display aspect ratio to produce",
                    required=True,
                ),
                Choice(
                    name="mode",
                    label="mode",
                    help="pad adds bars, crop cuts, stretch distorts",
                    options=ASPECT_MODES,
                    default="pad",
                ),
            ),
        ),
        OpSpec(
            "audio",
            "extract the sound track as MP3",
            "Upload FILE and get its default (else first) audio track back as MP3 (LAME). "
            "A file without sound is refused with no_audio.",
            (
                Mp3Bitrate(
                    name="bitrate",
                    label="bitrate",
                    help="constant bit rate in kbit/s",
                    default_text="variable, about 190k",
                ),
            ),
        ),
        OpSpec(
            "gif",
            "turn a part of a video into an animated GIF",
            "Upload FILE and get the part --start..--end back as a looping GIF with a "
            f"palette made for its frames. Spans are at most {MAX_SPAN_S:g} s; results "
            "over 256 MiB are refused.",
            (
                START,
                END,
                Number(
                    name="fps",
                    label="fps",
                    help="frames per second",
                    low=1,
                    high=GIF_MAX_FPS,
                    default=12.0,
                    example=12,
                    metavar="FPS",
                ),
                Number(
                    name="width",
                    label="width (px)",
                    help="width in pixels, not wider than the video; the height follows",
                    low=MIN_SIDE_PX,
                    high=GIF_MAX_WIDTH_PX,
                    whole=True,
                    unit="pixels",
                    example=320,
                    default_text=f"the video's, up to {GIF_DEFAULT_WIDTH_PX}",
                    metavar="PX",
                ),
            ),
            (_span_rule,),
        ),
        OpSpec(
            "webm",
            "cut a part of a video as WEBM (VP9 + Opus)",
            "Upload FILE and get the part --start..--end back as WEBM: VP9 video, every "
            "sound track as Opus, text subtitles as WebVTT. HDR is tone-mapped to SDR "
            f"unless --keep-hdr. Spans are at most {MAX_SPAN_S:g} s.",
            (
                START,
                END,
                _side(
                    "width",
                    "width (px)",
                    f"the video's, up to {WEBM_DEFAULT_MAX_WIDTH_PX}",
                ),
                Flag(
                    name="keep_hdr",
                    label="keep HDR",
                    help="keep HDR video HDR (VP9 profile 2, 10-bit; not every browser shows "
                    "it right) instead of tone-mapping it to SDR",
                ),
            ),
            (_span_rule,),
        ),
        OpSpec(
            "convert",
            "put a video in another container (mkv, mov, avi, webm, mp4, ...)",
            "Upload FILE and get it back in the container --format. Streams the container "
            "can hold are copied untouched (fast, lossless; a copied video keeps its "
            "rotation tag); only the others are re-encoded (e.g. AAC becomes MP3 in AVI; "
            "WEBM takes only VP8/VP9/AV1 and Opus/Vorbis). Every sound and subtitle track "
            "is kept where the container can hold it (text subtitles converted); the "
            "report lists what was not.",
            (
                FormatName(
                    name="format",
                    label="format",
                    help="the container to produce, any the server's FFmpeg writes (mp4, "
                    "mkv, mov, webm, avi, ts, flv, ogv, mpg, ...; unknown names are refused "
                    "with suggestions)",
                    required=True,
                ),
            ),
        ),
    )
}

# Every upload also takes these (the server checks them before storing a byte).
SHA256: Final = Sha256(
    name="sha256",
    label="SHA-256",
    help="the payload's SHA-256; a mismatch is refused and nothing is stored",
)
TRAILER: Final = Choice(
    name="trailer",
    label="trailer",
    help='the payload\'s SHA-256 follows it, in a message of its own ({"sha256": HEX}), '
    "checked before anything is stored: the sender hashes while it sends (not with 'sha256')",
    options=("sha256",),
)
FILENAME: Final = FileName(
    name="filename", label="file name", help="the file's name, used to name the result"
)
UPLOAD_FIELDS: Final = (SHA256, TRAILER, FILENAME)

JOB_ID: Final = JobId(
    name="job_id",
    label="job id",
    help="the id printed when the upload was accepted",
    required=True,  # absent, it gets the answer any unknown id gets
)
WAIT_S: Final = WaitSeconds(
    name="wait_s",
    label="wait",
    help="answer when the job's state changes, its progress moves 1%, or after this long",
    default=0.0,
    most_s=MAX_STATUS_WAIT_S,
)
QUERY_OPS: Final[dict[str, OpSpec]] = {
    spec.name: spec
    for spec in (
        OpSpec("status", "show a job's state and progress", "", (JOB_ID, WAIT_S)),
        OpSpec(
            "download",
            "download a finished job's result (then it is deleted)",
            "",
            (JOB_ID,),
        ),
        OpSpec("cancel", "cancel a job (or discard a finished result)", "", (JOB_ID,)),
    )
}
