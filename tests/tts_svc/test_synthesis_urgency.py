"""A stream's segments are urgent only while its listener is waiting for them (issue 20): audio
still well ahead lets Piper decode a segment in large windows, which cost less."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
import pytest_asyncio

from tts_svc.engines.base import SpeechAudio, SpeechEvent, VoiceSettings
from tts_svc.engines.piper import PiperEngine
from tts_svc.segmenter import TextSegmenter
from tts_svc.synthesis import FLUSH, AudioOut, SynthesisStream, TextInput

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FIRST = "Fractions are parts of a whole."
SECOND = "When you add two fractions, you add the numerators."
THIRD = "That is all."


class RecordingPiper(PiperEngine):
    """The real engine, noting each segment's urgency and the size of its first audio."""

    def __init__(self) -> None:
        super().__init__(workers=2)
        self.calls: list[tuple[str, bool, int]] = []

    async def synthesize(
        self, text: str, voice: VoiceSettings, *, urgent: bool = True, slack_s: float = 0.0
    ) -> AsyncGenerator[SpeechEvent, None]:
        first_piece = 0
        async for event in super().synthesize(text, voice, urgent=urgent, slack_s=slack_s):
            if isinstance(event, SpeechAudio) and not first_piece:
                first_piece = len(event.pcm) // 2
                self.calls.append((text, urgent, first_piece))
            yield event


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[RecordingPiper]:
    engine = RecordingPiper()
    await engine.start()
    yield engine
    await engine.close()


async def _speak(engine: RecordingPiper, inputs: AsyncIterator[TextInput]) -> float:
    stream = SynthesisStream(
        engine,
        VoiceSettings(engine.default_voice),
        sample_rate=16000,
        chunk_ms=20,
        segmenter=TextSegmenter(min_clause_words=6, first_clause_words=3),
    )
    samples = 0
    async for output in stream.run(inputs):
        if isinstance(output, AudioOut):
            samples += len(output.pcm) // 2
    return samples / 16000


async def test_a_segment_spoken_while_audio_is_ahead_is_not_urgent(engine) -> None:
    engine.calls.clear()

    async def text() -> AsyncIterator[TextInput]:
        for item in (FIRST, FLUSH, SECOND, FLUSH):
            yield item

    seconds = await _speak(engine, text())
    (first, urgent_first, piece_first), (second, urgent_second, piece_second) = engine.calls
    assert (first, second) == (FIRST, SECOND)
    # The first segment is awaited: its first audio is one small window (16 frames of 256).
    assert urgent_first and piece_first == 16 * 256
    # The second follows ~2 s of audio the listener has not heard yet: one large window.
    assert not urgent_second and piece_second >= 8 * 16 * 256
    assert seconds > 3  # both were spoken in full


async def test_a_segment_the_listener_has_caught_up_with_is_urgent_again(engine) -> None:
    engine.calls.clear()

    async def text() -> AsyncIterator[TextInput]:
        yield THIRD
        yield FLUSH
        await asyncio.sleep(2.0)  # "That is all." has played by now
        yield THIRD
        yield FLUSH

    await _speak(engine, text())
    assert [(urgent, piece) for _, urgent, piece in engine.calls] == [
        (True, 16 * 256),
        (True, 16 * 256),
    ]
