"""The backend's client of the gateway: the generated stubs in, plain dataclasses out.

This is the only module that touches protobuf types. gRPC failures become `GatewayError`
with the HTTP status the routes answer with.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from vtutor.gateway.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc
from vtutor.lipsync.v1 import lipsync_pb2
from vtutor.llm.v1 import llm_pb2

logger = logging.getLogger(__name__)

# 1 MiB is the contract's largest video chunk.
VIDEO_CHUNK_BYTES = 1024 * 1024

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.OUT_OF_RANGE: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.CANCELLED: 503,
    # A wrong service credential is the backend's misconfiguration, not the caller's fault.
    grpc.StatusCode.UNAUTHENTICATED: 502,
    grpc.StatusCode.UNIMPLEMENTED: 501,
}


class GatewayError(Exception):
    """A gateway call failed.

    Attributes:
        code: the gRPC status code name, for example ``"NOT_FOUND"``.
        http_status: the HTTP status the backend answers with.
        message: the gateway's detail, safe to show an admin.
    """

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    @classmethod
    def from_rpc_error(cls, error: grpc.aio.AioRpcError) -> GatewayError:
        """The error for a failed call."""
        code = error.code()
        return cls(code.name, error.details() or code.name, _HTTP_STATUS.get(code, 502))


@dataclass(frozen=True)
class TutorProfile:
    """Who the tutor is in a session or chat."""

    tutor_id: str
    display_name: str
    system_prompt: str = ""
    llm_model: str = ""
    voice: str = ""
    avatar_key: str = ""
    language_code: str = "en-US"
    knowledge_base_id: str = ""
    video_enabled: bool = True


@dataclass(frozen=True)
class SessionGrant:
    """What CreateSession hands out."""

    session_id: str
    engine_url: str
    engine_token: str
    expire_time: datetime | None


@dataclass(frozen=True)
class TurnResult:
    """A finished turn."""

    turn_id: str
    turn_index: int
    user_text: str
    assistant_text: str
    interrupted: bool
    failed: bool = False
    timings_us: dict[str, int] = field(default_factory=dict)
    start_time: datetime | None = None
    outcome: str = "completed"  # completed | interrupted | failed
    failure_code: str = ""  # gRPC status name, for a failed turn
    failure_stage: str = ""
    failure_message: str = ""


@dataclass(frozen=True)
class ChatDelta:
    """Text to append to the answer being streamed."""

    turn_id: str
    delta: str


@dataclass(frozen=True)
class AvatarProgress:
    """How far avatar creation has come."""

    stage: str
    percent: float
    message: str


@dataclass(frozen=True)
class AvatarInfo:
    """A prepared avatar as the lip-sync service describes it."""

    avatar_key: str
    display_name: str
    engine: str
    width: int
    height: int
    idle_fps: int
    size_bytes: int
    builtin: bool


@dataclass(frozen=True)
class AvatarSpec:
    """What avatar to make."""

    avatar_key: str
    display_name: str
    engine: str = ""
    video_format: str = ""
    blur_background: bool = False


@dataclass(frozen=True)
class VoiceInfo:
    """A TTS voice."""

    name: str
    display_name: str
    language_codes: list[str]
    gender: str
    engine: str


@dataclass(frozen=True)
class ModelInfo:
    """An LLM model."""

    name: str
    family: str
    parameter_size: str
    size_bytes: int


@dataclass(frozen=True)
class DocumentText:
    """A document to index."""

    document_id: str
    title: str
    text: str


def _time(stamp: Timestamp, present: bool) -> datetime | None:
    if not present or (stamp.seconds == 0 and stamp.nanos == 0):
        return None
    return stamp.ToDatetime(tzinfo=UTC)


_OUTCOMES = {
    gateway_pb2.TURN_OUTCOME_COMPLETED: "completed",
    gateway_pb2.TURN_OUTCOME_INTERRUPTED: "interrupted",
    gateway_pb2.TURN_OUTCOME_FAILED: "failed",
}


def _status_name(code: int) -> str:
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))


def _turn(record: gateway_pb2.TurnRecord, *, failed: bool = False) -> TurnResult:
    """A finished turn; ``failed`` is for records of gateways that do not send an outcome."""
    timings = {
        descriptor.name: value
        for descriptor, value in record.timings.ListFields()
        if isinstance(value, int) and value > 0
    }
    outcome = _OUTCOMES.get(record.outcome)
    if outcome is None:
        outcome = "failed" if failed else "interrupted" if record.interrupted else "completed"
    return TurnResult(
        turn_id=record.turn_id,
        turn_index=record.turn_index,
        user_text=record.user_text,
        assistant_text=record.assistant_text,
        interrupted=outcome == "interrupted",
        failed=outcome == "failed",
        timings_us=timings,
        start_time=_time(record.start_time, record.HasField("start_time")),
        outcome=outcome,
        failure_code=_status_name(record.failure_code) if record.failure_code else "",
        failure_stage=record.failure_stage,
        failure_message=record.failure_message,
    )


def _avatar(avatar: lipsync_pb2.Avatar) -> AvatarInfo:
    return AvatarInfo(
        avatar_key=avatar.avatar_id,
        display_name=avatar.display_name,
        engine=avatar.engine,
        width=avatar.width,
        height=avatar.height,
        idle_fps=avatar.idle_fps,
        size_bytes=avatar.size_bytes,
        builtin=avatar.builtin,
    )


def _profile(tutor: TutorProfile) -> gateway_pb2.TutorProfile:
    return gateway_pb2.TutorProfile(
        tutor_id=tutor.tutor_id,
        display_name=tutor.display_name,
        system_prompt=tutor.system_prompt,
        llm_model=tutor.llm_model,
        voice=tutor.voice,
        avatar_id=tutor.avatar_key,
        language_code=tutor.language_code,
        knowledge_base_id=tutor.knowledge_base_id,
        video_enabled=tutor.video_enabled,
    )


_T = TypeVar("_T")

_ROLES = {"user": llm_pb2.ROLE_USER, "assistant": llm_pb2.ROLE_ASSISTANT}


class GatewayClient:
    """Calls the gateway's control plane with the service credential.

    Args:
        address: host:port of the gateway.
        api_key: the service credential (sent as ``authorization: Bearer``).
        timeout_s: deadline of unary calls.
        avatar_timeout_s: deadline of a whole avatar creation.
    """

    def __init__(
        self, address: str, api_key: str, *, timeout_s: float = 30.0, avatar_timeout_s: float = 900
    ) -> None:
        self.address = address
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._timeout_s = timeout_s
        self._avatar_timeout_s = avatar_timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._stub_instance: gateway_pb2_grpc.GatewayServiceStub | None = None

    @property
    def _stub(self) -> gateway_pb2_grpc.GatewayServiceStub:
        # Made on first use: a grpc.aio channel belongs to the event loop running then, which
        # is uvicorn's, not whichever loop (if any) existed when the app was built.
        if self._stub_instance is None:
            self._channel = grpc.aio.insecure_channel(
                self.address,
                options=[
                    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
                    ("grpc.max_send_message_length", 32 * 1024 * 1024),
                ],
            )
            self._stub_instance = gateway_pb2_grpc.GatewayServiceStub(self._channel)
        return self._stub_instance

    async def close(self) -> None:
        """Closes the channel, cancelling calls in flight."""
        if self._channel is not None:
            await self._channel.close(grace=None)
            self._channel = None
            self._stub_instance = None

    async def _unary(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None

    # Sessions.

    async def create_session(
        self, *, tenant_id: str, student_id: str, tutor: TutorProfile, ttl_seconds: int
    ) -> SessionGrant:
        """Creates a live session (CreateSession)."""
        response = await self._unary(
            self._stub.CreateSession,
            gateway_pb2.CreateSessionRequest(
                tenant_id=tenant_id,
                student_id=student_id,
                tutor=_profile(tutor),
                ttl_seconds=ttl_seconds,
            ),
        )
        return SessionGrant(
            session_id=response.session.session_id,
            engine_url=response.engine_url,
            engine_token=response.engine_token,
            expire_time=_time(response.expire_time, response.HasField("expire_time")),
        )

    async def end_session(self, session_id: str) -> None:
        """Ends a live session (EndSession)."""
        await self._unary(
            self._stub.EndSession, gateway_pb2.EndSessionRequest(session_id=session_id)
        )

    async def watch_session_turns(
        self, session_id: str, *, from_turn_index: int = 0
    ) -> AsyncIterator[TurnResult]:
        """The session's completed turns from `from_turn_index`, then each new one.

        Ends when the session ends. No deadline: a live session lasts as long as it lasts.
        """
        call = self._stub.WatchSessionTurns(
            gateway_pb2.WatchSessionTurnsRequest(
                session_id=session_id, from_turn_index=from_turn_index
            ),
            metadata=self._metadata,
        )
        try:
            async for response in call:
                yield _turn(response.turn)
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        finally:
            call.cancel()

    async def chat(
        self,
        *,
        tenant_id: str,
        tutor: TutorProfile,
        history: Sequence[tuple[str, str]],
        text: str,
    ) -> AsyncIterator[ChatDelta | TurnResult]:
        """A text turn without a live session: answer deltas, then the finished turn.

        Args:
            history: earlier (role, content) pairs, oldest first; role "user" or "assistant".
        """
        request = gateway_pb2.ChatRequest(
            tenant_id=tenant_id,
            tutor=_profile(tutor),
            history=[llm_pb2.Message(role=_ROLES[role], content=c) for role, c in history],
            text=text,
        )
        call = self._stub.Chat(request, metadata=self._metadata, timeout=self._avatar_timeout_s)
        try:
            async for response in call:
                kind = response.WhichOneof("response")
                if kind == "assistant_text":
                    yield ChatDelta(response.assistant_text.turn_id, response.assistant_text.delta)
                elif kind == "turn_event":
                    event = response.turn_event
                    failed = event.type == gateway_pb2.TURN_EVENT_TYPE_FAILED
                    yield _turn(event.record, failed=failed)
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        finally:
            call.cancel()

    # Avatars.

    async def create_avatar(
        self, spec: AvatarSpec, video: Path
    ) -> AsyncIterator[AvatarProgress | AvatarInfo]:
        """Uploads `video` and streams creation progress, then the avatar."""

        async def requests() -> AsyncIterator[admin_pb2.CreateAvatarRequest]:
            yield admin_pb2.CreateAvatarRequest(
                spec=lipsync_pb2.AvatarSpec(
                    avatar_id=spec.avatar_key,
                    display_name=spec.display_name,
                    engine=spec.engine,
                    video_format=spec.video_format,
                    options=lipsync_pb2.AvatarOptions(blur_background=spec.blur_background),
                )
            )
            for chunk in _read_chunks(video):
                yield admin_pb2.CreateAvatarRequest(video_chunk=chunk)

        call = self._stub.CreateAvatar(
            requests(), metadata=self._metadata, timeout=self._avatar_timeout_s
        )
        try:
            async for response in call:
                if response.WhichOneof("response") == "progress":
                    progress = response.progress
                    stage = lipsync_pb2.AvatarStage.Name(progress.stage)
                    yield AvatarProgress(
                        stage=stage.removeprefix("AVATAR_STAGE_").lower(),
                        percent=float(progress.percent),
                        message=progress.message,
                    )
                else:
                    yield _avatar(response.avatar)
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        finally:
            call.cancel()

    async def get_avatar(self, avatar_key: str) -> AvatarInfo:
        """Gets an avatar (GetAvatar)."""
        response = await self._unary(
            self._stub.GetAvatar, admin_pb2.GetAvatarRequest(avatar_id=avatar_key)
        )
        return _avatar(response.avatar)

    async def delete_avatar(self, avatar_key: str) -> None:
        """Deletes an avatar and its assets (DeleteAvatar)."""
        await self._unary(
            self._stub.DeleteAvatar, admin_pb2.DeleteAvatarRequest(avatar_id=avatar_key)
        )

    async def avatar_preview(self, avatar_key: str) -> tuple[bytes, str]:
        """The avatar's preview image and its MIME type."""
        response = await self._unary(
            self._stub.GetAvatarPreview, admin_pb2.GetAvatarPreviewRequest(avatar_id=avatar_key)
        )
        return response.image, response.mime_type or "image/jpeg"

    async def talking_preview(self, avatar_key: str, voice: str) -> tuple[bytes, str]:
        """A short video of the avatar saying a greeting in ``voice`` (MP4) and its MIME type."""
        response = await self._unary(
            self._stub.GetAvatarPreview,
            admin_pb2.GetAvatarPreviewRequest(avatar_id=avatar_key, talking=True, voice=voice),
        )
        return response.talking_video, response.talking_video_mime_type or "video/mp4"

    # Voices, models, knowledge.

    async def list_voices(self, language_code: str = "") -> tuple[list[VoiceInfo], str]:
        """The TTS voices and the default voice's name."""
        response = await self._unary(
            self._stub.ListVoices, admin_pb2.ListVoicesRequest(language_code=language_code)
        )
        voices = [
            VoiceInfo(v.name, v.display_name, list(v.language_codes), v.gender, v.engine)
            for v in response.voices
        ]
        return voices, response.default_voice

    async def list_models(self) -> tuple[list[ModelInfo], str]:
        """The LLM models and the default model's name."""
        response = await self._unary(self._stub.ListModels, admin_pb2.ListModelsRequest())
        models = [
            ModelInfo(m.name, m.family, m.parameter_size, m.size_bytes) for m in response.models
        ]
        return models, response.default_model

    async def index_documents(
        self, knowledge_base_id: str, documents: Iterable[DocumentText]
    ) -> tuple[int, int]:
        """Adds or replaces documents; returns the base's (document, passage) counts."""
        response = await self._unary(
            self._stub.IndexDocuments,
            admin_pb2.IndexDocumentsRequest(
                knowledge_base_id=knowledge_base_id,
                documents=[
                    llm_pb2.Document(id=d.document_id, title=d.title, text=d.text)
                    for d in documents
                ],
            ),
        )
        return response.document_count, response.passage_count

    async def delete_knowledge_base(self, knowledge_base_id: str) -> int:
        """Deletes a knowledge base; returns how many documents it held."""
        response = await self._unary(
            self._stub.DeleteKnowledgeBase,
            admin_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id=knowledge_base_id),
        )
        return int(response.deleted_documents)


def _read_chunks(path: Path) -> Iterable[bytes]:
    # Reads are small and local; the request iterator runs on the event loop between sends.
    with path.open("rb") as handle:
        while chunk := handle.read(VIDEO_CHUNK_BYTES):
            yield chunk
