"""The words of an interrupted answer that the student actually heard, from TTS word timings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.upstream.tts_client import SpokenSegment

if TYPE_CHECKING:
    from gateway.turn_output import TurnOutput
    from gateway.turn_pipeline import PipelineProgress


def heard_text(segments: Sequence[SpokenSegment], heard_ms: int) -> str:
    """The text spoken in the first ``heard_ms`` of a turn's speech.

    Whole segments that were heard keep their text as written (punctuation included); of the
    segment playing when the turn was cut, only words that ended by ``heard_ms`` count. Speech
    whose segment mark had not arrived is not counted: without timings we cannot claim it was
    heard.

    Args:
        segments: The turn's TTS segments, in order, on the TTS output timeline.
        heard_ms: Milliseconds of the turn's audio the client has played.
    """
    parts: list[str] = []
    for segment in sorted(segments, key=lambda s: s.index):
        if segment.end_ms <= heard_ms:
            parts.append(segment.text.strip())
            continue
        words = [w.word for w in segment.words if w.end_ms <= heard_ms]
        if words:
            parts.append(" ".join(words))
        break
    return " ".join(p for p in parts if p)


def delivered_answer(
    *,
    completed: bool,
    spoken: bool,
    progress: PipelineProgress,
    output: TurnOutput,
    heard_at: float,
) -> tuple[str, int]:
    """What of a turn's answer reached the student, and how many µs of its speech played.

    A completed turn delivered everything. A turn cut short (interrupted or failed) delivered,
    when spoken, the words heard by ``heard_at`` (``time.monotonic()``); as text only, the
    captions sent.
    """
    playback = output.playback
    if completed:
        return "".join(progress.answer).strip(), playback.sent_ms * 1000
    if spoken:
        heard_ms = playback.heard_ms(heard_at)
        return heard_text(progress.segments, heard_ms), heard_ms * 1000
    return "".join(output.sent_text).strip(), 0
