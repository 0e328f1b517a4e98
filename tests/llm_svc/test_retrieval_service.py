"""The retrieval engine through gRPC: the demo answers, no-material answers, and restarts."""

from __future__ import annotations

import grpc
import pytest
from vtutor.llm.v1 import llm_pb2

from llm_svc.knowledge.documents import split_sentences
from llm_svc.server import build_service
from svc_core.server import StartupError
from tests.llm_svc.conftest import collect, llm_service, llm_settings, user

pytestmark = pytest.mark.integration

# Questions a student may ask the demo tutor, and the demo document that answers each.
DEMO_QUESTIONS = [
    ("what is two plus two", "arithmetic", "Two plus two is four"),
    ("how do plants make food", "photosynthesis", "Plants make their own food"),
    ("What is the water cycle?", "water-cycle", "The water cycle is"),
    ("how is rain made", "water-cycle", "precipitation"),
    ("what is a fraction", "fractions", "A fraction is a part of a whole"),
    ("which is the biggest planet", "solar-system", "Jupiter is the biggest planet"),
    ("can I interrupt you", "using-the-tutor", "You can interrupt me"),
    ("why are leaves green", "photosynthesis", "chlorophyll"),
]

# A small custom knowledge base and a test set: each question must cite its document.
SCHOOL_DOCUMENTS = [
    llm_pb2.Document(
        id="volcanoes",
        title="Volcanoes",
        text=(
            "A volcano is an opening in the Earth's crust. Magma rises from deep underground "
            "and erupts as lava, ash and gas.\n\n"
            "Some volcanoes are active and may erupt again; dormant volcanoes are sleeping."
        ),
    ),
    llm_pb2.Document(
        id="romans",
        title="Ancient Rome",
        text=(
            "Rome was founded, according to legend, by Romulus in 753 BC. The Roman Empire "
            "built roads, aqueducts and baths across Europe.\n\n"
            "Julius Caesar was a Roman general who became dictator before he was murdered in "
            "44 BC."
        ),
    ),
    llm_pb2.Document(
        id="magnets",
        title="Magnets",
        text=(
            "A magnet attracts iron and steel. Every magnet has a north pole and a south pole; "
            "opposite poles attract and like poles repel.\n\n"
            "The Earth itself is a giant magnet, which is why a compass needle points north."
        ),
    ),
]
SCHOOL_TEST_SET = [
    ("why do volcanoes erupt", "volcanoes"),
    ("what is lava", "volcanoes"),
    ("who was Julius Caesar", "romans"),
    ("when was Rome founded", "romans"),
    ("what do magnets attract", "magnets"),
    ("why does a compass point north", "magnets"),
]


def _answer_sentences(answer: str) -> list[str]:
    """The sentences of an answer before its closing check question."""
    sentences = split_sentences(answer)
    return sentences[:-1] if sentences and sentences[-1].endswith("?") else sentences


def _ask(question: str, **fields) -> llm_pb2.GenerateRequest:
    return llm_pb2.GenerateRequest(messages=[user(question)], **fields)


@pytest.mark.parametrize(("question", "document_id", "phrase"), DEMO_QUESTIONS)
async def test_demo_knowledge_base_answers_school_questions(
    tmp_path, question, document_id, phrase
):
    async with llm_service(llm_settings(tmp_path)) as stub:
        deltas, done = await collect(stub.Generate(_ask(question, knowledge_base_id="demo")))
    answer = "".join(deltas)
    assert done.finish_reason == llm_pb2.FINISH_REASON_STOP
    assert [c.document_id for c in done.citations] == [document_id]
    assert phrase in answer
    # The answer is sentences of the cited passage, then (the default prompt asks for it) a
    # question that checks understanding.
    assert _answer_sentences(answer) and all(
        sentence in done.citations[0].text for sentence in _answer_sentences(answer)
    )
    assert answer.endswith("?")
    assert len(answer.split()) <= 60
    assert done.usage.completion_tokens > 10
    assert done.model == "retrieval"


async def test_without_a_knowledge_base_the_demo_answers(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        _, done = await collect(stub.Generate(_ask("how do plants make food")))
    assert [c.document_id for c in done.citations] == ["photosynthesis"]


async def test_off_topic_questions_get_a_plain_no_material_answer(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        deltas, done = await collect(stub.Generate(_ask("what is the capital of France")))
    assert done.finish_reason == llm_pb2.FINISH_REASON_NO_MATERIAL
    assert list(done.citations) == []
    assert "don't have any material" in "".join(deltas)


async def test_fallback_can_be_switched_off(tmp_path):
    settings = llm_settings(tmp_path, retrieval_fallback_knowledge_base="")
    async with llm_service(settings) as stub:
        _, done = await collect(stub.Generate(_ask("how do plants make food")))
    assert done.finish_reason == llm_pb2.FINISH_REASON_NO_MATERIAL


async def test_max_tokens_and_stop_sequences_end_the_answer(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        question = "how do plants make food"
        deltas, done = await collect(
            stub.Generate(_ask(question, options=llm_pb2.GenerationOptions(max_tokens=3)))
        )
        assert "".join(deltas) == "Plants make their"
        assert done.usage.completion_tokens == 3
        assert done.finish_reason == llm_pb2.FINISH_REASON_LENGTH

        deltas, done = await collect(
            stub.Generate(_ask(question, options=llm_pb2.GenerationOptions(stop=[" food"])))
        )
        assert "".join(deltas) == "Plants make their own"
        assert done.finish_reason == llm_pb2.FINISH_REASON_STOP


async def test_answers_stream_piece_by_piece_with_timings(tmp_path):
    settings = llm_settings(tmp_path, retrieval_token_delay_ms=10)
    async with llm_service(settings) as stub:
        deltas, done = await collect(stub.Generate(_ask("what is two plus two")))
    # Paced at 10 ms a piece, the client keeps up: a message per piece (on a loaded machine
    # a few may be merged).
    pieces = done.usage.completion_tokens
    assert pieces > 10
    assert 0.8 * pieces <= len(deltas) <= pieces
    assert done.usage.total_ms >= 10 * (pieces - 1)
    assert done.usage.time_to_first_token_ms < done.usage.total_ms
    assert done.usage.prompt_tokens == 5


async def test_indexed_knowledge_survives_a_restart_and_cites_the_right_documents(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        reply = await stub.IndexDocuments(
            llm_pb2.IndexDocumentsRequest(knowledge_base_id="school-7", documents=SCHOOL_DOCUMENTS)
        )
        assert reply.document_count == 3
        assert reply.passage_count == 6

    async with llm_service(llm_settings(tmp_path)) as stub:
        for question, document_id in SCHOOL_TEST_SET:
            deltas, done = await collect(
                stub.Generate(_ask(question, knowledge_base_id="school-7"))
            )
            assert done.finish_reason == llm_pb2.FINISH_REASON_STOP, question
            assert done.citations[0].document_id == document_id, question
            answer = "".join(deltas)
            assert _answer_sentences(answer)[0] in done.citations[0].text, question
        # The demo does not leak into a tutor's own knowledge base.
        _, done = await collect(
            stub.Generate(_ask("how do plants make food", knowledge_base_id="school-7"))
        )
        assert done.finish_reason == llm_pb2.FINISH_REASON_NO_MATERIAL


async def test_deleted_knowledge_bases_are_gone_after_a_restart(tmp_path):
    request = llm_pb2.IndexDocumentsRequest(knowledge_base_id="gone", documents=SCHOOL_DOCUMENTS)
    async with llm_service(llm_settings(tmp_path)) as stub:
        await stub.IndexDocuments(request)
        reply = await stub.DeleteKnowledgeBase(
            llm_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id="gone")
        )
        assert reply.deleted_documents == 3
    async with llm_service(llm_settings(tmp_path)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await collect(stub.Generate(_ask("what is lava", knowledge_base_id="gone")))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_list_models_names_the_retrieval_model(tmp_path):
    async with llm_service(llm_settings(tmp_path)) as stub:
        reply = await stub.ListModels(llm_pb2.ListModelsRequest())
    assert [m.name for m in reply.models] == ["retrieval"]
    assert reply.default_model == "retrieval"


async def test_a_fallback_knowledge_base_that_does_not_exist_stops_startup(tmp_path):
    settings = llm_settings(tmp_path, retrieval_fallback_knowledge_base="missing")
    _, startup, shutdown = build_service(settings)
    with pytest.raises(StartupError, match="'missing'"):
        await startup()
    await shutdown()
