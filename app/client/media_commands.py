"""The `vcs` subcommands of the media ops: resize, aspect, audio, gif, webm, convert.

Each maps its flags to the op's JSON parameters (SPEC §2.1); the server validates them
again (and refuses before the upload goes through), so the checks here only catch typos
early. Times go as numbers when they are plain seconds, else as typed (`00:01:02.5`).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any, Final

AddUploadCommand = Callable[[Any, str, str, str], argparse.ArgumentParser]

PRESETS: Final = ("480p", "720p", "1080p", "1440p", "2160p")
TIME_HELP: Final = "seconds (12.5) or [HH:]MM:SS[.mmm] (00:00:12.500)"
_TIME_RE: Final = re.compile(r"(\d{1,3}:)?\d{1,2}:\d{1,2}(\.\d{1,6})?", re.ASCII)


def _time(text: str) -> float | str:
    try:
        value = float(text)
    except ValueError:
        if _TIME_RE.fullmatch(text.strip()):
            return text.strip()
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use {TIME_HELP})") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (0 or more seconds)")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    return value


def _bitrate(text: str) -> int:
    digits = text.strip().lower().removesuffix("k")
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not a bit rate: {text!r} (e.g. 192 or 192k)")
    return int(digits)


def _given(**params: object) -> dict[str, Any]:
    """The parameters the user gave (the server applies its defaults to the rest)."""
    return {key: value for key, value in params.items() if value is not None}


def _add_span(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--start", type=_time, default=None, help=f"where the clip starts: {TIME_HELP}; default 0"
    )
    p.add_argument(
        "--end",
        type=_time,
        default=None,
        help=f"where it ends: {TIME_HELP}; default the end of the video. "
        "At most 60 s after the start.",
    )


def add_media_commands(sub: Any, add_upload_command: AddUploadCommand) -> None:
    p = add_upload_command(
        sub,
        "resize",
        "scale a video to a new size (result: MP4)",
        "Upload FILE and get it back at a new size as MP4 (H.264, or HEVC 10-bit for HDR; "
        "every sound and subtitle track kept; MKV when it has picture subtitles or fonts). "
        "Give --width and/or --height, or --preset. Sizes are as the video is shown (a "
        "portrait phone clip is portrait). With only one side the other follows the "
        "picture's shape; with both the picture is scaled to exactly that size.",
    )
    p.add_argument("--width", type=int, help="width in pixels: even, 16..7680")
    p.add_argument("--height", type=int, help="height in pixels: even, 16..7680")
    p.add_argument(
        "--preset",
        choices=PRESETS,
        help="a standard size by its short side: 720p makes a 16:9 video 1280x720 and a "
        "portrait one 720x1280 (not with --width/--height)",
    )
    p.add_argument(
        "--upscale",
        action="store_true",
        default=None,
        help="let --preset enlarge a video smaller than it (without, such a video keeps its "
        "size and the report says so); --width/--height are always honoured",
    )
    p.set_defaults(
        params=lambda a: _given(width=a.width, height=a.height, preset=a.preset, upscale=a.upscale)
    )

    p = add_upload_command(
        sub,
        "aspect",
        "change the display aspect ratio (result: MP4)",
        "Upload FILE and get it back with the display aspect ratio --ratio, as MP4. "
        "The way there is --mode: pad adds black bars (letterbox/pillarbox, nothing lost), "
        "crop cuts the centre out (frame filled, edges lost), stretch rescales (all kept, "
        "shapes distorted).",
    )
    p.add_argument(
        "--ratio",
        required=True,
        metavar="W:H",
        help="the display aspect ratio to produce: 16:9, 4:3, 1:1, 9:16, 21:9, 2.39:1 ... "
        "(between 1:10 and 10:1)",
    )
    p.add_argument(
        "--mode", choices=("pad", "crop", "stretch"), help="pad (default), crop or stretch"
    )
    p.set_defaults(params=lambda a: _given(ratio=a.ratio, mode=a.mode))

    p = add_upload_command(
        sub,
        "audio",
        "extract the sound track as MP3",
        "Upload FILE and get its default (else first) audio track back as MP3 (LAME). "
        "A file without sound is refused with no_audio.",
    )
    p.add_argument(
        "--bitrate",
        type=_bitrate,
        metavar="KBPS",
        help="constant bit rate in kbit/s: 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, "
        "224, 256 or 320 (192k works too); default: variable, about 190k",
    )
    p.set_defaults(params=lambda a: _given(bitrate=a.bitrate))

    p = add_upload_command(
        sub,
        "gif",
        "turn a part of a video into an animated GIF",
        "Upload FILE and get the part --start..--end back as a looping GIF with a palette "
        "made for its frames. Spans are at most 60 s; results over 256 MiB are refused.",
    )
    _add_span(p)
    p.add_argument("--fps", type=_finite, help="frames per second, 1..30 (default 12)")
    p.add_argument(
        "--width",
        type=int,
        help="width in pixels, 16..1280 and not wider than the video (default 480, or the "
        "video's width if smaller); the height follows",
    )
    p.set_defaults(params=lambda a: _given(start=a.start, end=a.end, fps=a.fps, width=a.width))

    p = add_upload_command(
        sub,
        "webm",
        "cut a part of a video as WEBM (VP9 + Opus)",
        "Upload FILE and get the part --start..--end back as WEBM: VP9 video, Opus sound "
        "(when the input has sound). Spans are at most 60 s.",
    )
    _add_span(p)
    p.add_argument(
        "--width",
        type=int,
        help="width in pixels: even, 16..7680, not wider than the video (default: the "
        "video's own, up to 1920); the height follows",
    )
    p.add_argument(
        "--keep-hdr",
        action="store_true",
        default=None,
        help="keep HDR video HDR (VP9 profile 2, 10-bit; not every browser shows it "
        "right); by default it is tone-mapped to SDR",
    )
    p.set_defaults(
        params=lambda a: _given(start=a.start, end=a.end, width=a.width, keep_hdr=a.keep_hdr)
    )

    p = add_upload_command(
        sub,
        "convert",
        "put a video in another container (mkv, mov, avi, webm, mp4, ...)",
        "Upload FILE and get it back in the container --format. Streams the container can "
        "hold are copied untouched (fast, lossless; a copied video keeps its rotation tag); "
        "only the others are re-encoded (e.g. AAC becomes MP3 in AVI; WEBM takes only "
        "VP8/VP9/AV1 and Opus/Vorbis). Every audio and subtitle track is kept where the "
        "container can hold it (text subtitles converted); the report lists what was not.",
    )
    p.add_argument(
        "--format",
        required=True,
        help="any output format of the server's FFmpeg: mp4, mkv, mov, webm, avi, ts, flv, "
        "ogv, mpg, ... (unknown names are refused with suggestions)",
    )
    p.set_defaults(params=lambda a: {"format": a.format})
