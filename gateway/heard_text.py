"""The words of an interrupted answer that the student actually heard, from TTS word timings."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.upstream.tts_client import SpokenSegment


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
