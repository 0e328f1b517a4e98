"""Fakes of Microsoft's edge-tts service at the network boundary, for tests only.

``FakeEdgeCommunicate`` has the interface of ``edge_tts.Communicate`` and replays what the
service sends: MP3 in arbitrary pieces (made here from espeak speech with PyAV's libmp3lame
encoder, at the 24 kHz mono of edge's default format) with ``WordBoundary`` messages in
100 ns ticks, interleaved as recorded from the real service (each boundary ahead of the
audio that carries its word).
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from tests.support.speech import espeak_pcm

EDGE_RATE = 24000
TICKS_PER_MS = 10_000
PIECE_BYTES = 1500  # not a multiple of an MP3 frame: the decoder must parse across pieces

# As edge_tts.list_voices() returns them (fields the engine reads, values as recorded).
RECORDED_VOICES = [
    {
        "Name": "Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)",
        "ShortName": "en-US-AriaNeural",
        "Gender": "Female",
        "Locale": "en-US",
        "FriendlyName": "Microsoft Aria Online (Natural) - English (United States)",
    },
    {
        "Name": "Microsoft Server Speech Text to Speech Voice (en-GB, RyanNeural)",
        "ShortName": "en-GB-RyanNeural",
        "Gender": "Male",
        "Locale": "en-GB",
        "FriendlyName": "Microsoft Ryan Online (Natural) - English (United Kingdom)",
    },
    {
        "Name": "Microsoft Server Speech Text to Speech Voice (de-DE, KatjaNeural)",
        "ShortName": "de-DE-KatjaNeural",
        "Gender": "Female",
        "Locale": "de-DE",
        "FriendlyName": "Microsoft Katja Online (Natural) - German (Germany)",
    },
]


def mp3_from_pcm(pcm: bytes, sample_rate: int = EDGE_RATE) -> bytes:
    """Encodes mono s16le PCM as an MP3 stream with libmp3lame."""
    out = io.BytesIO()
    # Bare MP3 frames, as edge sends them: no ID3 tag, no Xing header.
    options = {"id3v2_version": "0", "write_xing": "0"}
    with av.open(out, "w", format="mp3", options=options) as container:
        stream = container.add_stream("libmp3lame", rate=sample_rate, layout="mono")
        stream.bit_rate = 48_000
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def recorded_boundaries(text: str, duration_ms: float) -> list[dict[str, Any]]:
    """WordBoundary messages spread over the speech by word length, as edge sends them."""
    words = re.findall(r"[\w'.]+(?<!\.)", text)
    total = sum(len(w) + 1 for w in words)
    messages, start = [], 50.0
    span = duration_ms - 100.0
    for word in words:
        length = span * (len(word) + 1) / total
        messages.append(
            {
                "type": "WordBoundary",
                "offset": int(start * TICKS_PER_MS),
                "duration": int(length * 0.9 * TICKS_PER_MS),
                "text": word,
            }
        )
        start += length
    return messages


@dataclass
class FakeEdgeService:
    """What the fake service received, and whether it is reachable."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail_with: BaseException | None = None

    def communicate(self, text: str, voice: str = "en-US-AriaNeural", **options: Any) -> Any:
        """Use as ``communicate_factory``: builds a FakeEdgeCommunicate."""
        self.calls.append({"text": text, "voice": voice, **options})
        return FakeEdgeCommunicate(text, voice, service=self, **options)

    async def list_voices(self, **_options: Any) -> list[dict[str, Any]]:
        if self.fail_with is not None:
            raise self.fail_with
        return [dict(v) for v in RECORDED_VOICES]


class FakeEdgeCommunicate:
    """Stands in for ``edge_tts.Communicate``: ``stream()`` yields recorded-style messages."""

    def __init__(
        self, text: str, voice: str, *, service: FakeEdgeService | None = None, **_options: Any
    ) -> None:
        self.text = text
        self.voice = voice
        self._service = service
        self._streamed = False

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        if self._streamed:
            raise RuntimeError("stream can only be called once.")
        self._streamed = True
        if self._service is not None and self._service.fail_with is not None:
            raise self._service.fail_with
        pcm = espeak_pcm(self.text, sample_rate=EDGE_RATE)
        duration_ms = len(pcm) / 2 / EDGE_RATE * 1000
        mp3 = mp3_from_pcm(pcm)
        boundaries = recorded_boundaries(self.text, duration_ms)
        bytes_per_ms = len(mp3) / duration_ms
        for offset in range(0, len(mp3), PIECE_BYTES):
            # Boundaries of words that start within the next piece come first.
            reach_ms = (offset + PIECE_BYTES) / bytes_per_ms
            while boundaries and boundaries[0]["offset"] / TICKS_PER_MS < reach_ms:
                yield boundaries.pop(0)
            yield {"type": "audio", "data": mp3[offset : offset + PIECE_BYTES]}
        for message in boundaries:
            yield message
