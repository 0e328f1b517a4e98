"""FakeGateway: a test double of GatewayService on a real gRPC server, for backend tests.

It stands at the backend's network edge (the backend's only upstream) and keeps what the
backend made (avatars, knowledge bases, sessions) so tests can check what was left behind.
Never used by the product.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import cv2
import grpc
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp
from vtutor.gateway.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc
from vtutor.lipsync.v1 import lipsync_pb2

from svc_core.server import ServiceBinding

API_KEY = "test-gateway-key"
# A video whose first bytes after the header say this has "no face" in the fake's eyes.
NO_FACE_MARKER = b"NO-FACE"


@dataclass
class FakeSession:
    """A session the fake handed out."""

    request: gateway_pb2.CreateSessionRequest
    token: str
    ended: bool = False
    turns: list[gateway_pb2.TurnRecord] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class FakeGateway(gateway_pb2_grpc.GatewayServiceServicer):
    """Answers the control-plane RPCs the backend uses, deterministically."""

    def __init__(self) -> None:
        self.avatars: dict[str, lipsync_pb2.Avatar] = {}
        self.deleted_avatars: list[str] = []
        self.knowledge: dict[str, dict[str, str]] = {}
        self.sessions: dict[str, FakeSession] = {}
        self.chat_requests: list[gateway_pb2.ChatRequest] = []
        self.fail_next: dict[str, grpc.StatusCode] = {}

    async def _check(self, context: grpc.aio.ServicerContext, method: str) -> None:
        metadata = dict(context.invocation_metadata() or ())
        if metadata.get("authorization") != f"Bearer {API_KEY}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad service credential")
        code = self.fail_next.pop(method, None)
        if code is not None:
            await context.abort(code, f"{method} made to fail")

    async def add_turn(self, session_id: str, user_text: str, assistant_text: str) -> None:
        """Completes a turn in a live session, as if the student had spoken."""
        session = self.sessions[session_id]
        record = gateway_pb2.TurnRecord(
            turn_id=uuid.uuid4().hex,
            turn_index=len(session.turns),
            user_text=user_text,
            assistant_text=assistant_text,
            timings=gateway_pb2.TurnTimings(
                end_of_speech_us=1_000_000,
                final_transcript_us=1_200_000,
                first_token_us=1_300_000,
                first_audio_us=1_450_000,
                first_frame_us=1_500_000,
                end_us=3_000_000,
            ),
        )
        record.start_time.GetCurrentTime()
        async with session.changed:
            session.turns.append(record)
            session.changed.notify_all()

    async def CreateSession(self, request, context):
        await self._check(context, "CreateSession")
        if not request.tenant_id or not request.student_id or not request.tutor.tutor_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant, student, tutor")
        session_id = uuid.uuid4().hex
        token = uuid.uuid4().hex
        self.sessions[session_id] = FakeSession(request=request, token=token)
        expire = Timestamp()
        expire.GetCurrentTime()
        expire.seconds += request.ttl_seconds or 3600
        return gateway_pb2.CreateSessionResponse(
            session=gateway_pb2.Session(session_id=session_id, tenant_id=request.tenant_id),
            engine_url="127.0.0.1:50051",
            engine_token=token,
            expire_time=expire,
        )

    async def EndSession(self, request, context):
        await self._check(context, "EndSession")
        session = self.sessions.get(request.session_id)
        if session is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such session")
        async with session.changed:
            session.ended = True
            session.changed.notify_all()
        return gateway_pb2.EndSessionResponse()

    async def WatchSessionTurns(self, request, context):
        await self._check(context, "WatchSessionTurns")
        session = self.sessions.get(request.session_id)
        if session is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such session")
        index = request.from_turn_index
        while True:
            async with session.changed:
                await session.changed.wait_for(
                    lambda start=index: session.ended or len(session.turns) > start
                )
                pending = session.turns[index:]
                ended = session.ended
            for record in pending:
                yield gateway_pb2.WatchSessionTurnsResponse(turn=record)
                index += 1
            if ended:
                return

    async def Chat(self, request, context):
        await self._check(context, "Chat")
        self.chat_requests.append(request)
        turn_id = uuid.uuid4().hex
        documents = self.knowledge.get(request.tutor.knowledge_base_id, {})
        answer = f"You asked: {request.text}. I know {len(documents)} documents."
        for word in answer.split(" "):
            yield gateway_pb2.ChatResponse(
                assistant_text=gateway_pb2.AssistantText(turn_id=turn_id, delta=word + " ")
            )
        record = gateway_pb2.TurnRecord(
            turn_id=turn_id,
            turn_index=len(request.history) // 2,
            user_text=request.text,
            assistant_text=answer + " ",
            timings=gateway_pb2.TurnTimings(final_transcript_us=10, first_token_us=2010),
        )
        yield gateway_pb2.ChatResponse(
            turn_event=gateway_pb2.TurnEvent(
                turn_id=turn_id, type=gateway_pb2.TURN_EVENT_TYPE_COMPLETED, record=record
            )
        )

    async def CreateAvatar(self, request_iterator, context):
        await self._check(context, "CreateAvatar")
        spec: lipsync_pb2.AvatarSpec | None = None
        video = bytearray()
        async for request in request_iterator:
            if request.WhichOneof("request") == "spec":
                spec = request.spec
            else:
                video.extend(request.video_chunk)
        assert spec is not None
        yield admin_pb2.CreateAvatarResponse(
            progress=lipsync_pb2.AvatarProgress(
                stage=lipsync_pb2.AVATAR_STAGE_DECODING, percent=20, message="decoding"
            )
        )
        await asyncio.sleep(0.05)
        if NO_FACE_MARKER in video:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no face found in the video")
        yield admin_pb2.CreateAvatarResponse(
            progress=lipsync_pb2.AvatarProgress(
                stage=lipsync_pb2.AVATAR_STAGE_DETECTING_FACE, percent=60, message="face"
            )
        )
        avatar = lipsync_pb2.Avatar(
            avatar_id=spec.avatar_id,
            display_name=spec.display_name,
            engine="procedural",
            width=256,
            height=256,
            idle_frame_count=50,
            idle_fps=25,
            size_bytes=len(video),
        )
        self.avatars[spec.avatar_id] = avatar
        yield admin_pb2.CreateAvatarResponse(avatar=avatar)

    async def DeleteAvatar(self, request, context):
        await self._check(context, "DeleteAvatar")
        if self.avatars.pop(request.avatar_id, None) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such avatar")
        self.deleted_avatars.append(request.avatar_id)
        return admin_pb2.DeleteAvatarResponse()

    async def GetAvatarPreview(self, request, context):
        await self._check(context, "GetAvatarPreview")
        if request.avatar_id not in self.avatars:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such avatar")
        image = np.full((64, 64, 3), (40, 120, 200), np.uint8)
        ok, jpeg = cv2.imencode(".jpg", image)
        assert ok
        return admin_pb2.GetAvatarPreviewResponse(
            image=jpeg.tobytes(), mime_type="image/jpeg", width=64, height=64
        )

    async def ListVoices(self, request, context):
        await self._check(context, "ListVoices")
        from vtutor.tts.v1 import tts_pb2

        voice = tts_pb2.Voice(name="en-us", display_name="English (US)", language_codes=["en-US"])
        return admin_pb2.ListVoicesResponse(voices=[voice], default_voice="en-us")

    async def ListModels(self, request, context):
        await self._check(context, "ListModels")
        from vtutor.llm.v1 import llm_pb2

        return admin_pb2.ListModelsResponse(
            models=[llm_pb2.Model(name="retrieval")], default_model="retrieval"
        )

    async def IndexDocuments(self, request, context):
        await self._check(context, "IndexDocuments")
        if not request.documents:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no documents")
        base = self.knowledge.setdefault(request.knowledge_base_id, {})
        for document in request.documents:
            base[document.id] = document.text
        passages = sum(max(1, len(text) // 500) for text in base.values())
        return admin_pb2.IndexDocumentsResponse(document_count=len(base), passage_count=passages)

    async def DeleteKnowledgeBase(self, request, context):
        await self._check(context, "DeleteKnowledgeBase")
        base = self.knowledge.pop(request.knowledge_base_id, None)
        if base is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such knowledge base")
        return admin_pb2.DeleteKnowledgeBaseResponse(deleted_documents=len(base))


def fake_binding(fake: FakeGateway) -> ServiceBinding:
    """The binding that serves `fake` with svc_core's server."""
    return ServiceBinding.of(fake, gateway_pb2_grpc, gateway_pb2)


async def drain(iterator: AsyncIterator[object]) -> list[object]:
    """Everything an async iterator yields."""
    return [item async for item in iterator]
