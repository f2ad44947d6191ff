"""What a job report says was kept of the input: the container and why, every stream's
fate, chapters, the source's orientation and colour, and what became of its HDR."""

from __future__ import annotations

from typing import Any

from app.media.probe import MediaInfo
from app.media.stream_plan import StreamPlan, VideoResult
from app.media.video_treatment import VideoTreatment


def fidelity_report(
    info: MediaInfo, result: VideoResult | None, plan: StreamPlan, treatment: VideoTreatment | None
) -> dict[str, Any]:
    """What the report says about what was kept: streams, chapters, HDR, orientation."""
    doc: dict[str, Any] = {}
    if result is not None:
        doc["container"] = result.container
        if result.reason:
            doc["container_note"] = result.reason
    if info.video is not None:
        doc["source_orientation"] = info.video.orientation.describe()
        doc["source_colour"] = info.video.colour.describe()
    if treatment is not None:
        doc.update(treatment.report())
    doc["chapters"] = info.chapters
    doc["streams"] = plan.report()
    return doc
