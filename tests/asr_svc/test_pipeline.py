"""The recognition pipeline without gRPC: when events happen, on the audio's own clock."""

from __future__ import annotations

import pytest

from asr_svc.endpointing import EndpointingOptions
from asr_svc.engines.base import StreamSpec
from asr_svc.events import RecognitionResult, SpeechEvent, SpeechEventKind
from asr_svc.pipeline import RecognitionPipeline
from asr_svc.vad import SileroVad
from tests.asr_svc.speech import recording
from tests.support.speech import chunks

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def _pipeline(engine, vad, **options) -> RecognitionPipeline:
    return RecognitionPipeline(
        engine.open_stream(StreamSpec(phrase_hints=("what is two plus two", "the answer is four"))),
        vad.stream(),
        EndpointingOptions(**options),
        input_rate=16000,
        interim_results=True,
        interim_interval_ms=100,
        incremental=True,
    )


@pytest.mark.parametrize(("voice", "wpm"), [("en-us", 160), ("en-gb", 200), ("en-us+f2", 130)])
def test_speech_started_is_reported_within_200_ms_of_the_onset(
    pocketsphinx_engine, vad, voice, wpm
):
    speech = recording([("what is two plus two", voice, wpm)])
    pipeline = _pipeline(pocketsphinx_engine, vad)
    started_at_ms = None
    for chunk in chunks(speech.pcm, ms=20):
        events = pipeline.feed(chunk)
        if any(isinstance(e, SpeechEvent) and e.kind is SpeechEventKind.STARTED for e in events):
            # How much audio had arrived when the event came out: 20 ms chunks, so this is
            # what a live client would see (plus processing time, measured in the bench).
            started_at_ms = pipeline.position_ms
            break
    pipeline.close()
    assert started_at_ms is not None
    onset = speech.spoken[0].start_ms
    assert onset < started_at_ms <= onset + 200


def test_events_of_an_utterance_come_in_order(pocketsphinx_engine, vad):
    speech = recording([("the answer is four", "en-us", 150)])
    pipeline = _pipeline(pocketsphinx_engine, vad)
    events = []
    for chunk in chunks(speech.pcm, ms=20):
        events.extend(pipeline.feed(chunk))
        while pipeline.final_due:
            # As the stream runner does: SPEECH_ENDED came out alone; decode, then go on.
            assert isinstance(events[-1], SpeechEvent) and events[-1].kind is SpeechEventKind.ENDED
            events.extend(pipeline.finalize())
            events.extend(pipeline.feed(b""))
    events.extend(pipeline.finish())
    pipeline.close()
    kinds = [
        e.kind.value if isinstance(e, SpeechEvent) else ("final" if e.is_final else "interim")
        for e in events
    ]
    assert kinds[0] == "started" and kinds[-2:] == ["ended", "final"]
    assert "interim" in kinds
    final = events[-1]
    assert isinstance(final, RecognitionResult) and final.transcript == "the answer is four"


def test_a_closed_pipeline_refuses_audio(pocketsphinx_engine, vad):
    pipeline = _pipeline(pocketsphinx_engine, vad)
    pipeline.close()
    pipeline.close()  # idempotent
    with pytest.raises(RuntimeError):
        pipeline.feed(b"\0\0")
