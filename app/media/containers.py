"""Which codecs an output container can hold, and what to encode the others to.

`convert` (and the MP4 results of resize/aspect) copy every stream the target holds
well and re-encode only the others (SPEC §2.1). For the common containers the rules
below say what "holds well" means (AVI can store AAC, but players choke on it: MP3
instead). For any other muxer the rule is the one FFmpeg itself documents: a stream
is copied when its codec is the muxer's default, else encoded to that default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from app.media.capabilities import MuxerDetails


@dataclass(frozen=True, slots=True)
class Encoder:
    """An encoder and its options, written without stream specifiers (argv adds them)."""

    name: str
    options: tuple[tuple[str, str], ...] = ()
    # A filter the encoder needs in front of it (e.g. even sides for 4:2:0).
    video_filter: str | None = None


EVEN_SIDES: Final = "scale=trunc(iw/2)*2:trunc(ih/2)*2"
X264: Final = Encoder(
    "libx264", (("preset", "medium"), ("crf", "20"), ("pix_fmt", "yuv420p")), EVEN_SIDES
)
# `-deadline good -cpu-used 4 -row-mt 1`: libvpx's speed/quality middle ground, using
# both cores; its defaults (cpu-used 1, one thread) are several times slower.
VP9: Final = Encoder(
    "libvpx-vp9",
    (
        ("crf", "32"),
        ("b", "0"),
        ("deadline", "good"),
        ("cpu-used", "4"),
        ("row-mt", "1"),
        ("pix_fmt", "yuv420p"),
    ),
    EVEN_SIDES,
)
THEORA: Final = Encoder("libtheora", (("q", "7"), ("pix_fmt", "yuv420p")), EVEN_SIDES)
AAC: Final = Encoder("aac", (("b", "160k"),))
MP3: Final = Encoder("libmp3lame", (("q", "2"),))
OPUS: Final = Encoder("libopus", (("b", "128k"),))
VORBIS: Final = Encoder("libvorbis", (("q", "5"),))

# Encoders for a muxer's default codec when it is one of these (else FFmpeg's choice).
_BY_CODEC: Final = {
    "h264": X264,
    "vp9": VP9,
    "theora": THEORA,
    "aac": AAC,
    "mp3": MP3,
    "opus": OPUS,
    # FFmpeg's own "vorbis" encoder is experimental and refuses to run without -strict.
    "vorbis": VORBIS,
}
# Audio-only muxers name an image codec as their "video" default: it is for cover art.
_COVER_ART_CODECS: Final = frozenset({"png", "mjpeg", "bmp", "gif", "webp"})


@dataclass(frozen=True, slots=True)
class ContainerRule:
    """Codecs copied as they are (None: any), and the encoders for the rest."""

    video_copy: frozenset[str] | None
    audio_copy: frozenset[str] | None
    video_encoder: Encoder | None
    audio_encoder: Encoder | None
    extra_args: tuple[str, ...] = ()
    # (codec, option, value) for copied streams: hvc1 tags for HEVC in MP4 (Apple players
    # want it); Annex B start codes for H.264 in AVI (the muxer does not convert them).
    copy_options: tuple[tuple[str, str, str], ...] = ()
    # Subtitle codecs copied as they are; text subtitles of other codecs are converted
    # to `text_subtitles` (None: the container holds no text subtitles).
    subtitle_copy: frozenset[str] = frozenset()
    text_subtitles: str | None = None
    attachments: bool = False  # fonts and other files (Matroska only)
    # A copied video keeps its display matrix (rotation tag) here.
    rotation_tag: bool = False
    # MP4/MOV: a track's title also as its handler name, which more players show (FFmpeg
    # before 6 and many players read the `hdlr` name, not the `udta` name).
    title_as_handler: bool = False


# Subtitles FFmpeg decodes to text (any of them converts to any text format) and to
# pictures (those convert to nothing else).
TEXT_SUBTITLES: Final = frozenset(
    {"subrip", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd", "subviewer"}
    | {"subviewer1", "sami", "realtext", "jacosub", "mpl2", "pjs", "vplayer", "stl", "ttml"}
)
BITMAP_SUBTITLES: Final = frozenset({"dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle", "xsub"})
MKV_SUBTITLES: Final = frozenset(
    {"subrip", "ass", "ssa", "webvtt", "text", "hdmv_pgs_subtitle", "dvd_subtitle"}
    | {"dvb_subtitle"}
)
_MP4_AUDIO: Final = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})
MP4_RULE: Final = ContainerRule(
    frozenset({"h264", "hevc", "av1", "vp9", "mpeg4", "mpeg2video", "mpeg1video"}),
    _MP4_AUDIO,
    X264,
    AAC,
    ("-movflags", "+faststart"),
    (("hevc", "tag", "hvc1"),),
    subtitle_copy=frozenset({"mov_text"}),
    text_subtitles="mov_text",
    rotation_tag=True,
    title_as_handler=True,
)
# Matroska holds nearly every codec: copy all.
MATROSKA_RULE: Final = ContainerRule(
    None,
    None,
    X264,
    OPUS,
    subtitle_copy=MKV_SUBTITLES,
    text_subtitles="srt",
    attachments=True,
    rotation_tag=True,
)
WEBM_RULE: Final = ContainerRule(
    frozenset({"vp8", "vp9", "av1"}),
    frozenset({"opus", "vorbis"}),
    VP9,
    OPUS,
    subtitle_copy=frozenset({"webvtt"}),
    text_subtitles="webvtt",
    rotation_tag=True,
)
_PCM: Final = frozenset({"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le"})
KNOWN_RULES: Final[dict[str, ContainerRule]] = {
    "mp4": MP4_RULE,
    "ipod": MP4_RULE,
    "3gp": MP4_RULE,
    "mov": ContainerRule(
        frozenset({"h264", "hevc", "mpeg4", "mjpeg", "prores", "mpeg2video", "av1"}),
        _MP4_AUDIO - {"opus", "flac"} | _PCM,
        X264,
        AAC,
        ("-movflags", "+faststart"),
        (("hevc", "tag", "hvc1"),),
        subtitle_copy=frozenset({"mov_text"}),
        text_subtitles="mov_text",
        rotation_tag=True,
        title_as_handler=True,
    ),
    "matroska": MATROSKA_RULE,
    "webm": WEBM_RULE,
    "avi": ContainerRule(
        frozenset({"h264", "mpeg4", "mjpeg", "msmpeg4v2", "msmpeg4v3", "mpeg2video"}),
        frozenset({"mp3", "mp2", "ac3"}) | _PCM,
        X264,
        MP3,
        copy_options=(("h264", "bsf", "h264_mp4toannexb"),),
    ),
    "flv": ContainerRule(frozenset({"h264", "flv1"}), frozenset({"aac", "mp3"}), X264, AAC),
    "mpegts": ContainerRule(
        frozenset({"h264", "hevc", "mpeg2video", "mpeg1video"}),
        frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "opus"}),
        X264,
        AAC,
        subtitle_copy=frozenset({"dvb_subtitle", "dvb_teletext"}),
    ),
    "ogg": ContainerRule(
        frozenset({"theora", "vp8"}), frozenset({"vorbis", "opus", "flac"}), THEORA, VORBIS
    ),
}
KNOWN_RULES["ogv"] = KNOWN_RULES["ogg"]


def rule_for(muxer: MuxerDetails) -> ContainerRule:
    """The table's rule, else one derived from the muxer's default codecs."""
    if muxer.name in KNOWN_RULES:
        return KNOWN_RULES[muxer.name]
    video = muxer.default_video if muxer.default_video not in _COVER_ART_CODECS else None
    audio = muxer.default_audio
    return ContainerRule(
        video_copy=frozenset({video}) if video else frozenset(),
        audio_copy=frozenset({audio}) if audio else frozenset(),
        video_encoder=_BY_CODEC.get(video, Encoder(video)) if video else None,
        audio_encoder=_BY_CODEC.get(audio, Encoder(audio)) if audio else None,
    )
