"""The tutor dialogue suite (tests/support/tutor_dialogues.py) through the gRPC service, on the
retrieval engine: every reply answers from the right passage in at most 60 words (more only on
request), reads out no heading or markup, follows up, handles each request, stays honest about
what it has no material for, and asks back when the student was heard badly."""

from __future__ import annotations

import pytest
from vtutor.llm.v1 import llm_pb2

from tests.llm_svc.conftest import collect, llm_service, llm_settings, user
from tests.support.tutor_dialogues import (
    DIALOGUES,
    KNOWLEDGE_BASE_ID,
    Dialogue,
    index_request,
    problems,
    run_dialogue,
)

pytestmark = pytest.mark.integration


# The held-out dialogues are measured by benchmarks/tutor_dialogue.py, not tuned against here.
TUNING = [d for d in DIALOGUES if not d.held_out]


@pytest.mark.parametrize("dialogue", TUNING, ids=[d.name for d in TUNING])
async def test_dialogue(tmp_path, dialogue: Dialogue):
    # Without the demo fallback, as a deployed service runs.
    settings = llm_settings(tmp_path, retrieval_fallback_knowledge_base="")
    async with llm_service(settings) as stub:
        await stub.IndexDocuments(index_request())
        outcomes = await run_dialogue(stub, dialogue)
    failures = [
        f"{o.exchange.student!r} -> {o.reply!r}: {'; '.join(found)}"
        for o in outcomes
        if (found := problems(o))
    ]
    assert not failures, "\n".join(failures)


async def test_a_tutor_prompt_without_a_check_request_gets_answers_without_a_question(tmp_path):
    prompt = llm_pb2.Message(role=llm_pb2.ROLE_SYSTEM, content="You are Ada, a science tutor.")
    checking = llm_pb2.Message(
        role=llm_pb2.ROLE_SYSTEM,
        content="You are Ada. After answering, check that the student understood.",
    )
    question = user("what is an earthquake")
    async with llm_service(llm_settings(tmp_path)) as stub:
        await stub.IndexDocuments(index_request())
        plain, _ = await collect(
            stub.Generate(
                llm_pb2.GenerateRequest(
                    messages=[prompt, question], knowledge_base_id=KNOWLEDGE_BASE_ID
                )
            )
        )
        checked, _ = await collect(
            stub.Generate(
                llm_pb2.GenerateRequest(
                    messages=[checking, question], knowledge_base_id=KNOWLEDGE_BASE_ID
                )
            )
        )
    assert not "".join(plain).endswith("?")
    assert "".join(checked).endswith("?")
    assert "".join(checked).startswith("".join(plain))


async def test_asking_for_more_detail_allows_a_longer_answer(tmp_path):
    history = [
        user("how does blood travel around the body"),
    ]
    async with llm_service(llm_settings(tmp_path)) as stub:
        await stub.IndexDocuments(index_request())
        short, _ = await collect(
            stub.Generate(
                llm_pb2.GenerateRequest(messages=history, knowledge_base_id=KNOWLEDGE_BASE_ID)
            )
        )
        history += [
            llm_pb2.Message(role=llm_pb2.ROLE_ASSISTANT, content="".join(short)),
            user("can you tell me more about that in detail"),
        ]
        more, done = await collect(
            stub.Generate(
                llm_pb2.GenerateRequest(messages=history, knowledge_base_id=KNOWLEDGE_BASE_ID)
            )
        )
    assert len("".join(short).split()) <= 60
    assert 0 < len("".join(more).split()) <= 120
    assert done.citations and done.citations[0].document_id == "heart"
    # Nothing said before is said again.
    said = "".join(short).split("?")[0]
    assert not set(said.split(". ")) & set("".join(more).split(". "))


async def test_confidence_outside_zero_to_one_is_invalid(tmp_path):
    import grpc

    async with llm_service(llm_settings(tmp_path)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await collect(
                stub.Generate(llm_pb2.GenerateRequest(messages=[user("hi")], input_confidence=1.5))
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input_confidence" in info.value.details()
