"""Admin RPCs passed to the inference services, so the backend needs only the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import admin_pb2
from vtutor.lipsync.v1 import lipsync_pb2
from vtutor.llm.v1 import llm_pb2
from vtutor.tts.v1 import tts_pb2

from gateway.upstream.channels import UpstreamError
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.tts_client import SpeechAudio, VoiceSettings
from svc_core.errors import InvalidArgument, ServiceError
from svc_core.streams import split_config

# The talking sample of an avatar's preview: a short greeting unless the admin gives a text
# (lip-sync takes at most 10 s of speech).
PREVIEW_GREETING = "Hello! I am your tutor. Ask me anything about today's lesson."
MAX_SAMPLE_TEXT_CHARS = 300
PREVIEW_SAMPLE_RATE_HZ = 16000


class AdminPassthrough:
    """Forwards avatar, voice, model and knowledge-base calls with deadlines."""

    def __init__(self, clients: UpstreamClients, *, avatar_create_timeout_s: float) -> None:
        self._clients = clients
        self._avatar_create_timeout_s = avatar_create_timeout_s

    async def create_avatar(
        self, requests: AsyncIterator[admin_pb2.CreateAvatarRequest]
    ) -> AsyncIterator[admin_pb2.CreateAvatarResponse]:
        """Streams the spec and video to lip-sync; progress, then the avatar, back."""
        lipsync = self._clients.lipsync
        spec, rest = await split_config(requests, oneof="request", config_field="spec")
        # The request iterator runs inside gRPC's own task, where an exception would only
        # cancel the call; keep it and report it as the caller's error instead.
        bad_input: list[ServiceError] = []

        async def upstream_requests() -> AsyncIterator[lipsync_pb2.CreateAvatarRequest]:
            yield lipsync_pb2.CreateAvatarRequest(spec=spec)
            try:
                async for request in rest:
                    yield lipsync_pb2.CreateAvatarRequest(video_chunk=request.video_chunk)
            except ServiceError as exc:
                bad_input.append(exc)
                call.cancel()

        await lipsync.ensure_ready()
        call = lipsync.stub.CreateAvatar(upstream_requests(), timeout=self._avatar_create_timeout_s)
        try:
            async for response in call:
                if response.HasField("progress"):
                    yield admin_pb2.CreateAvatarResponse(progress=response.progress)
                elif response.HasField("avatar"):
                    yield admin_pb2.CreateAvatarResponse(avatar=response.avatar)
        except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
            if bad_input:
                raise bad_input[0] from None
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise UpstreamError.wrap("lipsync", exc) from exc
        finally:
            call.cancel()

    async def get_avatar(self, request: admin_pb2.GetAvatarRequest) -> admin_pb2.GetAvatarResponse:
        """Gets an avatar."""
        lipsync = self._clients.lipsync
        reply = await lipsync.unary(
            lipsync.stub.GetAvatar, lipsync_pb2.GetAvatarRequest(avatar_id=request.avatar_id)
        )
        return admin_pb2.GetAvatarResponse(avatar=reply.avatar)

    async def list_avatars(self) -> admin_pb2.ListAvatarsResponse:
        """Lists avatars."""
        lipsync = self._clients.lipsync
        reply = await lipsync.unary(lipsync.stub.ListAvatars, lipsync_pb2.ListAvatarsRequest())
        return admin_pb2.ListAvatarsResponse(avatars=reply.avatars)

    async def delete_avatar(
        self, request: admin_pb2.DeleteAvatarRequest
    ) -> admin_pb2.DeleteAvatarResponse:
        """Deletes an avatar."""
        lipsync = self._clients.lipsync
        await lipsync.unary(
            lipsync.stub.DeleteAvatar, lipsync_pb2.DeleteAvatarRequest(avatar_id=request.avatar_id)
        )
        return admin_pb2.DeleteAvatarResponse()

    async def get_avatar_preview(
        self, request: admin_pb2.GetAvatarPreviewRequest
    ) -> admin_pb2.GetAvatarPreviewResponse:
        """Gets an avatar's preview image and, when asked, a talking sample: TTS speaks the
        sample in the chosen voice and lip-sync animates the avatar with it."""
        speech = None
        if request.talking:
            text = request.sample_text.strip() or PREVIEW_GREETING
            if len(text) > MAX_SAMPLE_TEXT_CHARS:
                raise InvalidArgument(
                    f"sample_text has {len(text)} characters; at most {MAX_SAMPLE_TEXT_CHARS}"
                )
            speech = lipsync_pb2.PreviewSpeech(
                audio_format=media_pb2.AudioFormat(
                    encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE,
                    sample_rate_hz=PREVIEW_SAMPLE_RATE_HZ,
                    channels=1,
                ),
                data=await self._speak(text, request.voice),
            )
        lipsync = self._clients.lipsync
        reply = await lipsync.unary(
            lipsync.stub.GetAvatarPreview,
            lipsync_pb2.GetAvatarPreviewRequest(avatar_id=request.avatar_id, speech=speech),
        )
        return admin_pb2.GetAvatarPreviewResponse(
            image=reply.image,
            mime_type=reply.mime_type,
            width=reply.width,
            height=reply.height,
            talking_video=reply.talking_video,
            talking_video_mime_type=reply.talking_video_mime_type,
        )

    async def _speak(self, text: str, voice: str) -> bytes:
        """``text`` spoken in ``voice`` as 16 kHz PCM (the talking sample's sound)."""

        async def pieces() -> AsyncIterator[str]:
            yield text

        stream = await self._clients.tts.synthesize(
            VoiceSettings(PREVIEW_SAMPLE_RATE_HZ, voice=voice), pieces()
        )
        return b"".join([item.data async for item in stream if isinstance(item, SpeechAudio)])

    async def stream_idle_frames(
        self, request: admin_pb2.StreamIdleFramesRequest
    ) -> AsyncIterator[admin_pb2.StreamIdleFramesResponse]:
        """Streams an avatar's idle loop until the caller cancels or max_frames are sent."""
        lipsync = self._clients.lipsync
        await lipsync.ensure_ready()
        call = lipsync.stub.StreamIdleFrames(
            lipsync_pb2.StreamIdleFramesRequest(
                avatar_id=request.avatar_id,
                fps=request.fps,
                pixel_format=request.pixel_format,
                width=request.width,
                height=request.height,
                max_frames=request.max_frames,
                unpaced=request.unpaced,
            )
        )
        try:
            async for response in call:
                yield admin_pb2.StreamIdleFramesResponse(
                    frame=response.frame, frame_index=response.frame_index
                )
        except grpc.aio.AioRpcError as exc:
            raise UpstreamError.wrap("lipsync", exc) from exc
        finally:
            call.cancel()

    async def list_voices(
        self, request: admin_pb2.ListVoicesRequest
    ) -> admin_pb2.ListVoicesResponse:
        """Lists the TTS voices."""
        tts = self._clients.tts
        reply = await tts.unary(
            tts.stub.ListVoices, tts_pb2.ListVoicesRequest(language_code=request.language_code)
        )
        return admin_pb2.ListVoicesResponse(voices=reply.voices, default_voice=reply.default_voice)

    async def list_models(self) -> admin_pb2.ListModelsResponse:
        """Lists the LLM models."""
        llm = self._clients.llm
        reply = await llm.unary(llm.stub.ListModels, llm_pb2.ListModelsRequest())
        return admin_pb2.ListModelsResponse(models=reply.models, default_model=reply.default_model)

    async def index_documents(
        self, request: admin_pb2.IndexDocumentsRequest
    ) -> admin_pb2.IndexDocumentsResponse:
        """Indexes documents into a knowledge base."""
        llm = self._clients.llm
        reply = await llm.unary(
            llm.stub.IndexDocuments,
            llm_pb2.IndexDocumentsRequest(
                knowledge_base_id=request.knowledge_base_id, documents=request.documents
            ),
        )
        return admin_pb2.IndexDocumentsResponse(
            document_count=reply.document_count, passage_count=reply.passage_count
        )

    async def delete_knowledge_base(
        self, request: admin_pb2.DeleteKnowledgeBaseRequest
    ) -> admin_pb2.DeleteKnowledgeBaseResponse:
        """Deletes a knowledge base."""
        llm = self._clients.llm
        reply = await llm.unary(
            llm.stub.DeleteKnowledgeBase,
            llm_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id=request.knowledge_base_id),
        )
        return admin_pb2.DeleteKnowledgeBaseResponse(deleted_documents=reply.deleted_documents)
