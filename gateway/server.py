"""GatewayService: protobuf in and out; sessions, conversations and pass-through underneath."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from vtutor.gateway.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc

from gateway.admin_passthrough import AdminPassthrough
from gateway.auth import ServiceCredential, TokenGuard, bearer_token, client_address
from gateway.chat import chat_turn
from gateway.config import GatewaySettings
from gateway.conversation import ClientInput, Conversation
from gateway.conversation_context import SessionTurns
from gateway.events import AssistantTextOut, ErrorOut
from gateway.proto_mapping import (
    client_input,
    converse_options,
    converse_response,
    record_to_proto,
    session_to_proto,
    timestamp,
    turn_event_to_proto,
    tutor_from_proto,
)
from gateway.sessions import SessionRegistry
from gateway.upstream.channels import UpstreamError
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.llm_client import message_from_proto
from svc_core.errors import InvalidArgument, Unauthenticated
from svc_core.streams import split_config

logger = logging.getLogger(__name__)


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    """The gateway's gRPC service.

    Args:
        settings: Gateway settings (the API key must be set).
        registry: The sessions.
        clients: Upstream clients.
        engine_url: Address handed out for Converse (host:port).
    """

    def __init__(
        self,
        settings: GatewaySettings,
        registry: SessionRegistry,
        clients: UpstreamClients,
        *,
        engine_url: str,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.clients = clients
        self.engine_url = engine_url
        self.credential = ServiceCredential(settings.api_key.get_secret_value())
        self.token_guard = TokenGuard(
            per_session=settings.token_failures_per_session_per_minute,
            per_peer=settings.token_failures_per_peer_per_minute,
        )
        self.admin = AdminPassthrough(
            clients, avatar_create_timeout_s=settings.avatar_create_timeout_s
        )
        # Live conversations by session id (tests and the benchmark look inside).
        self.conversations: dict[str, Conversation] = {}

    # Control plane ---------------------------------------------------------------------------

    async def CreateSession(
        self, request: gateway_pb2.CreateSessionRequest, context: Any
    ) -> gateway_pb2.CreateSessionResponse:
        self.credential.require(context)
        if not request.HasField("tutor"):
            raise InvalidArgument("tutor is required")
        session, token = await self.registry.create_session(
            tenant_id=request.tenant_id,
            student_id=request.student_id,
            tutor=tutor_from_proto(request.tutor),
            engine_url=self.engine_url,
            ttl_s=request.ttl_seconds,
        )
        return gateway_pb2.CreateSessionResponse(
            session=session_to_proto(session),
            engine_url=session.engine_url,
            engine_token=token,
            expire_time=timestamp(session.expire_time),
        )

    async def GetSession(
        self, request: gateway_pb2.GetSessionRequest, context: Any
    ) -> gateway_pb2.GetSessionResponse:
        self.credential.require(context)
        return gateway_pb2.GetSessionResponse(
            session=session_to_proto(await self.registry.fetch(request.session_id))
        )

    async def ListSessions(
        self, request: gateway_pb2.ListSessionsRequest, context: Any
    ) -> gateway_pb2.ListSessionsResponse:
        self.credential.require(context)
        sessions, next_token = await self.registry.list(
            request.tenant_id, page_size=request.page_size, page_token=request.page_token
        )
        return gateway_pb2.ListSessionsResponse(
            sessions=[session_to_proto(s) for s in sessions], next_page_token=next_token
        )

    async def EndSession(
        self, request: gateway_pb2.EndSessionRequest, context: Any
    ) -> gateway_pb2.EndSessionResponse:
        self.credential.require(context)
        session = await self.registry.end_session(request.session_id)
        return gateway_pb2.EndSessionResponse(session=session_to_proto(session))

    async def WatchSessionTurns(
        self, request: gateway_pb2.WatchSessionTurnsRequest, context: Any
    ) -> AsyncIterator[gateway_pb2.WatchSessionTurnsResponse]:
        self.credential.require(context)
        session = await self.registry.resume(request.session_id)
        async for record in self.registry.watch_turns(session, request.from_turn_index):
            yield gateway_pb2.WatchSessionTurnsResponse(turn=record_to_proto(record))

    # Data plane ------------------------------------------------------------------------------

    async def Converse(
        self, request_iterator: AsyncIterator[gateway_pb2.ConverseRequest], context: Any
    ) -> AsyncIterator[gateway_pb2.ConverseResponse]:
        # The credential is checked before reading anything, so a caller without one learns
        # nothing about sessions or the protocol.
        token = bearer_token(context)
        config, rest = await split_config(request_iterator, oneof="request")
        client = client_address(context, self.credential)
        self.token_guard.require_allowed(config.session_id, client)
        try:
            session = await self.registry.open_stream(config.session_id, token)
        except Unauthenticated:
            self.token_guard.failed(config.session_id, client)
            raise
        try:
            options = converse_options(config, video_enabled=session.tutor.video_enabled)
        except BaseException:
            self.registry.disconnect(session)
            raise
        conversation = Conversation(
            session, options, clients=self.clients, registry=self.registry, settings=self.settings
        )
        self.conversations[session.session_id] = conversation
        logger.info("session %s connected", session.session_id)

        async def inputs() -> AsyncIterator[ClientInput]:
            async for message in rest:
                yield client_input(message)

        try:
            async for event in conversation.events(inputs()):
                response = converse_response(event, session, send_text=options.send_text)
                if response is not None:
                    yield response
        finally:
            if self.conversations.get(session.session_id) is conversation:
                del self.conversations[session.session_id]
            logger.info("session %s disconnected", session.session_id)

    async def CheckEngineToken(
        self, request: gateway_pb2.CheckEngineTokenRequest, context: Any
    ) -> gateway_pb2.CheckEngineTokenResponse:
        # The same checks as Converse's, without opening a stream. An unknown session and a
        # wrong token get one answer (no oracle for which session ids exist), and failed
        # checks are rate-limited per session id and per peer.
        token = bearer_token(context)
        peer = client_address(context, self.credential)
        self.token_guard.require_allowed(request.session_id, peer)
        try:
            session = await self.registry.authenticate(request.session_id, token)
        except Unauthenticated:
            self.token_guard.failed(request.session_id, peer)
            raise
        return gateway_pb2.CheckEngineTokenResponse(expire_time=timestamp(session.expire_time))

    async def Chat(
        self, request: gateway_pb2.ChatRequest, context: Any
    ) -> AsyncIterator[gateway_pb2.ChatResponse]:
        self.credential.require(context)
        if request.session_id:
            session = await self.registry.resume(request.session_id)
            if not session.live:
                raise InvalidArgument("the session has ended")
            turns = chat_turn(
                request.text,
                tutor=session.tutor,
                history=session.history(self.settings.max_history_turns),
                clients=self.clients,
                settings=self.settings,
                records=SessionTurns(self.registry, session),
                session=session,
            )
        else:
            if not request.HasField("tutor"):
                raise InvalidArgument("without a session_id, tutor is required")
            turns = chat_turn(
                request.text,
                tutor=tutor_from_proto(request.tutor),
                history=[message_from_proto(m) for m in request.history],
                clients=self.clients,
                settings=self.settings,
            )
        failure: ErrorOut | None = None
        async for event in turns:
            if isinstance(event, AssistantTextOut):
                yield gateway_pb2.ChatResponse(
                    assistant_text=gateway_pb2.AssistantText(
                        turn_id=event.turn_id, delta=event.delta
                    )
                )
            elif isinstance(event, ErrorOut):
                failure = event
            else:
                yield gateway_pb2.ChatResponse(turn_event=turn_event_to_proto(event))
        if failure is not None:
            # The FAILED turn event went out; the status tells the caller why.
            raise UpstreamError(failure.stage, status_code(failure.code), failure.message)

    # Admin pass-through ----------------------------------------------------------------------

    async def CreateAvatar(
        self, request_iterator: AsyncIterator[admin_pb2.CreateAvatarRequest], context: Any
    ) -> AsyncIterator[admin_pb2.CreateAvatarResponse]:
        self.credential.require(context)
        async for response in self.admin.create_avatar(request_iterator):
            yield response

    async def GetAvatar(
        self, request: admin_pb2.GetAvatarRequest, context: Any
    ) -> admin_pb2.GetAvatarResponse:
        self.credential.require(context)
        return await self.admin.get_avatar(request)

    async def ListAvatars(
        self, request: admin_pb2.ListAvatarsRequest, context: Any
    ) -> admin_pb2.ListAvatarsResponse:
        self.credential.require(context)
        return await self.admin.list_avatars()

    async def DeleteAvatar(
        self, request: admin_pb2.DeleteAvatarRequest, context: Any
    ) -> admin_pb2.DeleteAvatarResponse:
        self.credential.require(context)
        return await self.admin.delete_avatar(request)

    async def GetAvatarPreview(
        self, request: admin_pb2.GetAvatarPreviewRequest, context: Any
    ) -> admin_pb2.GetAvatarPreviewResponse:
        self.credential.require(context)
        return await self.admin.get_avatar_preview(request)

    async def StreamIdleFrames(
        self, request: admin_pb2.StreamIdleFramesRequest, context: Any
    ) -> AsyncIterator[admin_pb2.StreamIdleFramesResponse]:
        self.credential.require(context)
        async for response in self.admin.stream_idle_frames(request):
            yield response

    async def ListVoices(
        self, request: admin_pb2.ListVoicesRequest, context: Any
    ) -> admin_pb2.ListVoicesResponse:
        self.credential.require(context)
        return await self.admin.list_voices(request)

    async def ListModels(
        self, request: admin_pb2.ListModelsRequest, context: Any
    ) -> admin_pb2.ListModelsResponse:
        self.credential.require(context)
        return await self.admin.list_models()

    async def IndexDocuments(
        self, request: admin_pb2.IndexDocumentsRequest, context: Any
    ) -> admin_pb2.IndexDocumentsResponse:
        self.credential.require(context)
        return await self.admin.index_documents(request)

    async def DeleteKnowledgeBase(
        self, request: admin_pb2.DeleteKnowledgeBaseRequest, context: Any
    ) -> admin_pb2.DeleteKnowledgeBaseResponse:
        self.credential.require(context)
        return await self.admin.delete_knowledge_base(request)


def status_code(number: int) -> grpc.StatusCode:
    """The gRPC status code with this number (INTERNAL for an unknown one)."""
    return next((c for c in grpc.StatusCode if c.value[0] == number), grpc.StatusCode.INTERNAL)
