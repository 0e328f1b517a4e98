"""The Ollama engine through gRPC, against a fake Ollama server on a real loopback socket."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from vtutor.llm.v1 import llm_pb2

from llm_svc.config import LlmSettings
from llm_svc.engines.ollama import OllamaEngine
from llm_svc.tutoring.prompts import DEFAULT_TUTOR_PROMPT, SPEECH_INSTRUCTION, asks_for_check
from svc_core.server import StartupError
from tests.llm_svc.conftest import collect, llm_service, llm_settings, user
from tests.support.fake_ollama import FakeModel, FakeOllamaServer, numbered_reply

pytestmark = pytest.mark.integration


def ollama_settings(tmp_path, fake: FakeOllamaServer, **overrides) -> LlmSettings:
    return llm_settings(tmp_path, engine="ollama", ollama_host=fake.url, **overrides)


def _ask(text: str = "hello", **fields) -> llm_pb2.GenerateRequest:
    return llm_pb2.GenerateRequest(messages=[user(text)], **fields)


async def test_tokens_arrive_in_order_and_before_the_server_has_finished(tmp_path):
    async with FakeOllamaServer(reply=numbered_reply(6), token_delay_s=0.15) as fake:
        async with llm_service(ollama_settings(tmp_path, fake)) as stub:
            call = stub.Generate(_ask())
            first = await call.read()
            # The fake needs 5 x 0.15 s more for the rest: it is still streaming.
            assert fake.streams_completed == 0
            deltas, done = await collect(call)
    # Paced at 0.15 s, each token is its own message.
    assert [first.delta.text, *deltas] == numbered_reply(6)
    assert done.finish_reason == llm_pb2.FINISH_REASON_STOP
    assert done.model == "llama3.2:3b"
    assert done.usage.completion_tokens == 6
    # Ollama's own count (the fake counts words of every message it got).
    sent = fake.chat_requests[0]["messages"]
    assert done.usage.prompt_tokens == sum(len(m["content"].split()) for m in sent) > 1
    assert done.usage.total_ms >= 700
    assert done.usage.time_to_first_token_ms < done.usage.total_ms


async def test_cancelling_the_call_closes_the_http_stream_at_once(tmp_path):
    async with FakeOllamaServer(reply=numbered_reply(100), token_delay_s=1.0) as fake:
        async with llm_service(ollama_settings(tmp_path, fake)) as stub:
            call = stub.Generate(_ask())
            assert (await call.read()).HasField("delta")
            cancelled_at = time.monotonic()
            call.cancel()
            await asyncio.wait_for(fake.disconnected.wait(), 2)
            assert fake.last_disconnect_at is not None
            # Well before the next token is due (1 s): the engine closed the connection itself
            # rather than noticing on its next read.
            assert fake.last_disconnect_at - cancelled_at < 0.5
            assert fake.streams_completed == 0
            assert fake.disconnects == 1
            # The service keeps serving.
            fake.reply = numbered_reply(2)
            fake.token_delay_s = 0
            deltas, _ = await collect(stub.Generate(_ask()))
    assert "".join(deltas) == "".join(numbered_reply(2))


async def test_a_client_deadline_also_closes_the_http_stream(tmp_path):
    async with FakeOllamaServer(reply=numbered_reply(100), token_delay_s=0.1) as fake:
        async with llm_service(ollama_settings(tmp_path, fake)) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(stub.Generate(_ask(), timeout=0.35))
            await asyncio.wait_for(fake.disconnected.wait(), 2)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert fake.streams_completed == 0


async def test_each_request_may_name_its_model_and_unknown_models_are_not_found(tmp_path):
    async with FakeOllamaServer(models=["llama3.2:3b", "qwen2.5:0.5b"]) as fake:
        async with llm_service(ollama_settings(tmp_path, fake)) as stub:
            _, done = await collect(stub.Generate(_ask(model="qwen2.5:0.5b")))
            assert done.model == "qwen2.5:0.5b"
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(stub.Generate(_ask(model="mistral:7b")))
    assert [r["model"] for r in fake.chat_requests] == ["qwen2.5:0.5b", "mistral:7b"]
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "'mistral:7b'" in info.value.details()
    assert "ollama pull mistral:7b" in info.value.details()


async def test_an_unreachable_server_is_unavailable(tmp_path):
    fake = await FakeOllamaServer().start()
    async with llm_service(ollama_settings(tmp_path, fake)) as stub:
        await fake.stop()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await collect(stub.Generate(_ask()))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert fake.url in info.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListModels(llm_pb2.ListModelsRequest())
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_server_dying_mid_reply_is_unavailable_after_the_tokens_it_sent(tmp_path):
    async with FakeOllamaServer(reply=numbered_reply(10), drop_after=3) as fake:
        async with llm_service(ollama_settings(tmp_path, fake)) as stub:
            call = stub.Generate(_ask())
            deltas = []
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for response in call:
                    deltas.append(response.delta.text)
    assert "".join(deltas) == "".join(numbered_reply(3))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_silent_server_hits_the_read_timeout(tmp_path):
    async with FakeOllamaServer(first_token_delay_s=2) as fake:
        settings = ollama_settings(tmp_path, fake, ollama_read_timeout_s=0.3)
        async with llm_service(settings) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(stub.Generate(_ask()))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "0.3 s" in info.value.details()


async def test_options_reach_ollama_and_length_is_reported(tmp_path, fake_ollama):
    options = llm_pb2.GenerationOptions(
        temperature=0.2, max_tokens=3, stop=["\n\n"], seed=7, top_p=0.9
    )
    async with llm_service(ollama_settings(tmp_path, fake_ollama)) as stub:
        deltas, done = await collect(stub.Generate(_ask(options=options)))
        await collect(stub.Generate(_ask()))
    sent, plain = fake_ollama.chat_requests
    sent_options = dict(sent["options"])
    # Floats travel as float32 in the request.
    assert sent_options.pop("temperature") == pytest.approx(0.2)
    assert sent_options.pop("top_p") == pytest.approx(0.9)
    assert sent_options == {"num_predict": 3, "stop": ["\n\n"], "seed": 7}
    assert sent["stream"] is True
    assert not plain.get("options")
    assert "".join(deltas) == "Hello! I"
    assert done.usage.completion_tokens == 3
    assert done.finish_reason == llm_pb2.FINISH_REASON_LENGTH


async def test_the_tutor_prompt_passages_with_ids_and_the_question_reach_ollama(
    tmp_path, fake_ollama
):
    system = llm_pb2.Message(role=llm_pb2.ROLE_SYSTEM, content="You are Ada, a maths tutor.")
    request = llm_pb2.GenerateRequest(
        messages=[system, user("how do plants make food")], knowledge_base_id="demo"
    )
    async with llm_service(ollama_settings(tmp_path, fake_ollama)) as stub:
        _, grounded = await collect(stub.Generate(request))
        # Without a knowledge base: no notes at all (the contract: empty means ungrounded),
        # and the default tutor prompt, which asks for a check of understanding.
        _, plain = await collect(stub.Generate(_ask("how do plants make food")))
    messages = fake_ollama.chat_requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "system", "user"]
    assert messages[0]["content"] == f"You are Ada, a maths tutor.\n\n{SPEECH_INSTRUCTION}"
    assert "60 words" in SPEECH_INSTRUCTION
    assert grounded.citations[0].document_id == "photosynthesis"
    for citation in grounded.citations:
        # Each passage with the id its citation names.
        line = f"[{citation.document_id}#{citation.passage_index}] "
        assert line in messages[1]["content"]
        assert citation.text in messages[1]["content"].split(line)[1]
    assert messages[2]["content"] == "how do plants make food"
    assert fake_ollama.chat_requests[1]["messages"] == [
        {"role": "system", "content": f"{DEFAULT_TUTOR_PROMPT}\n\n{SPEECH_INSTRUCTION}"},
        {"role": "user", "content": "how do plants make food"},
    ]
    assert asks_for_check(DEFAULT_TUTOR_PROMPT)
    assert list(plain.citations) == []


async def test_a_follow_up_is_searched_with_its_topic_and_the_history_goes_along(
    tmp_path, fake_ollama
):
    history = [
        user("what is the water cycle"),
        llm_pb2.Message(role=llm_pb2.ROLE_ASSISTANT, content="It is the journey water takes."),
        user("how does it make clouds"),
    ]
    async with llm_service(ollama_settings(tmp_path, fake_ollama)) as stub:
        _, done = await collect(
            stub.Generate(llm_pb2.GenerateRequest(messages=history, knowledge_base_id="demo"))
        )
    messages = fake_ollama.chat_requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "system", "user", "assistant", "user"]
    assert [m["content"] for m in messages[2:]] == [m.content for m in history]
    # "it" is the water cycle: the passage on clouds (condensation) is found and cited.
    cited = [(c.document_id, c.passage_index) for c in done.citations]
    assert cited[0] == ("water-cycle", 2)
    assert "[water-cycle#2]" in messages[1]["content"]


async def test_history_is_cut_to_its_token_budget_oldest_first(tmp_path, fake_ollama):
    long_turns = []
    for number in range(6):
        long_turns.append(user(f"question {number} " + "about plants " * 40))
        long_turns.append(
            llm_pb2.Message(role=llm_pb2.ROLE_ASSISTANT, content=f"answer {number} " + "x " * 80)
        )
    request = llm_pb2.GenerateRequest(messages=[*long_turns, user("and why is that")])
    settings = ollama_settings(tmp_path, fake_ollama, ollama_history_tokens=300)
    async with llm_service(settings) as stub:
        await collect(stub.Generate(request))
    messages = fake_ollama.chat_requests[0]["messages"]
    history = messages[1:-1]
    assert messages[-1]["content"] == "and why is that"
    # Each turn is ~170 + ~40 estimated tokens: only the last one fits 300, question first.
    assert [m["content"].split()[:2] for m in history] == [["question", "5"], ["answer", "5"]]
    assert sum(len(m["content"]) for m in history) / 4 <= 300


async def test_a_question_heard_with_low_confidence_is_asked_back_without_calling_ollama(
    tmp_path, fake_ollama
):
    misheard = llm_pb2.GenerateRequest(
        messages=[user("how is the rain maid")], knowledge_base_id="demo", input_confidence=0.2
    )
    sure = llm_pb2.GenerateRequest(
        messages=[user("how is rain made")], knowledge_base_id="demo", input_confidence=0.9
    )
    async with llm_service(ollama_settings(tmp_path, fake_ollama)) as stub:
        deltas, done = await collect(stub.Generate(misheard))
        assert fake_ollama.chat_requests == []
        await collect(stub.Generate(sure))
    assert "".join(deltas).startswith("I'm not sure I heard you right. Did you mean")
    assert "".join(deltas).endswith("?")
    assert done.finish_reason == llm_pb2.FINISH_REASON_STOP
    assert len(fake_ollama.chat_requests) == 1


async def test_list_models_lists_ollamas_models_sorted(tmp_path):
    models = [FakeModel("qwen2.5:0.5b", 397_000_000, "qwen2", "494M"), FakeModel("llama3.2:3b")]
    async with FakeOllamaServer(models=models) as fake:
        async with llm_service(ollama_settings(tmp_path, fake)) as stub:
            reply = await stub.ListModels(llm_pb2.ListModelsRequest())
    assert [m.name for m in reply.models] == ["llama3.2:3b", "qwen2.5:0.5b"]
    assert reply.models[1].size_bytes == 397_000_000
    assert reply.models[1].family == "qwen2"
    assert reply.models[1].parameter_size == "494M"
    assert reply.default_model == "llama3.2:3b"


async def test_start_refuses_when_ollama_never_answers():
    fake = await FakeOllamaServer().start()
    url = fake.url
    await fake.stop()
    engine = OllamaEngine(host=url, default_model="llama3.2:3b", startup_timeout_s=0.6)
    started = time.monotonic()
    with pytest.raises(StartupError, match="LLM_OLLAMA_HOST"):
        await engine.start()
    await engine.close()
    assert 0.5 <= time.monotonic() - started < 3


async def test_start_waits_for_ollama_to_come_up(tmp_path):
    fake = await FakeOllamaServer().start()
    port = fake.port
    await fake.stop()
    engine = OllamaEngine(host=fake.url, default_model="llama3.2:3b", startup_timeout_s=5)
    starting = asyncio.create_task(engine.start())
    await asyncio.sleep(0.7)
    assert not starting.done()
    async with FakeOllamaServer(port=port):
        await asyncio.wait_for(starting, 3)
    await engine.close()
