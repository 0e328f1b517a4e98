"""Spoken answers (LLM -> TTS, audio only) through real llm_svc and tts_svc processes:
ordering, barge-in by interrupt, and an upstream killed mid-turn then restarted."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.gateway.conftest import RunningGateway, gateway_settings, start_gateway
from tests.gateway.gateway_client import (
    SERVICE_AUTH,
    ConverseStream,
    converse_config,
    create_session,
    finished_turn,
    kinds,
    turn_event,
    tutor,
)
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.integration

AUDIO_ONLY = (gateway_pb2.MODALITY_TEXT, gateway_pb2.MODALITY_AUDIO)
QUESTION = "What is photosynthesis?"


@pytest.fixture
def slow_llm_service() -> Iterator[ServiceProcess]:
    """An llm_svc of its own that streams at a model's pace (60 ms per word piece): its short
    spoken answers (issue 16) are still streaming when the tests interrupt them."""
    service = ServiceProcess("llm_svc", {"LLM_RETRIEVAL_TOKEN_DELAY_MS": "60"})
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
async def paced_gateway(
    slow_llm_service: ServiceProcess, tts_service: ServiceProcess
) -> AsyncIterator[RunningGateway]:
    """A gateway pacing media in real time (200 ms ahead) over a model-paced LLM."""
    settings = gateway_settings(
        llm_address=slow_llm_service.address,
        tts_address=tts_service.address,
        media_lead_ms=200,
    )
    async for gateway in start_gateway(settings):
        yield gateway


async def test_audio_answer_streams_in_order_with_stage_timestamps(speech_gateway):
    async with grpc.aio.insecure_channel(speech_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        stream = ConverseStream.open(
            stub,
            created.engine_token,
            converse_config(created.session.session_id, modalities=AUDIO_ONLY),
        )
        stream.send_text(QUESTION)
        stream.close()
        responses = await stream.read_to_end(60)
    assert responses[0].HasField("ready") and not responses[0].ready.video
    done = responses[-1].turn_event
    assert done.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED
    audio = [r.audio for r in responses if r.HasField("audio")]
    assert audio and "media_frame" not in kinds(responses)
    # Continuous presentation times: each chunk starts where the previous one ended.
    for before, after in itertools.pairwise(audio):
        assert after.pts_us == before.pts_us + len(before.data) // 2 * 1_000_000 // 16000
    assert {a.sample_rate_hz for a in audio} == {16000}
    seconds = sum(len(a.data) for a in audio) / 2 / 16000
    assert seconds > 2  # a whole passage was spoken, not a fragment
    timings = done.timings
    assert 0 < timings.final_transcript_us <= timings.first_token_us <= timings.first_audio_us
    assert timings.first_audio_us <= timings.last_frame_us <= timings.end_us
    assert timings.first_frame_us == 0  # audio only: lip-sync skipped
    assert "sunlight" in done.record.assistant_text.lower()


async def test_interrupt_stops_media_and_keeps_only_what_was_heard(paced_gateway):
    async with grpc.aio.insecure_channel(paced_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        full = [
            r
            async for r in stub.Chat(
                gateway_pb2.ChatRequest(tenant_id="t", tutor=tutor(), text=QUESTION),
                metadata=SERVICE_AUTH,
            )
        ][-1].turn_event.record.assistant_text
        created = await create_session(stub)
        session_id = created.session.session_id
        stream = ConverseStream.open(
            stub, created.engine_token, converse_config(session_id, modalities=AUDIO_ONLY)
        )
        stream.send_text(QUESTION)
        # Listen to about 1.5 s of the answer, then interrupt.
        heard_samples = 0

        def enough_audio(response: gateway_pb2.ConverseResponse) -> bool:
            nonlocal heard_samples
            if response.HasField("audio"):
                heard_samples += len(response.audio.data) // 2
            return heard_samples >= 24000

        before = await stream.read_until(enough_audio, 60)
        turn_id = next(r.turn_event.turn_id for r in before if r.HasField("turn_event"))
        stream.interrupt()
        after = await stream.read_until(turn_event(gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED), 30)
        interrupted = after[-1].turn_event
        assert interrupted.turn_id == turn_id

        # The next question still works, and its audio follows the cut answer on the clock.
        stream.send_text("What is the water cycle?")
        rest = await stream.read_until(lambda r: r.HasField("audio"), 60)
        stream.interrupt()
        await stream.read_until(finished_turn, 30)
        stream.close()
        await stream.read_to_end(30)

    sent_audio = [r.audio for r in before + after if r.HasField("audio")]
    # Far less than the whole answer went out: media stopped with the interrupt.
    full_words = full.split()
    heard = interrupted.record.assistant_text
    assert interrupted.record.interrupted
    assert 0 < len(heard.split()) < len(full_words)
    assert full.startswith(heard.rstrip(".,;:!?")), (heard, full)
    # What was heard fits in the audio that was sent (espeak speaks ~3 words a second).
    sent_seconds = sum(len(a.data) for a in sent_audio) / 2 / 16000
    assert len(heard.split()) <= 4 * sent_seconds + 2
    first_of_next = rest[-1].audio
    # About 1.5 s were played before the interrupt; the next answer starts after them.
    assert first_of_next.pts_us >= sent_audio[0].pts_us + 1_000_000
    # Every upstream call of the interrupted turn was cancelled, not left running.
    record = paced_gateway.servicer.registry.get(session_id).turns[0]
    assert record.upstream_outcomes == {"llm": "cancelled", "tts": "cancelled"}


async def test_llm_killed_mid_turn_then_restarted(slow_llm_service, tts_service):
    settings = gateway_settings(
        llm_address=slow_llm_service.address, tts_address=tts_service.address
    )
    async for gateway in start_gateway(settings):
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            created = await create_session(stub)
            stream = ConverseStream.open(
                stub,
                created.engine_token,
                converse_config(created.session.session_id, modalities=AUDIO_ONLY),
            )
            stream.send_text(QUESTION)
            await stream.read_until(lambda r: r.HasField("assistant_text"), 30)
            slow_llm_service.kill()
            failed = await stream.read_until(finished_turn, 30)
            errors = [r.error for r in failed if r.HasField("error")]
            assert failed[-1].turn_event.type == gateway_pb2.TURN_EVENT_TYPE_FAILED
            assert [e.stage for e in errors] == ["llm"]
            assert errors[0].code == grpc.StatusCode.UNAVAILABLE.value[0]
            assert errors[0].turn_id == failed[-1].turn_event.turn_id

            slow_llm_service.start()
            stream.send_text("What is the water cycle?")
            done = await stream.read_until(finished_turn, 60)
            assert done[-1].turn_event.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED
            assert "evaporat" in done[-1].turn_event.record.assistant_text.lower()
            assert any(r.HasField("audio") for r in done)
            stream.close()
            await stream.read_to_end(30)
