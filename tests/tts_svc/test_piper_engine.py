"""PiperEngine with the real en_US-joe-medium voice: streaming windows, word timings, visemes,
speaking rate, voices, and cancellation that stops the model's work."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from svc_core.errors import NotFound
from svc_core.server import StartupError
from tts_svc.engines.base import (
    EngineLoadError,
    SpeechAudio,
    SpeechEvent,
    Viseme,
    VisemeSpan,
    VoiceSettings,
    WordSpan,
)
from tts_svc.engines.piper import DEFAULT_VOICE, PiperEngine, decode_windows
from tts_svc.piper_voice import Cancelled, PiperModel, RunHandle, installed_voice_files
from tts_svc.word_alignment import written_words

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SENTENCE = "One third of the cake is in a box, and it costs 3.14 dollars."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[PiperEngine]:
    engine = PiperEngine(workers=2)
    await engine.start()
    yield engine
    await engine.close()


async def collect(engine: PiperEngine, text: str, rate: float = 1.0) -> list[SpeechEvent]:
    voice = VoiceSettings(engine.default_voice, rate)
    return [event async for event in engine.synthesize(text, voice)]


def audio_ms(events: list[SpeechEvent]) -> float:
    pieces = [e for e in events if isinstance(e, SpeechAudio)]
    return sum(len(p.pcm) // 2 for p in pieces) * 1000 / pieces[0].sample_rate


async def test_audio_streams_in_growing_windows_with_words_and_visemes(engine) -> None:
    events = await collect(engine, SENTENCE)
    pieces = [e for e in events if isinstance(e, SpeechAudio)]
    words = [e for e in events if isinstance(e, WordSpan)]
    visemes = [e for e in events if isinstance(e, VisemeSpan)]
    assert {p.sample_rate for p in pieces} == {22050}
    # The first window is small (16 frames of 256 samples), so audio starts early.
    assert len(pieces[0].pcm) // 2 == 16 * 256
    assert len(pieces) >= 4
    # All audio comes before the timings, which need the whole segment.
    last_audio = max(i for i, e in enumerate(events) if isinstance(e, SpeechAudio))
    assert all(not isinstance(e, SpeechAudio) for e in events[last_audio + 1 :])
    duration = audio_ms(events)
    assert 2500 < duration < 7000  # ~14 words
    # Real speech: most 20 ms stretches carry signal.
    pcm = b"".join(p.pcm for p in pieces)
    frame = 2 * 441
    loud = [i for i in range(0, len(pcm) - frame, frame) if max(pcm[i + 1 : i + frame : 2]) > 2]
    assert len(loud) > len(pcm) // frame // 2

    assert [w.word for w in words] == written_words(SENTENCE)
    starts = [w.start_ms for w in words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(0 <= w.start_ms < w.end_ms <= duration for w in words)
    # "3.14" is spoken as four words: it lasts far longer than "of".
    by_word = {w.word: w.end_ms - w.start_ms for w in words}
    assert by_word["3.14"] > 3 * by_word["of"]

    assert visemes[0].viseme == Viseme.SIL and visemes[-1].viseme == Viseme.SIL
    assert {Viseme.PP, Viseme.KK, Viseme.TH, Viseme.SS} <= {v.viseme for v in visemes}
    assert all(a.end_ms <= b.start_ms + 1e-6 for a, b in itertools.pairwise(visemes))
    assert visemes[-1].end_ms == pytest.approx(duration, abs=1)
    # "box" closes the lips (PP) inside its own word span.
    box = next(w for w in words if w.word == "box")
    assert any(
        v.viseme == Viseme.PP and box.start_ms - 1 <= v.start_ms < box.end_ms for v in visemes
    )


async def test_audio_no_one_waits_for_comes_in_large_windows(engine) -> None:
    voice = VoiceSettings(engine.default_voice)
    urgent = [e async for e in engine.synthesize(SENTENCE, voice)]
    relaxed = [e async for e in engine.synthesize(SENTENCE, voice, urgent=False)]
    urgent_pieces = [e for e in urgent if isinstance(e, SpeechAudio)]
    relaxed_pieces = [e for e in relaxed if isinstance(e, SpeechAudio)]
    # 8 x 16 frames at first (or the whole sentence), so fewer, larger decoder runs ...
    assert len(relaxed_pieces[0].pcm) // 2 >= 8 * 16 * 256
    assert len(relaxed_pieces) < len(urgent_pieces)
    # ... of the same speech, with its timings.
    assert 2500 < audio_ms(relaxed) < 7000
    assert [w.word for w in relaxed if isinstance(w, WordSpan)] == written_words(SENTENCE)


async def test_windowed_audio_matches_the_sentence_computed_at_once(engine) -> None:
    model = await engine._model(engine.default_voice)
    (phonemes,) = model.phonemize(SENTENCE)
    handle = RunHandle()
    sentence = model.encode(phonemes, 1.0, handle)
    frames = sentence.frames
    whole = model.decode(model.flow(sentence, 0, frames, handle), 0, frames, handle)
    windows = list(decode_windows(sentence.frames, 16))
    pieces = [model.decode(model.flow(sentence, 0, 16, handle), 0, 16, handle)]
    rest = model.flow(sentence, 16, sentence.frames, handle)
    pieces += [model.decode(rest, start, end, handle) for start, end in windows[1:]]
    reference = np.frombuffer(whole, dtype="<i2").astype(np.int32)
    streamed = np.frombuffer(b"".join(pieces), dtype="<i2").astype(np.int32)
    assert len(streamed) == len(reference) == sentence.frames * 256
    assert np.abs(streamed - reference).max() <= 100  # of 32767: inaudible
    assert np.abs(reference).max() > 10_000  # and it is speech, not silence


async def test_speaking_rate_changes_duration(engine) -> None:
    normal = audio_ms(await collect(engine, SENTENCE, 1.0))
    fast = audio_ms(await collect(engine, SENTENCE, 2.0))
    slow = audio_ms(await collect(engine, SENTENCE, 0.5))
    assert fast < 0.7 * normal
    assert slow > 1.4 * normal


async def test_sentences_within_a_segment_follow_each_other(engine) -> None:
    events = await collect(engine, "Dr. Smith said hello. Is it two?")
    words = [e for e in events if isinstance(e, WordSpan)]
    assert [w.word for w in words] == ["Dr", "Smith", "said", "hello", "Is", "it", "two"]
    duration = audio_ms(events)
    assert words[-1].end_ms <= duration
    # "Is" starts the second sentence, after "hello" has ended.
    assert words[4].start_ms >= words[3].end_ms


async def test_voices_and_their_resolution(engine) -> None:
    voices = await engine.list_voices()
    joe = next(v for v in voices if v.name == DEFAULT_VOICE)
    assert joe.language_codes == ("en-US",) and joe.engine == "piper"
    assert joe.display_name == "Joe (en-US, medium)"
    assert engine.default_voice == DEFAULT_VOICE
    assert await engine.resolve_voice("EN_us-JOE-medium") == DEFAULT_VOICE
    assert await engine.resolve_voice("", "en") == DEFAULT_VOICE
    with pytest.raises(NotFound, match="unknown piper voice 'nobody'"):
        await engine.resolve_voice("nobody")
    with pytest.raises(NotFound, match="no piper voice speaks 'de'"):
        await engine.resolve_voice("", "de")


async def test_cancelled_stream_starts_no_more_runs(engine, monkeypatch) -> None:
    runs: list[str] = []
    decode = PiperModel.decode

    def counting_decode(self, *args):  # type: ignore[no-untyped-def]
        runs.append("decode")
        return decode(self, *args)

    monkeypatch.setattr(PiperModel, "decode", counting_decode)
    long_text = " ".join([SENTENCE] * 6)  # one segment of six sentences, ~25 s of speech
    stream = engine.synthesize(long_text, VoiceSettings(engine.default_voice))
    first = await anext(stream)
    assert isinstance(first, SpeechAudio)
    await stream.aclose()  # what a cancelled call does
    stopped_at = len(runs)
    await asyncio.sleep(0.5)
    assert len(runs) == stopped_at  # nothing queued ran afterwards
    assert stopped_at < 5  # of the ~30 windows the text needs


async def test_terminate_stops_a_run_in_progress(engine) -> None:
    model = await engine._model(engine.default_voice)
    phonemes = [symbol for sentence in model.phonemize(SENTENCE * 8) for symbol in sentence]
    handle = RunHandle()
    started = time.perf_counter()
    full = model.encode(phonemes, 1.0, RunHandle())
    full_s = time.perf_counter() - started
    assert full.frames > 2000

    outcome: list[BaseException | None] = []

    def encode() -> None:
        try:
            model.encode(phonemes, 1.0, handle)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=encode)
    started = time.perf_counter()
    worker.start()
    await asyncio.sleep(min(0.02, full_s / 4))
    handle.terminate()
    worker.join()
    assert isinstance(outcome[0], Cancelled)
    assert time.perf_counter() - started < full_s
    with pytest.raises(Cancelled):  # and nothing starts on a terminated handle
        model.encode(phonemes[:5], 1.0, handle)


async def test_voices_from_a_folder_and_a_voice_file_setting(tmp_path: Path) -> None:
    (joe,) = [v for v in installed_voice_files() if v.name == DEFAULT_VOICE]
    folder = tmp_path / "voices"
    folder.mkdir()
    (folder / "en_GB-copy-low.onnx").symlink_to(joe.model_path)
    config = joe.config_path.read_text().replace('"code": "en_US"', '"code": "en_GB"')
    (folder / "en_GB-copy-low.onnx.json").write_text(config)
    (folder / "broken.onnx").write_bytes(b"not a model")  # no settings beside it: skipped

    engine = PiperEngine(voices_dir=folder, default_voice=str(folder / "en_GB-copy-low.onnx"))
    await engine.start()
    try:
        names = {v.name: v.language_codes for v in await engine.list_voices()}
        assert names[DEFAULT_VOICE] == ("en-US",) and names["en_GB-copy-low"] == ("en-GB",)
        assert "broken" not in names
        assert engine.default_voice == "en_GB-copy-low"
        assert await engine.resolve_voice("", "en-GB") == "en_GB-copy-low"
        events = await collect(engine, "Hello there.")
        assert audio_ms(events) > 300
    finally:
        await engine.close()


async def test_a_voice_that_cannot_load_is_a_load_error(tmp_path: Path) -> None:
    (joe,) = [v for v in installed_voice_files() if v.name == DEFAULT_VOICE]
    damaged = tmp_path / "en_US-damaged-medium.onnx"
    damaged.write_bytes(joe.model_path.read_bytes()[:100_000])
    shutil.copy(joe.config_path, tmp_path / "en_US-damaged-medium.onnx.json")
    with pytest.raises(EngineLoadError, match="cannot load the Piper voice en_US-damaged-medium"):
        await PiperEngine(default_voice=str(damaged)).start()
    with pytest.raises(StartupError, match="no such voice file"):
        await PiperEngine(default_voice=str(tmp_path / "missing.onnx")).start()


async def test_audio_no_one_waits_for_yet_is_made_on_lower_priority_threads(
    engine, monkeypatch
) -> None:
    # On a busy host the bulk of an answer (its later sentences) yields the CPU to what is
    # late: a first sentence, another service's recognition.
    model = await engine._model(engine.default_voice)
    where: list[tuple[str, int]] = []
    flow = model.flow

    def recorded_flow(*args, **kwargs):  # type: ignore[no-untyped-def]
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        where.append((threading.current_thread().name, nice))
        return flow(*args, **kwargs)

    monkeypatch.setattr(model, "flow", recorded_flow)
    await collect(engine, "The sun is a star. It is very hot.")
    first, later = where[0], where[-1]
    assert not first[0].startswith("piper-background")
    assert later[0].startswith("piper-background")
    assert later[1] - first[1] == 10


async def test_first_audio_is_one_run_that_goes_before_work_with_slack(engine, monkeypatch) -> None:
    # On a busy host every run waits for a worker: the audio a listener already waits for is
    # made in one run that jumps the queue; later work is ordered by when it is heard.
    submitted: list[tuple[str, float, bool]] = []
    submit = engine._pool.submit

    def recorded(deadline, function, *args, waiting=False):  # type: ignore[no-untyped-def]
        submitted.append((getattr(function, "__name__", "?"), deadline, waiting))
        return submit(deadline, function, *args, waiting=waiting)

    monkeypatch.setattr(engine._pool, "submit", recorded)
    voice = VoiceSettings(engine.default_voice)
    before = time.monotonic()
    first = [e async for e in engine.synthesize("The sun is a star.", voice)]
    assert submitted[0][0] == "open_segment" and submitted[0][2]
    assert sum(1 for name, _, _ in submitted if name == "open_segment") == 1
    assert audio_ms(first) > 0

    submitted.clear()
    later = [e async for e in engine.synthesize("It is very hot.", voice, slack_s=0.8)]
    name, deadline, waiting = submitted[0]
    assert name == "open_segment" and not waiting
    assert deadline >= before + 0.8  # due when the listener reaches it, not now
    assert audio_ms(later) > 0
