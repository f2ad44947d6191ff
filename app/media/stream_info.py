"""One stream of an input as the probe lists it: kind, codec, language, title, dispositions.

Every stream is listed (video, audio, subtitle, attachment, data), so an op can say
what became of each one (SPEC §3.1: "the job report lists every stream in and out").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# FFmpeg's disposition flags a player or a user cares about, in FFmpeg's names.
DISPOSITIONS: Final = (
    "default",
    "dub",
    "original",
    "comment",
    "lyrics",
    "karaoke",
    "forced",
    "hearing_impaired",
    "visual_impaired",
    "clean_effects",
    "attached_pic",
    "captions",
    "descriptions",
)
UNDETERMINED_LANGUAGE: Final = "und"
STREAM_KINDS: Final = frozenset({"video", "audio", "subtitle", "attachment", "data"})


@dataclass(frozen=True, slots=True)
class StreamInfo:
    index: int  # in the file: `-map 0:INDEX`
    kind: str  # video, audio, subtitle, attachment, data, unknown
    codec: str  # FFmpeg's codec name: h264, aac, subrip, hdmv_pgs_subtitle, ttf, ...
    language: str = ""  # ISO 639-2 as tagged ("" when untagged or "und")
    title: str = ""
    dispositions: tuple[str, ...] = ()
    channels: int = 0
    sample_rate: int = 0
    bit_rate: int | None = None
    width: int = 0
    height: int = 0
    # Attachments (Matroska fonts): the file's name and MIME type.
    filename: str = ""
    mimetype: str = ""

    @property
    def is_default(self) -> bool:
        return "default" in self.dispositions

    @property
    def is_cover_art(self) -> bool:
        return "attached_pic" in self.dispositions

    def describe(self) -> dict[str, object]:
        """The stream as the job report lists it."""
        doc: dict[str, object] = {"index": self.index, "kind": self.kind, "codec": self.codec}
        if self.language:
            doc["language"] = self.language
        if self.title:
            doc["title"] = self.title
        if self.dispositions:
            doc["dispositions"] = list(self.dispositions)
        if self.filename:
            doc["filename"] = self.filename
        return doc


def stream_dispositions(flags: int, names_to_bits: dict[str, int]) -> tuple[str, ...]:
    """The names of the disposition bits set in `flags` (PyAV's Disposition values)."""
    return tuple(name for name in DISPOSITIONS if flags & names_to_bits.get(name, 0))


def language_tag(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    return "" if text == UNDETERMINED_LANGUAGE else text[:16]


def title_tag(metadata: dict[str, str]) -> str:
    """Matroska says `title`, MP4 `name` (FFmpeg reads a track's name as either)."""
    for key in ("title", "name", "TITLE", "NAME"):
        if value := metadata.get(key):
            return value.strip()[:200]
    return ""
