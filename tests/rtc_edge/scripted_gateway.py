"""ScriptedGateway: a test double of the gateway at the edge's boundary (its gRPC API).

It checks engine tokens like the gateway, answers `ready`, and plays a scripted turn when
the student stops speaking (an energy threshold on the received audio) or types: a final
transcript, assistant text, 2 s of bright video frames with a tone, then COMPLETED. The idle
loop is dark frames. Used where the real stack is not needed (signaling, media, lifecycle),
never by the product.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from vtutor.asr.v1 import asr_pb2
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc

from tests.rtc_edge.synthetic_media import i420_bytes, media_frame

ANSWER = "Two plus two is four."
QUESTION = "what is two plus two"
TURN_FRAMES = 50  # 2 s at 25 fps
IDLE_LUMA = 30
TURN_LUMA = 200
FRAME_SIZE = 128


@dataclass
class ScriptedSession:
    """A session the double knows."""

    token: str
    avatar_id: str = ""
    streams_opened: int = 0
    streams_closed: int = 0
    live: bool = False
    audio_bytes: int = 0
    texts: list[str] = field(default_factory=list)
    interrupts: int = 0
    input_rate: int = 0


class ScriptedGateway(gateway_pb2_grpc.GatewayServiceServicer):
    """Converse and StreamIdleFrames as the edge uses them, with a scripted answer.

    Args:
        sessions: Known sessions by id.
        api_key: Service credential accepted by StreamIdleFrames.
        turn_frames: Media frames in each answer.
    """

    def __init__(
        self, sessions: dict[str, ScriptedSession], *, api_key: str = "", turn_frames: int = 50
    ) -> None:
        self.sessions = sessions
        self.api_key = api_key
        self.turn_frames = turn_frames
        self.idle_requests = 0

    async def Converse(
        self, request_iterator: AsyncIterator[gateway_pb2.ConverseRequest], context: Any
    ) -> AsyncIterator[gateway_pb2.ConverseResponse]:
        token = dict(context.invocation_metadata()).get("authorization", "")
        first = await anext(aiter(request_iterator))
        if not first.HasField("config"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "config first")
        session = self.sessions.get(first.config.session_id)
        if session is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such session")
        assert session is not None
        if token != f"Bearer {session.token}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad engine token")
        if session.live:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "already connected")
        session.live = True
        session.streams_opened += 1
        session.input_rate = first.config.input_audio_format.sample_rate_hz
        rate = first.config.output_audio_format.sample_rate_hz or 16000
        out: asyncio.Queue[gateway_pb2.ConverseResponse | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(request_iterator, session, out, rate))
        try:
            yield gateway_pb2.ConverseResponse(
                ready=gateway_pb2.SessionReady(
                    session=gateway_pb2.Session(
                        session_id=first.config.session_id,
                        tutor=gateway_pb2.TutorProfile(avatar_id=session.avatar_id),
                    ),
                    output_sample_rate_hz=rate,
                    video=True,
                )
            )
            while (message := await out.get()) is not None:
                yield message
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            session.live = False
            session.streams_closed += 1

    async def _read(
        self,
        requests: AsyncIterator[gateway_pb2.ConverseRequest],
        session: ScriptedSession,
        out: asyncio.Queue[gateway_pb2.ConverseResponse | None],
        rate: int,
    ) -> None:
        turn: asyncio.Task[None] | None = None
        speech_ms = silence_ms = 0
        turn_index = 0

        def start_turn(transcript: str) -> asyncio.Task[None]:
            nonlocal turn_index
            turn_index += 1
            return asyncio.create_task(self._turn(out, f"turn-{turn_index}", transcript, rate))

        try:
            async for request in requests:
                kind = request.WhichOneof("request")
                if kind == "audio":
                    session.audio_bytes += len(request.audio)
                    samples = np.frombuffer(request.audio, dtype="<i2").astype(np.float32)
                    ms = len(samples) * 1000 // (session.input_rate or 16000)
                    loud = samples.size and np.sqrt(np.mean(samples**2)) > 500
                    if loud:
                        if speech_ms == 0:
                            await out.put(_speech(asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED))
                        speech_ms += ms
                        silence_ms = 0
                    elif speech_ms:
                        silence_ms += ms
                        if speech_ms >= 300 and silence_ms >= 400:
                            await out.put(_speech(asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED))
                            speech_ms = silence_ms = 0
                            if turn is None or turn.done():
                                turn = start_turn(QUESTION)
                elif kind == "text":
                    session.texts.append(request.text.text)
                    if turn is None or turn.done():
                        turn = start_turn(request.text.text)
                elif kind == "interrupt":
                    session.interrupts += 1
                    if turn is not None and not turn.done():
                        turn.cancel()
                        await out.put(_turn_event("interrupted"))
            await out.put(None)  # the client half-closed
        finally:
            if turn is not None:
                turn.cancel()

    async def _turn(
        self,
        out: asyncio.Queue[gateway_pb2.ConverseResponse | None],
        turn_id: str,
        transcript: str,
        rate: int,
    ) -> None:
        await out.put(
            gateway_pb2.ConverseResponse(
                transcript=gateway_pb2.Transcript(text=transcript, is_final=True, turn_id=turn_id)
            )
        )
        await out.put(_turn_event("started", turn_id))
        for word in ANSWER.split(" "):
            await out.put(
                gateway_pb2.ConverseResponse(
                    assistant_text=gateway_pb2.AssistantText(turn_id=turn_id, delta=word + " ")
                )
            )
        loop = asyncio.get_running_loop()
        base_us = int(loop.time() * 1e6)
        for i in range(self.turn_frames):
            frame = media_frame(
                i, rate=rate, luma=TURN_LUMA, size=FRAME_SIZE, pts_offset_us=base_us
            )
            await out.put(gateway_pb2.ConverseResponse(media_frame=frame))
            if i % 10 == 9:
                await asyncio.sleep(0.2)  # roughly real time, as the gateway's media lead
        await out.put(_turn_event("completed", turn_id))

    async def StreamIdleFrames(
        self, request: admin_pb2.StreamIdleFramesRequest, context: Any
    ) -> AsyncIterator[admin_pb2.StreamIdleFramesResponse]:
        token = dict(context.invocation_metadata()).get("authorization", "")
        if not self.api_key or token != f"Bearer {self.api_key}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "service credential needed")
        self.idle_requests += 1
        for i in range(request.max_frames or 10):
            # A slow pulse so the loop is visibly alive, but always darker than a turn frame.
            luma = IDLE_LUMA + (i % 10)
            yield admin_pb2.StreamIdleFramesResponse(
                frame=media_pb2.VideoFrame(
                    width=FRAME_SIZE,
                    height=FRAME_SIZE,
                    pixel_format=media_pb2.PIXEL_FORMAT_I420,
                    data=i420_bytes(FRAME_SIZE, FRAME_SIZE, luma),
                    pts_us=i * 40_000,
                ),
                frame_index=i,
            )


def _speech(kind: int) -> gateway_pb2.ConverseResponse:
    return gateway_pb2.ConverseResponse(speech_event=asr_pb2.SpeechEvent(type=kind))


def _turn_event(kind: str, turn_id: str = "") -> gateway_pb2.ConverseResponse:
    types = {
        "started": gateway_pb2.TURN_EVENT_TYPE_STARTED,
        "interrupted": gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED,
        "completed": gateway_pb2.TURN_EVENT_TYPE_COMPLETED,
    }
    return gateway_pb2.ConverseResponse(
        turn_event=gateway_pb2.TurnEvent(turn_id=turn_id, type=types[kind])
    )
