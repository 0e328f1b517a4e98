"""EspeakEngine and its libespeak-ng runtime: streaming PCM, timings, visemes, cancellation."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from svc_core.errors import NotFound
from tts_svc.engines.base import SpeechAudio, Viseme, VisemeSpan, VoiceSettings, WordSpan
from tts_svc.engines.espeak import EspeakEngine, word_spans
from tts_svc.libespeak import (
    EspeakRuntime,
    PhonemeEvent,
    SynthJob,
    WordEvent,
    espeak_runtime,
)
from tts_svc.visemes import viseme_for_phoneme

pytestmark = pytest.mark.unit

LONG_TEXT = "Numbers keep going on and on without any end in sight. " * 60


@pytest.fixture
async def engine() -> EspeakEngine:
    engine = EspeakEngine()
    await engine.start()
    return engine


async def collect(engine: EspeakEngine, text: str, voice: str = "en-us"):
    audio, words, visemes = [], [], []
    async for event in engine.synthesize(text, VoiceSettings(voice)):
        if isinstance(event, SpeechAudio):
            audio.append(event)
        elif isinstance(event, WordSpan):
            words.append(event)
        else:
            visemes.append(event)
    return audio, words, visemes


async def test_audio_streams_in_small_pieces_with_words_and_visemes(engine) -> None:
    audio, words, visemes = await collect(engine, "Bob sees the big map, then he reads.")
    assert {a.sample_rate for a in audio} == {engine.sample_rate} == {22050}
    assert len(audio) > 20  # 40 ms pieces, not one block at the end
    assert max(len(a.pcm) for a in audio) <= 2 * 22050 * 60 // 1000
    total_ms = sum(len(a.pcm) // 2 for a in audio) * 1000 / 22050
    assert [w.word for w in words] == ["Bob", "sees", "the", "big", "map", "then", "he", "reads"]
    starts = [w.start_ms for w in words]
    assert starts == sorted(starts) and all(w.end_ms >= w.start_ms for w in words)
    assert words[-1].end_ms <= total_ms
    shapes = [v.viseme for v in visemes]
    assert shapes[0] in (Viseme.PP, Viseme.SIL)  # "Bob" opens with pressed lips
    assert {Viseme.PP, Viseme.SS, Viseme.DD, Viseme.SIL} <= set(shapes)
    assert all(b.start_ms >= a.end_ms - 1e-6 for a, b in itertools.pairwise(visemes))
    assert visemes[-1].end_ms <= total_ms + 1e-6


async def test_voices_and_their_resolution(engine) -> None:
    voices = await engine.list_voices()
    assert len(voices) > 50
    names = [v.name for v in voices]
    assert names == sorted(names) and "en-us" in names and "fr" in names and "en" in names
    assert await engine.resolve_voice("") == "en-us"
    assert await engine.resolve_voice("EN-US") == "en-us"
    assert await engine.resolve_voice("", "de-DE") == "de"
    assert await engine.resolve_voice("en-us+f3") == "en-us+f3"
    with pytest.raises(NotFound):
        await engine.resolve_voice("en-us+nosuchvariant")
    with pytest.raises(NotFound):
        await engine.resolve_voice("", "tlh")


async def test_startup_refuses_an_unknown_default_voice() -> None:
    from svc_core.server import StartupError

    with pytest.raises(StartupError, match="TTS_DEFAULT_VOICE"):
        await EspeakEngine(default_voice="nope").start()


async def run_to_end(runtime: EspeakRuntime, text: str, on_audio=lambda pcm: None) -> bool:
    """Submits a job and waits until the worker has finished it; whether it reported done."""
    done = threading.Event()
    runtime.submit(SynthJob(text, "en-us", 175, on_audio, lambda *_: done.set()))
    return await asyncio.to_thread(done.wait, 30)


async def test_cancelled_job_stops_within_one_buffer() -> None:
    runtime = espeak_runtime()
    await asyncio.to_thread(runtime.start)
    pieces: list[int] = []
    finished = threading.Event()
    job: SynthJob

    def on_audio(pcm: bytes) -> None:
        pieces.append(len(pcm))
        job.cancelled.set()  # the consumer went away after the first piece

    job = SynthJob(LONG_TEXT, "en-us", 175, on_audio, lambda *_: finished.set())
    runtime.submit(job)
    complete: list[int] = []
    assert await run_to_end(runtime, LONG_TEXT[:300], lambda pcm: complete.append(1))
    assert len(pieces) == 1  # the callback's abort ended synthesis at once
    assert not finished.is_set()  # a cancelled job reports nothing
    assert len(complete) > 20  # and the library works normally after an abort


async def test_closing_the_stream_early_aborts_its_job(engine, monkeypatch) -> None:
    runtime = espeak_runtime()
    jobs: list[SynthJob] = []
    submit = runtime.submit
    monkeypatch.setattr(runtime, "submit", lambda job: (jobs.append(job), submit(job)))
    stream = engine.synthesize(LONG_TEXT, VoiceSettings("en-us"))
    first = await anext(stream)
    assert isinstance(first, SpeechAudio)
    await stream.aclose()
    assert jobs[0].cancelled.is_set()
    assert await run_to_end(runtime, "Next one.")  # the worker has moved on
    # LONG_TEXT is about three minutes of speech; espeak stopped long before its end.
    assert jobs[0].samples < 0.5 * 180 * 22050


def test_word_spans_group_words_espeak_runs_together() -> None:
    text = "Parts of a whole, 3.14 too."
    # As espeak reports them: no event for "a"; "3.14" spoken as four words.
    events = [
        WordEvent(1, 5, 0), WordEvent(7, 2, 2205), WordEvent(14, 5, 4410),
        WordEvent(19, 4, 8820), WordEvent(20, 4, 9261), WordEvent(20, 4, 9702),
        WordEvent(24, 3, 13230),
    ]  # fmt: skip
    phonemes = [PhonemeEvent("_:", 7000), PhonemeEvent("_", 22050)]
    spans = word_spans(text, events, phonemes, 22050, 22050)
    assert [s.word for s in spans] == ["Parts", "of", "a", "whole", "3.14", "too"]
    of, a = spans[1], spans[2]
    assert of.start_ms == 100 and a.end_ms == pytest.approx(4410 * 1000 / 22050)
    assert of.end_ms == a.start_ms and (of.end_ms - of.start_ms) == pytest.approx(
        2 * (a.end_ms - a.start_ms)
    )
    assert spans[3].end_ms == pytest.approx(7000 * 1000 / 22050)  # ends at the pause
    assert spans[4].start_ms == 400 and spans[4].end_ms == 600  # one span for "3.14"
    assert spans[5].end_ms == 1000


@pytest.mark.parametrize(
    ("phoneme", "viseme"),
    [
        ("_", Viseme.SIL), ("_:", Viseme.SIL), ("p", Viseme.PP), ("m", Viseme.PP),
        ("f", Viseme.FF), ("T", Viseme.TH), ("D", Viseme.TH), ("t", Viseme.DD),
        ("k", Viseme.KK), ("N", Viseme.KK), ("tS", Viseme.CH), ("dZ", Viseme.CH),
        ("S", Viseme.CH), ("s", Viseme.SS), ("z", Viseme.SS), ("n", Viseme.NN),
        ("l", Viseme.NN), ("r", Viseme.RR), ("r-", Viseme.RR), ("a", Viseme.AA),
        ("aI", Viseme.AA), ("V", Viseme.AA), ("E", Viseme.E), ("@", Viseme.E),
        ("3:", Viseme.E), ("i:", Viseme.IH), ("I", Viseme.IH), ("oU", Viseme.OH),
        ("O:", Viseme.OH), ("u:", Viseme.OU), ("U", Viseme.OU), ("w", Viseme.OU),
        ("'aI", Viseme.AA), ("", Viseme.SIL),
    ],
)  # fmt: skip
def test_phonemes_map_to_visemes(phoneme: str, viseme: Viseme) -> None:
    assert viseme_for_phoneme(phoneme) == viseme


def test_viseme_spans_merge_repeats() -> None:
    from tts_svc.engines.espeak import viseme_spans

    phonemes = [PhonemeEvent("m", 0), PhonemeEvent("b", 2205), PhonemeEvent("a", 4410)]
    assert viseme_spans(phonemes, 22050, 22050) == [
        VisemeSpan(Viseme.PP, 0, 200),
        VisemeSpan(Viseme.AA, 200, 1000),
    ]
