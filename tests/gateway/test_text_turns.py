"""Text turns through a real llm_svc (retrieval over its demo knowledge base): Chat and Converse."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from vtutor.gateway.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc
from vtutor.llm.v1 import llm_pb2

from tests.gateway.gateway_client import (
    SERVICE_AUTH,
    ConverseStream,
    answer_text,
    converse_config,
    create_session,
    tutor,
)

pytestmark = pytest.mark.integration

DOCUMENTS = [
    ("volcano", "Volcanoes", "A volcano is an opening in the crust where molten rock escapes."),
    ("river", "Rivers", "A river is a stream of fresh water that flows towards the sea."),
    ("desert", "Deserts", "A desert is a dry place where very little rain falls all year."),
]


async def test_chat_without_a_session_answers_from_the_demo_knowledge_base(text_gateway):
    async with grpc.aio.insecure_channel(text_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        responses = [
            r
            async for r in stub.Chat(
                gateway_pb2.ChatRequest(
                    tenant_id="school-a", tutor=tutor(), text="What is photosynthesis?"
                ),
                metadata=SERVICE_AUTH,
            )
        ]
    kinds = [r.WhichOneof("response") for r in responses]
    assert kinds[-1] == "turn_event" and set(kinds[:-1]) == {"assistant_text"}
    event = responses[-1].turn_event
    assert event.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED
    answer = "".join(r.assistant_text.delta for r in responses[:-1])
    assert "sunlight" in answer.lower()
    assert event.record.assistant_text == answer.strip()
    assert any("photosynthesis" in c.title.lower() for c in event.record.citations)
    timings = event.record.timings
    assert 0 < timings.first_token_us <= timings.last_token_us <= timings.end_us


async def test_chat_in_a_session_shares_its_history_and_is_watched(text_gateway):
    async with grpc.aio.insecure_channel(text_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        session_id = created.session.session_id
        watch = stub.WatchSessionTurns(
            gateway_pb2.WatchSessionTurnsRequest(session_id=session_id), metadata=SERVICE_AUTH
        )
        for question in ("What is the water cycle?", "What is photosynthesis?"):
            async for _ in stub.Chat(
                gateway_pb2.ChatRequest(session_id=session_id, text=question),
                metadata=SERVICE_AUTH,
            ):
                pass
        first = await asyncio.wait_for(watch.read(), 10)
        second = await asyncio.wait_for(watch.read(), 10)
        watch.cancel()
        assert first.turn.user_text == "What is the water cycle?"
        assert "evaporat" in first.turn.assistant_text.lower()
        assert second.turn.turn_index == 1
        got = await stub.GetSession(
            gateway_pb2.GetSessionRequest(session_id=session_id), metadata=SERVICE_AUTH
        )
        assert got.session.turn_count == 2


async def test_text_message_in_converse_streams_captions_then_completes(text_gateway):
    async with grpc.aio.insecure_channel(text_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        stream = ConverseStream.open(
            stub,
            created.engine_token,
            converse_config(created.session.session_id, modalities=(gateway_pb2.MODALITY_TEXT,)),
        )
        stream.send_text("How do plants make their food?")
        stream.close()
        responses = await stream.read_to_end(30)
    kinds = [r.WhichOneof("response") for r in responses]
    assert kinds[0] == "ready"
    started = next(r.turn_event for r in responses if r.HasField("turn_event"))
    assert started.type == gateway_pb2.TURN_EVENT_TYPE_STARTED
    done = responses[-1].turn_event
    assert done.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED
    assert done.turn_id == started.turn_id
    # Captions come between the start and the end of their turn; no media was asked for.
    assert set(kinds[kinds.index("turn_event") + 1 : -1]) == {"assistant_text"}
    assert answer_text(responses, done.turn_id).strip() == done.record.assistant_text
    assert "sunlight" in done.record.assistant_text.lower()
    assert done.timings.final_transcript_us <= done.timings.first_token_us
    assert done.timings.end_of_speech_us == 0  # typed, not spoken


async def test_admin_pass_through_reaches_the_llm_service(text_gateway):
    async with grpc.aio.insecure_channel(text_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        models = await stub.ListModels(admin_pb2.ListModelsRequest(), metadata=SERVICE_AUTH)
        assert models.default_model
        indexed = await stub.IndexDocuments(
            admin_pb2.IndexDocumentsRequest(
                knowledge_base_id="kb-gateway-test",
                documents=[
                    llm_pb2.Document(id=doc_id, title=title, text=text)
                    for doc_id, title, text in DOCUMENTS
                ],
            ),
            metadata=SERVICE_AUTH,
        )
        assert indexed.document_count == len(DOCUMENTS)
        profile = tutor()
        profile.knowledge_base_id = "kb-gateway-test"
        responses = [
            r
            async for r in stub.Chat(
                gateway_pb2.ChatRequest(tenant_id="t", tutor=profile, text="What is a volcano?"),
                metadata=SERVICE_AUTH,
            )
        ]
        assert "molten rock" in responses[-1].turn_event.record.assistant_text
        deleted = await stub.DeleteKnowledgeBase(
            admin_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id="kb-gateway-test"),
            metadata=SERVICE_AUTH,
        )
        assert deleted.deleted_documents == len(DOCUMENTS)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.DeleteKnowledgeBase(
                admin_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id="kb-gateway-test"),
                metadata=SERVICE_AUTH,
            )
        # The upstream's status comes through unchanged.
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
