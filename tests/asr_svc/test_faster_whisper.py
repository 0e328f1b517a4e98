"""faster-whisper end to end on a tiny random-weight model the tests build offline.

The model's transcripts are noise, so the text is not checked: these tests prove that the
real loading, streaming, endpointing, interim re-decoding and timing paths run.
"""

from __future__ import annotations

import shutil

import grpc
import pytest
from vtutor.asr.v1 import asr_pb2

from asr_svc.config import AsrSettings
from asr_svc.engines.faster_whisper import FasterWhisperEngine, resolve_model_dir
from svc_core.server import StartupError
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

STARTED = asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
ENDED = asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED


def test_the_random_model_directory_has_what_faster_whisper_reads(random_whisper_dir):
    names = {path.name for path in random_whisper_dir.iterdir()}
    assert {"model.bin", "config.json", "tokenizer.json", "preprocessor_config.json"} <= names
    assert resolve_model_dir(str(random_whisper_dir)) == random_whisper_dir


def test_cpu_defaults_to_int8(whisper_engine):
    assert (whisper_engine.device, whisper_engine.compute_type) == ("cpu", "int8")
    assert whisper_engine.capabilities.languages == ("en",)


async def test_two_utterances_stream_through_whisper_with_offsets(whisper_engine, serve_asr):
    speech = recording(
        [("what is two plus two", "en-us", 160), ("the answer is four", "en-gb", 180)],
        gap_ms=1200,
    )
    async with serve_asr(whisper_engine) as (server, _):
        responses = await recognize(
            server.address,
            [config_request(hints=["two plus two"]), *audio_requests(speech.pcm)],
        )
    events = speech_events(responses)
    results = finals(responses)
    assert [(e.type, e.utterance_index) for e in events] == [
        (STARTED, 0),
        (ENDED, 0),
        (STARTED, 1),
        (ENDED, 1),
    ]
    assert [r.utterance_index for r in results] == [0, 1]
    for index, (result, spoken) in enumerate(zip(results, speech.spoken, strict=True)):
        assert abs(result.utterance_start_ms - spoken.start_ms) <= 100
        assert abs(result.utterance_end_ms - spoken.end_ms) <= 150
        assert events[2 * index].offset_ms == result.utterance_start_ms
        assert 0.0 <= result.confidence <= 1.0
        assert result.transcript and result.words  # the model is built to always say something
        # Whatever the random model says, its word timings stay inside the audio it decoded
        # (the utterance and its padding), on the stream's timeline.
        for word in result.words:
            assert result.utterance_start_ms - 250 <= word.start_ms <= word.end_ms
            assert word.end_ms <= result.utterance_end_ms + 250
    # Each final follows its SPEECH_ENDED.
    kinds = [_kind(r) for r in responses]
    ended_at = [i for i, kind in enumerate(kinds) if kind == "ended"]
    final_at = [i for i, kind in enumerate(kinds) if kind == "final"]
    assert all(e < f for e, f in zip(ended_at, final_at, strict=True))


async def test_interim_results_come_from_re_decoding_while_speech_goes_on(
    whisper_engine, serve_asr
):
    speech = recording([("photosynthesis turns light into energy", "en-us", 110)])
    requests = [config_request(interim=True), *audio_requests(speech.pcm)]
    async with serve_asr(whisper_engine, redecode_interval_ms=300) as (server, _):
        # Paced near real time, so re-decodes finish while the utterance is still going on.
        responses = await recognize(server.address, requests, every_s=0.02)
    partial = interims(responses)
    assert partial, "no interim result"
    kinds = [_kind(r) for r in responses]
    interim_at = [i for i, kind in enumerate(kinds) if kind == "interim"]
    assert kinds.index("started") < interim_at[0] and interim_at[-1] < kinds.index("final")
    assert all(r.utterance_index == 0 and r.utterance_end_ms == 0 for r in partial)


async def test_unsupported_language_is_invalid_argument(whisper_engine, serve_asr):
    request = config_request()
    request.config.language_code = "fr-FR"
    async with serve_asr(whisper_engine) as (server, _):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await recognize(server.address, [request])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_no_model_configured_fails_at_start():
    engine = FasterWhisperEngine(AsrSettings(port=0, engine="faster_whisper", model=""))
    with pytest.raises(StartupError, match="ASR_MODEL"):
        engine.load()


def test_a_model_name_not_on_disk_fails_at_start_saying_to_download_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    engine = FasterWhisperEngine(AsrSettings(port=0, engine="faster_whisper", model="tiny"))
    with pytest.raises(StartupError) as info:
        engine.load()
    message = str(info.value)
    assert "not a directory" in message
    assert "Download the model into a directory" in message
    assert "ASR_MODEL" in message


def test_a_path_that_does_not_exist_fails_at_start(tmp_path):
    with pytest.raises(StartupError, match="not a directory"):
        resolve_model_dir(str(tmp_path / "missing"))


def test_an_incomplete_model_directory_fails_naming_what_is_missing(random_whisper_dir, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(random_whisper_dir, partial)
    (partial / "tokenizer.json").unlink()
    with pytest.raises(StartupError, match=r"tokenizer\.json"):
        resolve_model_dir(str(partial))


def _kind(response: asr_pb2.StreamingRecognizeResponse) -> str:
    if response.WhichOneof("response") == "speech_event":
        return "started" if response.speech_event.type == STARTED else "ended"
    return "final" if response.result.is_final else "interim"
