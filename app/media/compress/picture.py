"""How the compress op reads its source's picture: the stream, the preparation, and
what both sides go through before the metric (see argv.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

EVEN_CROP: Final = "crop=trunc(iw/2)*2:trunc(ih/2)*2"
PREPARE_VIDEO: Final = f"{EVEN_CROP},format=yuv420p"


@dataclass(frozen=True, slots=True)
class SourcePicture:
    """How the source's video is read: which stream, the chain preparing it for the
    encoder, and what both sides go through before the metric."""

    index: int = 0
    prepare: str = PREPARE_VIDEO
    to_metric: str = ""
    pixel_format: str = "yuv420p"

    def already_prepared(self) -> SourcePicture:
        """The same frames read back from the raw samples we wrote (stream 0, prepared)."""
        return replace(self, index=0, prepare=f"{EVEN_CROP},format={self.pixel_format}")

    @property
    def bytes_per_sample(self) -> int:
        return 2 if "10" in self.pixel_format else 1


PLAIN_PICTURE: Final = SourcePicture()


def source_picture(index: int, pixel_format: str, tonemap: str, to_metric: str) -> SourcePicture:
    """`tonemap` (HDR encoded as SDR) first, then even sides in `pixel_format`."""
    prepare = ",".join(part for part in (tonemap, EVEN_CROP, f"format={pixel_format}") if part)
    return SourcePicture(index, prepare, to_metric, pixel_format)
