"""Real-shaped test media made by our own FFmpeg: a phone clip turned by its display
matrix, HDR10 and HLG in 10-bit HEVC with mastering metadata, an MKV with two audio
tracks, text and picture subtitles, chapters and a font, and a variable-frame-rate clip.

Small (320x180 to 640x360, 1–3 s) so the suite stays fast, but built the way phones,
cameras and movie rips are: the picture stored as the sensor saw it plus a display
matrix; PQ/HLG signals (an SDR picture converted to them, so tone-mapping back has a
known answer); tracks with languages, titles and dispositions.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Final

from app.media.ffmpeg_exe import find_ffmpeg

MASTER_DISPLAY: Final = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
MAX_CLL: Final = "1000,400"
# An SDR picture carried in BT.2020 PQ or HLG: what a grading for a 100-nit display is.
_SDR_TAGS: Final = "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"
_TO_LINEAR: Final = f"format=yuv444p,{_SDR_TAGS},zscale=t=linear:npl=100,format=gbrpf32le"
TO_PQ: Final = f"{_TO_LINEAR},zscale=p=bt2020:t=smpte2084:m=bt2020nc:r=tv,format=yuv420p10le"
TO_HLG: Final = f"{_TO_LINEAR},zscale=p=bt2020:t=arib-std-b67:m=bt2020nc:r=tv,format=yuv420p10le"
FONT: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def ffmpeg(*args: str) -> None:
    argv = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(argv, check=True, timeout=300)


def _source(size: str, seconds: float, rate: int = 25) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def _tone(seconds: float, frequency: int = 440) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000:duration={seconds}"]


def phone_clip(path: Path, *, size: str = "640x360", seconds: float = 2.0) -> Path:
    """A portrait phone clip: pixels stored landscape (`size`), a display matrix turning
    them 90° clockwise (what FFmpeg prints as "rotation of -90.00 degrees"), AAC sound."""
    flat = path.with_name(f"{path.stem}-flat.mp4")
    ffmpeg(
        *_source(size, seconds),
        *_tone(seconds),
        *("-c:v", "libx264", "-preset", "ultrafast", "-qp", "14", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "96k", "-shortest", str(flat)),
    )
    # -display_rotation is an input option (FFmpeg 7+): a copy gets the matrix.
    ffmpeg("-display_rotation", "-90", "-i", str(flat), "-c", "copy", str(path))
    flat.unlink()
    return path


def hdr_clip(
    path: Path, transfer: str, *, size: str = "320x180", seconds: float = 1.5, crf: int = 16
) -> Path:
    """10-bit HEVC (x265 Main10) in PQ (`smpte2084`, HDR10 with mastering display and
    content light metadata) or HLG (`arib-std-b67`), with AAC sound; a lower `crf`
    leaves more for compress to take."""
    pq = transfer == "smpte2084"
    params = "log-level=error:repeat-headers=1"
    if pq:
        params += f":hdr10=1:master-display={MASTER_DISPLAY}:max-cll={MAX_CLL}"
    ffmpeg(
        *_source(size, seconds),
        *_tone(seconds),
        *("-vf", TO_PQ if pq else TO_HLG),
        *("-c:v", "libx265", "-preset", "ultrafast", "-crf", str(crf), "-x265-params", params),
        *("-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc"),
        *("-c:a", "aac", "-b:a", "96k", "-shortest", "-tag:v", "hvc1", str(path)),
    )
    return path


def _rle_line(pixels: list[int]) -> bytes:
    """One line of 2-bit pixels in the DVD subtitle run-length code (nibbles)."""
    nibbles: list[int] = []
    i = 0
    while i < len(pixels):
        colour, run = pixels[i], 1
        while i + run < len(pixels) and pixels[i + run] == colour and run < 255:
            run += 1
        if i + run == len(pixels):
            nibbles += [0, 0, 0, colour]  # to the end of the line
        elif run < 4:
            nibbles += [run << 2 | colour]
        elif run < 16:
            nibbles += [run >> 2, (run & 3) << 2 | colour]
        elif run < 64:
            nibbles += [0, run >> 2, (run & 3) << 2 | colour]
        else:
            nibbles += [0, run >> 6, (run >> 2) & 15, (run & 3) << 2 | colour]
        i += run
    if len(nibbles) % 2:
        nibbles.append(0)
    return bytes(nibbles[k] << 4 | nibbles[k + 1] for k in range(0, len(nibbles), 2))


def dvd_subtitle_packet(width: int, height: int, x: int, y: int, shown_ms: int) -> bytes:
    """One DVD subtitle (SPU): a checkered band, its position, shown for `shown_ms`."""
    picture = [
        [
            (1 if (row // 4 + col // 8) % 2 else 2) if 2 <= row < height - 2 else 0
            for col in range(width)
        ]
        for row in range(height)
    ]
    top = b"".join(_rle_line(picture[r]) for r in range(0, height, 2))
    bottom = b"".join(_rle_line(picture[r]) for r in range(1, height, 2))
    top_at, bottom_at = 4, 4 + len(top)
    control_at = bottom_at + len(bottom)
    x2, y2 = x + width - 1, y + height - 1
    show = [0x01, 0x03, 0x01, 0x23, 0x04, 0xFF, 0xF0]  # show, palette, alpha
    where = [0x05, x >> 4, (x & 15) << 4 | x2 >> 8, x2 & 255]
    where += [y >> 4, (y & 15) << 4 | y2 >> 8, y2 & 255]
    lines = [0x06, top_at >> 8, top_at & 255, bottom_at >> 8, bottom_at & 255, 0xFF]
    commands = bytes([*show, *where, *lines])
    second_at = control_at + 4 + len(commands)
    first = bytes([0, 0, second_at >> 8, second_at & 255]) + commands
    delay = shown_ms * 90 // 1024  # in units of 1024/90000 s
    second = bytes([delay >> 8, delay & 255, second_at >> 8, second_at & 255, 0x02, 0xFF])
    body = top + bottom + first + second
    size = 4 + len(body)
    return bytes([size >> 8, size & 255, control_at >> 8, control_at & 255]) + body


def dvd_subtitles(path: Path, cues_ms: list[tuple[int, int]]) -> Path:
    """A Matroska file holding one dvd_subtitle track (FFmpeg cannot encode text into
    pictures, so the packets are made here and muxed with PyAV)."""
    import av

    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_mux_stream("dvd_subtitle")
        stream.time_base = Fraction(1, 1000)
        for n, (start_ms, shown_ms) in enumerate(cues_ms):
            packet = av.Packet(dvd_subtitle_packet(96, 24, 40 + 8 * n, 140, shown_ms))
            packet.stream = stream
            packet.pts = packet.dts = start_ms
            packet.duration = shown_ms
            packet.time_base = Fraction(1, 1000)
            out.mux(packet)
    return path


SRT: Final = "1\n00:00:00,200 --> 00:00:01,000\nHello\n\n2\n00:00:01,200 --> 00:00:01,900\nWorld\n"
CHAPTERS: Final = (
    ";FFMETADATA1\ntitle=Fidelity test\nartist=VCS\n"
    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Opening\n"
    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Ending\n"
)


def movie_mkv(path: Path, *, pictures: bool = True, seconds: float = 2.0) -> Path:
    """A movie-shaped MKV: H.264 320x180, two Opus tracks (eng "English stereo" default,
    jpn "Japanese commentary" comment), an English SRT (default), chapters, a title;
    with `pictures` also a French DVD subtitle track (forced) and a font attachment."""
    work = path.parent
    srt = work / f"{path.stem}.srt"
    srt.write_text(SRT)
    meta = work / f"{path.stem}.ffmeta"
    meta.write_text(CHAPTERS)
    inputs = [*_source("320x180", seconds), *_tone(seconds), *_tone(seconds, 660)]
    inputs += ["-i", str(srt), "-i", str(meta)]
    maps = ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"]
    options = [
        *("-map_metadata", "4", "-map_chapters", "4"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-qp", "16", "-pix_fmt", "yuv420p"),
        *("-c:a", "libopus", "-b:a", "64k", "-c:s:0", "srt"),
        *("-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=English stereo"),
        *("-metadata:s:a:1", "language=jpn", "-metadata:s:a:1", "title=Japanese commentary"),
        *("-disposition:a:0", "default", "-disposition:a:1", "comment"),
        *("-metadata:s:s:0", "language=eng", "-metadata:s:s:0", "title=English"),
        *("-disposition:s:0", "default"),
    ]
    if pictures:
        inputs += [
            "-i",
            str(dvd_subtitles(work / f"{path.stem}-dvd.mkv", [(200, 800), (1200, 700)])),
        ]
        maps += ["-map", "5:s"]
        options += [
            "-c:s:1",
            "copy",
            "-metadata:s:s:1",
            "language=fre",
            "-disposition:s:1",
            "forced",
        ]
        options += ["-attach", str(FONT), "-metadata:s:t", "mimetype=application/x-truetype-font"]
    ffmpeg(*inputs, *maps, *options, "-t", str(seconds), str(path))
    return path


def vfr_clip(path: Path) -> Path:
    """Variable frame rate: 30 fps for the first second, then every third frame (10 fps),
    with sound; Matroska keeps each frame's own timestamp."""
    ffmpeg(
        *_source("320x180", 2.0, 30),
        *_tone(2.0),
        *("-vf", r"select=lt(t\,1)+not(mod(n\,3))", "-fps_mode", "vfr"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-qp", "16", "-pix_fmt", "yuv420p"),
        *("-c:a", "libopus", "-b:a", "64k", str(path)),
    )
    return path


SCENE_S: Final = 4.2
SCENE_SOURCES: Final = (
    "testsrc2=size={size}:rate=25:duration={s}",  # moving pattern and text
    "smptehdbars=size={size}:rate=25:duration={s}",  # still bars under grain (below)
    "mandelbrot=size={size}:rate=25,trim=duration={s}",  # slow zoom, fine detail
    "cellauto=size={size}:rate=25:rule=110,trim=duration={s}",  # every pixel moving
)


def multi_scene_clip(
    path: Path,
    *,
    shots: int = len(SCENE_SOURCES),
    size: str = "320x180",
    video_args: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-qp", "12"),
) -> Path:
    """Shots of different content and motion (the four kinds in turn), cut hard every
    4.2 s, each at 25 fps for its first half and 12.5 fps after (variable frame rate),
    with an English AAC track and SubRip subtitles, in Matroska (each frame's own
    timestamp)."""
    sources = [SCENE_SOURCES[i % len(SCENE_SOURCES)] for i in range(shots)]
    seconds = SCENE_S * shots
    subtitles = path.with_suffix(".srt")
    subtitles.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\nFirst shot\n\n"
        "2\n00:00:09,000 --> 00:00:11,000\nThird shot\n",
        encoding="utf-8",
    )
    inputs = []
    for source in sources:
        inputs += ["-f", "lavfi", "-i", source.format(size=size, s=SCENE_S)]
    inputs += [*_tone(seconds), "-i", str(subtitles)]
    prepared = [
        f"[{i}:v]{'noise=alls=30:allf=t,' if i % 4 == 1 else ''}format=yuv420p,setsar=1[s{i}]"
        for i in range(shots)
    ]
    joined = "".join(f"[s{i}]" for i in range(shots))
    half = SCENE_S / 2
    graph = ";".join(
        [
            *prepared,
            f"{joined}concat=n={shots}:v=1:a=0,"
            rf"select='lt(mod(t\,{SCENE_S})\,{half})+not(mod(n\,2))'[v]",
        ]
    )
    audio, subs = shots, shots + 1
    ffmpeg(
        *inputs,
        *("-filter_complex", graph, "-map", "[v]", "-map", f"{audio}:a", "-map", f"{subs}:s"),
        *("-fps_mode", "vfr", *video_args),
        *("-c:a", "aac", "-b:a", "96k", "-metadata:s:a:0", "language=eng", "-c:s", "srt"),
        str(path),
    )
    subtitles.unlink()
    return path
