"""Bad requests get clear statuses: INVALID_ARGUMENT saying what is wrong, NOT_FOUND for ids."""

from __future__ import annotations

import grpc
import pytest
from vtutor.llm.v1 import llm_pb2

from tests.llm_svc.conftest import collect, llm_service, llm_settings, user

pytestmark = pytest.mark.integration

Options = llm_pb2.GenerationOptions


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (llm_pb2.GenerateRequest(), "messages is empty"),
        (
            llm_pb2.GenerateRequest(messages=[llm_pb2.Message(content="hi")]),
            "messages[0].role is ROLE_UNSPECIFIED",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("a"), llm_pb2.Message(role=42, content="b")]),
            "messages[1].role is 42",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(temperature=2.5)),
            "options.temperature is 2.5",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(temperature=-0.1)),
            "options.temperature",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(max_tokens=0)),
            "options.max_tokens is 0",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(max_tokens=8193)),
            "[1, 8192]",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(top_p=0)),
            "options.top_p",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(stop=["x"] * 9)),
            "at most 8",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(stop=[""])),
            "options.stop[0]",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], options=Options(stop=["y" * 65])),
            "options.stop[0] has 65 characters",
        ),
        (
            llm_pb2.GenerateRequest(messages=[user("hi")], knowledge_base_id="no/slashes"),
            "knowledge_base_id 'no/slashes' is invalid",
        ),
    ],
)
async def test_bad_generate_requests_are_invalid_argument(tmp_path, request_, message):
    async with llm_service(llm_settings(tmp_path)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await collect(stub.Generate(request_))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()


async def test_unknown_knowledge_base_is_not_found(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await collect(
                stub.Generate(
                    llm_pb2.GenerateRequest(messages=[user("hi")], knowledge_base_id="tutor-9")
                )
            )
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert "'tutor-9' does not exist" in info.value.details()

        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.DeleteKnowledgeBase(
                llm_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id="tutor-9")
            )
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def _doc(doc_id: str = "d1", text: str = "Some text.", title: str = "") -> llm_pb2.Document:
    return llm_pb2.Document(id=doc_id, title=title, text=text)


@pytest.mark.parametrize(
    ("kb_id", "documents", "message"),
    [
        ("", [_doc()], "knowledge_base_id '' is invalid"),
        ("k" * 129, [_doc()], "is invalid"),
        ("kb", [], "documents is empty"),
        ("kb", [_doc(doc_id="bad id")], "documents[0].id 'bad id' is invalid"),
        ("kb", [_doc(), _doc()], "'d1' appears twice"),
        ("kb", [_doc(text="  \n ")], "'d1' has no text"),
        ("kb", [_doc(text="x" * (4 * 1024 * 1024 + 1))], "larger than 4 MiB"),
        ("demo", [_doc()], "read-only"),
    ],
)
async def test_bad_index_requests_are_invalid_argument(tmp_path, kb_id, documents, message):
    async with llm_service(llm_settings(tmp_path)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.IndexDocuments(
                llm_pb2.IndexDocumentsRequest(knowledge_base_id=kb_id, documents=documents)
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()


async def test_the_demo_cannot_be_deleted(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.DeleteKnowledgeBase(
                llm_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id="demo")
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # ...and still answers.
        _, done = await collect(
            stub.Generate(llm_pb2.GenerateRequest(messages=[user("what is two plus two")]))
        )
    assert done.citations[0].document_id == "arithmetic"


async def test_a_document_without_a_title_is_cited_by_its_id(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        await stub.IndexDocuments(
            llm_pb2.IndexDocumentsRequest(
                knowledge_base_id="kb", documents=[_doc("glaciers", "Glaciers are rivers of ice.")]
            )
        )
        _, done = await collect(
            stub.Generate(
                llm_pb2.GenerateRequest(
                    messages=[user("what are glaciers")], knowledge_base_id="kb"
                )
            )
        )
    assert done.citations[0].title == "glaciers"
