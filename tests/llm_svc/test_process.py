"""`python -m llm_svc` as its own process: health, reflection, an answer, SIGTERM, bad setups."""

from __future__ import annotations

import subprocess
import sys

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.support.service_process import REPO_ROOT, ServiceProcess

pytestmark = pytest.mark.integration

SERVICE = "vtutor.llm.v1.LlmService"


def _service(**env: str) -> ServiceProcess:
    return ServiceProcess("llm_svc", {"LLM_GRACE_PERIOD_S": "1", **env})


def _ask_via_reflection(address: str, question: str) -> tuple[list[str], str]:
    """Generate called with no generated code: the services listed, and the answer's text."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = list(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName(SERVICE).methods_by_name["Generate"]
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_stream(
            f"/{SERVICE}/Generate",
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        request = request_cls()
        message = request.messages.add()
        message.role = 2  # ROLE_USER
        message.content = question
        text = "".join(r.delta.text for r in call(request, timeout=10))
    return services, text


def test_the_service_answers_from_the_demo_and_exits_zero_on_sigterm():
    service = _service()
    try:
        service.start()
        services, text = _ask_via_reflection(service.address, "what is two plus two")
    finally:
        code = service.stop(timeout_s=15)
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    assert "Two plus two is four" in text
    log = service.log_text()
    assert code == 0, log
    # Logs at INFO never carry what students asked or what the tutor said.
    assert "two plus two" not in log.lower()


def test_ollama_engine_without_ollama_refuses_to_start_saying_what_to_do():
    service = _service(
        LLM_ENGINE="ollama",
        LLM_OLLAMA_HOST="http://127.0.0.1:9",  # discard port: nothing listens
        LLM_OLLAMA_STARTUP_TIMEOUT_S="0",
    )
    service.spawn()
    assert service.process is not None
    try:
        code = service.process.wait(timeout=60)
    finally:
        service.kill()
    log = service.log_text()
    assert code == 2, log
    assert "http://127.0.0.1:9" in log
    assert "LLM_OLLAMA_HOST" in log


def test_the_service_never_imports_its_test_doubles():
    code = (
        "import sys, llm_svc.__main__, llm_svc.server, llm_svc.engines.ollama, "
        "llm_svc.engines.retrieval, llm_svc.knowledge.store\n"
        "tooling = ('tests', 'benchmarks', 'loadtest')\n"
        "assert not any(m.startswith(tooling) for m in sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
