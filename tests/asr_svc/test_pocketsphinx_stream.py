"""StreamingRecognize on the pocketsphinx engine, with espeak-ng speech and phrase hints."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from vtutor.asr.v1 import asr_pb2

from asr_svc.config import AsrSettings
from asr_svc.engines.base import StreamSpec
from asr_svc.engines.pocketsphinx import PocketsphinxEngine
from tests.asr_svc.speech import (
    audio_requests,
    config_request,
    finals,
    interims,
    recognize,
    recording,
    speech_events,
)

pytestmark = pytest.mark.integration

#: A tutor's vocabulary: the sentences the tests speak, and some they do not.
HINTS = [
    "what is two plus two",
    "the capital of france is paris",
    "photosynthesis turns light into energy",
    "a triangle has three sides",
    "water boils at 100 degrees",
    "the answer is four",
    "can you repeat the question",
    "seven times eight is fifty six",
    "the earth goes around the sun",
    "plants need water and sunlight",
]

STARTED = asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
ENDED = asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED


@pytest.mark.parametrize(
    ("voice", "words_per_minute", "sentences"),
    [
        (
            "en-us",
            150,
            [
                "what is two plus two",
                "photosynthesis turns light into energy",
                "water boils at one hundred degrees",
            ],
        ),
        (
            "en-gb",
            190,
            [
                "the capital of france is paris",
                "seven times eight is fifty six",
                "can you repeat the question",
            ],
        ),
    ],
)
async def test_phrase_hints_give_the_right_final_transcripts(
    pocketsphinx_engine, serve_asr, voice, words_per_minute, sentences
):
    speech = recording([(s, voice, words_per_minute) for s in sentences])
    async with serve_asr(pocketsphinx_engine) as (server, _):
        responses = await recognize(
            server.address, [config_request(hints=HINTS), *audio_requests(speech.pcm)]
        )
    results = finals(responses)
    assert [r.transcript for r in results] == sentences
    assert [r.utterance_index for r in results] == [0, 1, 2]
    for result in results:
        assert 0.0 < result.confidence <= 1.0


async def test_two_utterances_give_two_finals_with_their_offsets(pocketsphinx_engine, serve_asr):
    speech = recording(
        [("what is two plus two", "en-us", 160), ("the answer is four", "en-gb", 180)],
        lead_ms=700,
        gap_ms=1500,
    )
    async with serve_asr(pocketsphinx_engine) as (server, _):
        responses = await recognize(
            server.address, [config_request(hints=HINTS), *audio_requests(speech.pcm)]
        )
    results = finals(responses)
    assert len(results) == 2
    events = speech_events(responses)
    assert [(e.type, e.utterance_index) for e in events] == [
        (STARTED, 0),
        (ENDED, 0),
        (STARTED, 1),
        (ENDED, 1),
    ]
    for index, (result, spoken) in enumerate(zip(results, speech.spoken, strict=True)):
        started, ended = events[2 * index], events[2 * index + 1]
        # The VAD works in 32 ms windows and needs a window or two to react.
        assert abs(result.utterance_start_ms - spoken.start_ms) <= 100
        assert abs(result.utterance_end_ms - spoken.end_ms) <= 150
        assert started.offset_ms == result.utterance_start_ms
        assert ended.offset_ms == result.utterance_end_ms
        words = result.words
        assert [w.word for w in words] == result.transcript.split()
        # Word timings lie on the stream's timeline, in order, inside the utterance (with
        # the padding the engine hears around it).
        assert words[0].start_ms >= result.utterance_start_ms - 250
        assert words[-1].end_ms <= result.utterance_end_ms + 250
        for before, after in itertools.pairwise(words):
            assert before.start_ms < before.end_ms <= after.start_ms


async def test_interim_results_grow_and_speech_started_comes_first(pocketsphinx_engine, serve_asr):
    speech = recording([("photosynthesis turns light into energy", "en-us", 130)])
    async with serve_asr(pocketsphinx_engine, interim_interval_ms=100) as (server, _):
        responses = await recognize(
            server.address,
            [config_request(hints=HINTS, interim=True), *audio_requests(speech.pcm, chunk_ms=20)],
        )
    kinds = [
        "started"
        if r.WhichOneof("response") == "speech_event" and r.speech_event.type == STARTED
        else "ended"
        if r.WhichOneof("response") == "speech_event"
        else "final"
        if r.result.is_final
        else "interim"
        for r in responses
    ]
    # SPEECH_STARTED first, interim results, SPEECH_ENDED, then the final result.
    assert kinds[0] == "started"
    assert kinds[-2:] == ["ended", "final"]
    assert set(kinds[1:-2]) == {"interim"}
    partial = interims(responses)
    assert len(partial) >= 3
    counts = [len(r.transcript.split()) for r in partial]
    assert counts[-1] > counts[0]
    assert all(0.0 <= r.stability <= 1.0 and r.utterance_end_ms == 0 for r in partial)
    assert finals(responses)[0].transcript == "photosynthesis turns light into energy"


async def test_no_interim_results_unless_asked(pocketsphinx_engine, serve_asr):
    speech = recording([("the answer is four", "en-us", 160)])
    async with serve_asr(pocketsphinx_engine) as (server, _):
        responses = await recognize(
            server.address, [config_request(hints=HINTS), *audio_requests(speech.pcm)]
        )
    assert interims(responses) == []
    assert [r.transcript for r in finals(responses)] == ["the answer is four"]


@pytest.mark.parametrize("rate", [8000, 22050, 48000])
async def test_audio_at_other_rates_is_resampled(pocketsphinx_engine, serve_asr, rate):
    speech = recording([("a triangle has three sides", "en-us", 160)], rate=rate)
    async with serve_asr(pocketsphinx_engine) as (server, _):
        responses = await recognize(
            server.address,
            [config_request(rate=rate, hints=HINTS), *audio_requests(speech.pcm, rate=rate)],
        )
    [result] = finals(responses)
    # Offsets stay on the client's timeline whatever its rate.
    assert abs(result.utterance_start_ms - speech.spoken[0].start_ms) <= 100
    assert abs(result.utterance_end_ms - speech.spoken[0].end_ms) <= 150
    if rate > 8000:
        # pocketsphinx's model is wideband: 8 kHz (telephone) audio lacks the upper half of
        # the spectrum it was trained on, so only wideband audio is checked word for word.
        assert result.transcript == "a triangle has three sides"


async def test_without_hints_the_general_model_still_transcribes(pocketsphinx_engine, serve_asr):
    speech = recording([("the earth goes around the sun", "en-us", 150)])
    async with serve_asr(pocketsphinx_engine) as (server, _):
        responses = await recognize(server.address, [config_request(), *audio_requests(speech.pcm)])
    [result] = finals(responses)
    # The general model is weak on synthetic speech: the text is not checked, only that
    # the utterance was found and decoded.
    assert result.transcript
    assert len(result.words) == len(result.transcript.split())


async def test_an_utterance_past_the_maximum_is_cut_and_finalized(pocketsphinx_engine, serve_asr):
    text = "the capital of france is paris and the earth goes around the sun"
    speech = recording([(text, "en-us", 120)])
    async with serve_asr(pocketsphinx_engine) as (server, _):
        responses = await recognize(
            server.address,
            [
                config_request(hints=[*HINTS, text], max_utterance_ms=1500),
                *audio_requests(speech.pcm),
            ],
        )
    events = speech_events(responses)
    results = finals(responses)
    assert len(results) >= 2  # cut at 1.5 s, then the rest is a new utterance
    first_started, first_ended = events[0], events[1]
    assert first_ended.type == ENDED
    assert first_ended.offset_ms - first_started.offset_ms <= 1500 + 32
    assert [r.utterance_index for r in results] == list(range(len(results)))


async def test_half_close_mid_utterance_finalizes_it(pocketsphinx_engine, serve_asr):
    speech = recording([("what is two plus two", "en-us", 160)], tail_ms=0)
    async with serve_asr(pocketsphinx_engine) as (server, _):
        responses = await recognize(
            server.address, [config_request(hints=HINTS), *audio_requests(speech.pcm)]
        )
    [result] = finals(responses)
    assert result.transcript == "what is two plus two"
    assert [e.type for e in speech_events(responses)] == [STARTED, ENDED]


def test_a_stream_opened_before_anyone_spoke_starts_from_what_another_stream_learnt(
    pocketsphinx_engine,
):
    # Every student of a class connects before anyone speaks: all their streams open without
    # a channel estimate. Once one utterance has been decoded, the others start from it
    # instead of decoding their first utterance twice.
    engine = pocketsphinx_engine
    warm = engine.channel_estimate
    engine.reset_adaptation(None)
    spec = StreamSpec(phrase_hints=("what is two plus two",))
    first, second = engine.open_stream(spec), engine.open_stream(spec)
    assert first._cold and second._cold
    speech = recording([("what is two plus two", "en-us", 170)], seed=3)
    samples = np.frombuffer(speech.pcm, dtype="<i2")
    first.start_utterance()
    first.accept(samples)
    assert first.finish(len(samples)).text == "what is two plus two"
    assert engine.channel_estimate is not None
    second.start_utterance()
    assert not second._cold  # no second pass for this one
    second.accept(samples)
    assert second.finish(len(samples)).text == "what is two plus two"
    for stream in (first, second):
        stream.close()
    engine.reset_adaptation(warm)


def test_a_fresh_engine_starts_every_stream_from_a_speech_like_channel():
    # It heard a synthetic sentence at load: no stream has to decode its first utterance
    # twice, even when every student connects before anyone speaks.
    engine = PocketsphinxEngine(AsrSettings(port=0))
    engine.load()
    default = engine._decoder_class(samprate=16000, loglevel="FATAL").get_cmn()  # the model's
    assert engine.channel_estimate is not None and engine.channel_estimate != default
    stream = engine.open_stream(StreamSpec(phrase_hints=("what is two plus two",)))
    assert not stream._cold
    stream.close()
