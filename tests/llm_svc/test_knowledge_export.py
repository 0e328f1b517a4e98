"""ExportKnowledgeBase: a knowledge base's documents and content hash, for asr_svc (issue 15)."""

from __future__ import annotations

import grpc
import pytest
from vtutor.llm.v1 import llm_pb2

from llm_svc.config import LlmSettings
from llm_svc.knowledge.documents import Document
from llm_svc.knowledge.export import content_hash
from tests.llm_svc.conftest import llm_service

pytestmark = pytest.mark.integration


def _document(doc_id: str, text: str) -> llm_pb2.Document:
    return llm_pb2.Document(id=doc_id, title=doc_id.title(), text=text)


async def test_export_returns_the_documents_and_a_hash_that_follows_their_content(tmp_path):
    settings = LlmSettings(
        host="127.0.0.1", port=0, grace_period_s=0, data_dir=tmp_path, engine="retrieval"
    )
    async with llm_service(settings) as stub:
        await stub.IndexDocuments(
            llm_pb2.IndexDocumentsRequest(
                knowledge_base_id="kb-1",
                documents=[_document("b", "Bees make honey."), _document("a", "Ants dig.")],
            )
        )
        first = await stub.ExportKnowledgeBase(
            llm_pb2.ExportKnowledgeBaseRequest(knowledge_base_id="kb-1")
        )
        assert [d.id for d in first.documents] == ["a", "b"]
        assert first.documents[1].text == "Bees make honey."
        assert not first.unchanged and len(first.content_hash) == 32

        same = await stub.ExportKnowledgeBase(
            llm_pb2.ExportKnowledgeBaseRequest(
                knowledge_base_id="kb-1", known_content_hash=first.content_hash
            )
        )
        assert same.unchanged and not same.documents
        assert same.content_hash == first.content_hash

        await stub.IndexDocuments(
            llm_pb2.IndexDocumentsRequest(
                knowledge_base_id="kb-1", documents=[_document("b", "Bees dance.")]
            )
        )
        changed = await stub.ExportKnowledgeBase(
            llm_pb2.ExportKnowledgeBaseRequest(
                knowledge_base_id="kb-1", known_content_hash=first.content_hash
            )
        )
        assert not changed.unchanged and changed.content_hash != first.content_hash
        assert [d.text for d in changed.documents] == ["Ants dig.", "Bees dance."]

        for kb_id, code in (
            ("nope", grpc.StatusCode.NOT_FOUND),
            ("bad id!", grpc.StatusCode.INVALID_ARGUMENT),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.ExportKnowledgeBase(
                    llm_pb2.ExportKnowledgeBaseRequest(knowledge_base_id=kb_id)
                )
            assert error.value.code() == code


@pytest.mark.unit
def test_the_hash_does_not_depend_on_order_and_separates_fields():
    a, b = Document("a", "A", "one"), Document("b", "B", "two")
    assert content_hash([a, b]) == content_hash([b, a])
    assert content_hash([Document("a", "A", "one two")]) != content_hash(
        [Document("a", "A one", "two")]
    )
