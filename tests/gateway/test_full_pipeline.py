"""The whole turn pipeline over real asr_svc, llm_svc, tts_svc and lipsync_svc processes:
a spoken question end to end, spoken barge-in, and two sessions side by side."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import grpc
import pytest
from vtutor.asr.v1 import asr_pb2
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.gateway.conftest import RunningGateway, gateway_settings, start_gateway
from tests.gateway.gateway_client import (
    ConverseStream,
    answer_text,
    converse_config,
    create_session,
    finished_turn,
    kinds,
    turn_event,
)
from tests.support.service_process import ServiceProcess
from tests.support.speech import chunks, espeak_pcm, silence_pcm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE = 128  # small frames keep lip-sync cheap on two cores


def video_config(session_id: str) -> gateway_pb2.ConverseConfig:
    """Video output at 25 fps, I420, 128x128."""
    config = converse_config(session_id)
    config.video.CopyFrom(
        gateway_pb2.VideoSettings(
            fps=25, pixel_format=media_pb2.PIXEL_FORMAT_I420, width=SIZE, height=SIZE
        )
    )
    return config


def spoken(text: str) -> list[bytes]:
    """``text`` spoken by espeak-ng, then a second of silence to end the utterance."""
    return chunks(espeak_pcm(text) + silence_pcm(1000))


def final_transcripts(
    responses: list[gateway_pb2.ConverseResponse],
) -> list[gateway_pb2.Transcript]:
    """The final transcripts among ``responses``."""
    return [r.transcript for r in responses if r.HasField("transcript") and r.transcript.is_final]


def check_frames(frames: list[media_pb2.MediaFrame]) -> None:
    """Each frame pairs a picture with exactly its 40 ms of audio, on a continuous clock."""
    assert frames
    for frame in frames:
        assert frame.video.pts_us == frame.audio.pts_us
        assert len(frame.audio.data) == 640 * 2
        assert (frame.video.width, frame.video.height) == (SIZE, SIZE)
        assert len(frame.video.data) == SIZE * SIZE * 3 // 2
    for before, after in itertools.pairwise(frames):
        assert after.video.pts_us == before.video.pts_us + 40_000


@pytest.fixture
async def paced_full_gateway(
    asr_service: ServiceProcess,
    llm_service: ServiceProcess,
    tts_service: ServiceProcess,
    lipsync_service: ServiceProcess,
) -> AsyncIterator[RunningGateway]:
    """All four upstreams, media paced 200 ms ahead of playback."""
    settings = gateway_settings(
        asr_address=asr_service.address,
        llm_address=llm_service.address,
        tts_address=tts_service.address,
        lipsync_address=lipsync_service.address,
        media_lead_ms=200,
        false_start_guard_ms=200,
    )
    async for gateway in start_gateway(settings):
        yield gateway


async def test_spoken_question_end_to_end(full_gateway):
    async with grpc.aio.insecure_channel(full_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub, video=True)
        stream = ConverseStream.open(
            stub, created.engine_token, video_config(created.session.session_id)
        )
        await stream.stream_audio(spoken("what is photosynthesis"))
        stream.close()
        responses = await stream.read_to_end(120)

    order = kinds(responses)
    assert order[0] == "ready" and responses[0].ready.video
    speech = [r.speech_event.type for r in responses if r.HasField("speech_event")]
    assert speech[:2] == [
        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED,
        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED,
    ]
    final = next(
        r.transcript for r in responses if r.HasField("transcript") and r.transcript.is_final
    )
    assert "photosynthesis" in final.text
    assert final.turn_id
    done = responses[-1].turn_event
    assert done.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED
    assert done.turn_id == final.turn_id
    # In order: transcript, turn started, captions, frames, completed.
    first_caption = order.index("assistant_text")
    first_frame = order.index("media_frame")
    assert order.index("transcript") < order.index("turn_event") < first_caption < first_frame
    assert "audio" not in order  # with video, speech comes only inside media frames
    check_frames([r.media_frame for r in responses if r.HasField("media_frame")])
    answer = answer_text(responses, done.turn_id)
    assert "sunlight" in answer.lower()
    assert done.record.user_text == final.text
    t = done.timings
    stages = [
        t.end_of_speech_us,
        t.final_transcript_us,
        t.first_token_us,
        t.first_audio_us,
        t.first_frame_us,
        t.last_frame_us,
        t.end_us,
    ]
    assert all(stages), t
    assert stages == sorted(stages), t


async def test_speaking_over_the_tutor_interrupts_it(paced_full_gateway):
    async with grpc.aio.insecure_channel(paced_full_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub, video=True)
        session_id = created.session.session_id
        stream = ConverseStream.open(stub, created.engine_token, video_config(session_id))
        stream.send_text("What is photosynthesis?")
        frames = 0

        def one_second(response: gateway_pb2.ConverseResponse) -> bool:
            nonlocal frames
            frames += response.HasField("media_frame")
            return frames >= 25

        before = await stream.read_until(one_second, 60)
        turn_id = next(r.turn_event.turn_id for r in before if r.HasField("turn_event"))
        speaking = asyncio.create_task(stream.stream_audio(spoken("stop please")))
        after = await stream.read_until(turn_event(gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED), 60)
        await speaking
        interrupted = after[-1].turn_event
        assert interrupted.turn_id == turn_id
        # Barge-in came from the student's speech, not from an interrupt message.
        assert any(
            r.HasField("speech_event")
            and r.speech_event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
            for r in after
        )
        # Nothing of the cut turn arrives after INTERRUPTED; the student's words start a turn.
        rest = await stream.read_until(finished_turn, 120)
        stream.close()
        await stream.read_to_end(60)

    assert interrupted.record.interrupted
    heard = interrupted.record.assistant_text
    assert heard and "sunlight" not in heard.lower()  # the passage's later words were not heard
    assert len(heard.split()) < len(answer_text(before + after, turn_id).split())
    next_started = [r for r in rest if r.HasField("turn_event")]
    assert next_started[0].turn_event.turn_id != turn_id
    assert all(r.assistant_text.turn_id != turn_id for r in rest if r.HasField("assistant_text"))
    record = paced_full_gateway.servicer.registry.get(session_id).turns[0]
    assert record.upstream_outcomes["lipsync"] == "cancelled"


async def test_two_sessions_never_see_each_other(full_gateway):
    questions = {"a": "what is photosynthesis", "b": "what is the water cycle"}
    keywords = {"a": ("photosynthesis", "sunlight"), "b": ("water cycle", "evaporat")}

    async def converse(stub, name: str) -> list[gateway_pb2.ConverseResponse]:
        created = await create_session(stub, student=name, video=True)
        stream = ConverseStream.open(
            stub, created.engine_token, video_config(created.session.session_id)
        )
        await stream.stream_audio(spoken(questions[name]))
        stream.close()
        return await stream.read_to_end(180)

    async with grpc.aio.insecure_channel(full_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        got_a, got_b = await asyncio.gather(converse(stub, "a"), converse(stub, "b"))

    turns: dict[str, set[str]] = {}
    for name, responses, other in (("a", got_a, "b"), ("b", got_b, "a")):
        finals = [
            r.transcript.text
            for r in responses
            if r.HasField("transcript") and r.transcript.is_final
        ]
        assert len(finals) == 1 and keywords[name][0] in finals[0]
        done = responses[-1].turn_event
        assert done.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED
        answer = answer_text(responses, done.turn_id).lower()
        assert keywords[name][1] in answer and keywords[other][1] not in answer
        turns[name] = {r.turn_event.turn_id for r in responses if r.HasField("turn_event")} | {
            r.assistant_text.turn_id for r in responses if r.HasField("assistant_text")
        }
        # Another stream's frames mixed in would break the continuous clock.
        check_frames([r.media_frame for r in responses if r.HasField("media_frame")])
    assert len(turns["a"]) == len(turns["b"]) == 1
    assert turns["a"].isdisjoint(turns["b"])
