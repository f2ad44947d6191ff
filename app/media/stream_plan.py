"""What becomes of every stream of an input in one output: copied, encoded, converted or
dropped, and why (SPEC §3.1: every audio and subtitle track, their language, title and
dispositions, chapters, metadata and attachments are kept unless the op says otherwise).

Pure: the probe's stream list and a container rule in, decisions out. argv.py turns the
kept ones into `-map`/`-c` options; the job report lists every decision.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from app.media.containers import (
    BITMAP_SUBTITLES,
    MATROSKA_RULE,
    MP4_RULE,
    TEXT_SUBTITLES,
    X264,
    ContainerRule,
    Encoder,
)
from app.media.probe import MediaInfo
from app.media.stream_info import StreamInfo
from app.media.video_treatment import X265_HDR, VideoTreatment, treat_video


class Fate(enum.StrEnum):
    COPIED = "copied"
    ENCODED = "encoded"
    CONVERTED = "converted"  # subtitles: into the container's text format
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class StreamDecision:
    source: StreamInfo
    fate: Fate
    encoder: Encoder | None = None  # ENCODED / CONVERTED
    reason: str = ""  # why it was not copied

    @property
    def kept(self) -> bool:
        return self.fate is not Fate.DROPPED

    def report(self, output_index: int | None) -> dict[str, Any]:
        doc: dict[str, Any] = {**self.source.describe(), "action": str(self.fate)}
        if self.encoder is not None:
            doc["encoder"] = self.encoder.name
        if output_index is not None:
            doc["output_index"] = output_index
        if self.reason:
            doc["reason"] = self.reason
        return doc


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """Decisions for every input stream; the kept ones in output order (main video
    first, then audio, subtitles and attachments in the input's order)."""

    decisions: tuple[StreamDecision, ...]

    @property
    def kept(self) -> tuple[StreamDecision, ...]:
        order = {"video": 0, "audio": 1, "subtitle": 2, "attachment": 3}
        kept = [d for d in self.decisions if d.kept]
        return tuple(sorted(kept, key=lambda d: (order.get(d.source.kind, 4), d.source.index)))

    def output_index(self, decision: StreamDecision) -> int | None:
        kept = self.kept
        return kept.index(decision) if decision in kept else None

    def video(self) -> StreamDecision | None:
        return next((d for d in self.kept if d.source.kind == "video"), None)

    def report(self) -> list[dict[str, Any]]:
        return [d.report(self.output_index(d)) for d in self.decisions]

    def dropped(self) -> tuple[StreamDecision, ...]:
        return tuple(d for d in self.decisions if not d.kept)


NO_STREAMS: Final = StreamPlan(())

# How an op treats its main video and each audio track: None means copy when the
# container holds the codec (else the rule's encoder).
VideoChoice = Callable[[StreamInfo], StreamDecision]
AudioChoice = Callable[[StreamInfo], StreamDecision]

NOT_MAIN_VIDEO: Final = "only the main video stream is kept (cover art and other angles are not)"
DATA_STREAM: Final = "data streams (timecodes, telemetry, menus) are not carried"


def copy_or_encode(
    rule_copies: frozenset[str] | None, encoder: Encoder | None, why: str
) -> Callable[[StreamInfo], StreamDecision]:
    """Copied when the container holds the codec, else encoded (or dropped: no encoder)."""

    def decide(stream: StreamInfo) -> StreamDecision:
        if rule_copies is None or stream.codec in rule_copies:
            return StreamDecision(stream, Fate.COPIED)
        if encoder is None:
            return StreamDecision(stream, Fate.DROPPED, reason=f"{why} holds no {stream.kind}")
        return StreamDecision(stream, Fate.ENCODED, encoder, f"{why} does not hold {stream.codec}")

    return decide


def subtitle_decision(rule: ContainerRule, container: str, stream: StreamInfo) -> StreamDecision:
    if stream.codec in rule.subtitle_copy:
        return StreamDecision(stream, Fate.COPIED)
    if stream.codec in TEXT_SUBTITLES and rule.text_subtitles is not None:
        return StreamDecision(
            stream,
            Fate.CONVERTED,
            Encoder(rule.text_subtitles),
            f"{container} holds text subtitles as {rule.text_subtitles}",
        )
    if stream.codec in BITMAP_SUBTITLES:
        why = f"{container} cannot hold picture subtitles ({stream.codec})"
    elif stream.codec in TEXT_SUBTITLES:
        why = f"{container} holds no subtitles"
    else:
        why = f"{stream.codec} subtitles cannot be read or converted by this server"
    return StreamDecision(stream, Fate.DROPPED, reason=why)


def plan_output_streams(
    info: MediaInfo,
    rule: ContainerRule,
    container: str,
    video: VideoChoice | None,
    audio: AudioChoice | None,
    *,
    subtitles: bool = True,
    dropped_reason: str = "",
) -> StreamPlan:
    """Every stream's fate in one output. `video`/`audio` None: the op keeps none of that
    kind (`dropped_reason` says why); subtitles and attachments follow the container."""
    main = info.video.index if info.video is not None else None
    decisions: list[StreamDecision] = []
    for stream in info.streams:
        if stream.kind == "video":
            if stream.index != main:
                decisions.append(StreamDecision(stream, Fate.DROPPED, reason=NOT_MAIN_VIDEO))
            elif video is None:
                decisions.append(StreamDecision(stream, Fate.DROPPED, reason=dropped_reason))
            else:
                decisions.append(video(stream))
        elif stream.kind == "audio":
            if audio is None:
                decisions.append(StreamDecision(stream, Fate.DROPPED, reason=dropped_reason))
            else:
                decisions.append(audio(stream))
        elif stream.kind == "subtitle":
            if not subtitles:
                decisions.append(StreamDecision(stream, Fate.DROPPED, reason=dropped_reason))
            else:
                decisions.append(subtitle_decision(rule, container, stream))
        elif stream.kind == "attachment":
            if rule.attachments and subtitles:
                decisions.append(StreamDecision(stream, Fate.COPIED))
            else:
                why = dropped_reason or f"{container} cannot hold attachments (fonts, files)"
                decisions.append(StreamDecision(stream, Fate.DROPPED, reason=why))
        else:
            decisions.append(StreamDecision(stream, Fate.DROPPED, reason=DATA_STREAM))
    return StreamPlan(tuple(decisions))


@dataclass(frozen=True, slots=True)
class VideoResult:
    """The container of a video op's result: MP4, or Matroska when MP4 would lose
    something (SPEC §3.1, docs/operations.md "What is kept")."""

    muxer: str
    media_type: str
    rule: ContainerRule
    reason: str | None = None

    @property
    def container(self) -> str:
        return "mkv" if self.muxer == "matroska" else self.muxer


MP4_RESULT: Final = VideoResult("mp4", "mp4", MP4_RULE)


def video_result_for(streams: Sequence[StreamInfo]) -> VideoResult:
    """MP4 (plays everywhere) unless the input has picture subtitles (PGS, VobSub, DVB:
    MP4 has no format players read for them) or attachments (fonts for styled
    subtitles): then Matroska, which keeps them all."""
    bitmap = [s for s in streams if s.kind == "subtitle" and s.codec in BITMAP_SUBTITLES]
    attached = [s for s in streams if s.kind == "attachment"]
    if not bitmap and not attached:
        return MP4_RESULT
    held = [f"picture subtitles ({', '.join(sorted({s.codec for s in bitmap}))})"] if bitmap else []
    if attached:
        held.append(f"{len(attached)} attachment{'s' if len(attached) > 1 else ''} (fonts)")
    return VideoResult(
        "matroska",
        "mkv",
        MATROSKA_RULE,
        f"The input has {' and '.join(held)}, which MP4 cannot hold: the result is MKV "
        "so that nothing is lost.",
    )


def plan_video_result(info: MediaInfo, why: str) -> tuple[VideoResult, StreamPlan, VideoTreatment]:
    """The container, every stream's fate, and how the video is encoded (`why`: the
    op's reason for encoding it, for the report)."""
    assert info.video is not None
    colour = info.video.colour
    treatment = treat_video(colour, X265_HDR if colour.is_hdr else X264)
    result = video_result_for(info.streams)
    rule = result.rule

    def video(stream: StreamInfo) -> StreamDecision:
        return StreamDecision(stream, Fate.ENCODED, treatment.encoder, why)

    plan = plan_output_streams(
        info,
        rule,
        result.container,
        video,
        copy_or_encode(rule.audio_copy, rule.audio_encoder, result.container),
    )
    return result, plan, treatment
