"""`python -m llm_svc` as its own process: health, reflection, an answer, SIGTERM, bad setups."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "vtutor.llm.v1.LlmService"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "LLM_PORT": "0",
        "LLM_DATA_DIR": str(tmp_path / "data"),
        "LLM_GRACE_PERIOD_S": "1",
        **extra,
    }


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], str, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_svc"], env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    lines: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if match := re.search(r"listening on (\S+:\d+)", line):
            # Keep draining stderr so the child never blocks on a full pipe.
            threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
            return proc, match.group(1), lines
    raise AssertionError("service did not start:\n" + "".join(lines))


def _wait_serving(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(200):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.05)
    raise AssertionError("never SERVING")


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


def test_the_service_answers_from_the_demo_and_exits_zero_on_sigterm(tmp_path):
    proc, address, lines = _start(_env(tmp_path))
    try:
        _wait_serving(address)
        services, text = _ask_via_reflection(address, "what is two plus two")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    assert "Two plus two is four" in text
    assert code == 0, "".join(lines)
    # Logs at INFO never carry what students asked or what the tutor said.
    assert not any("two plus two" in line.lower() for line in lines)


def test_ollama_engine_without_ollama_refuses_to_start_saying_what_to_do(tmp_path):
    env = _env(
        tmp_path,
        LLM_ENGINE="ollama",
        LLM_OLLAMA_HOST="http://127.0.0.1:9",  # discard port: nothing listens
        LLM_OLLAMA_STARTUP_TIMEOUT_S="0",
    )
    result = subprocess.run(
        [sys.executable, "-m", "llm_svc"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "http://127.0.0.1:9" in result.stderr
    assert "LLM_OLLAMA_HOST" in result.stderr


def test_the_service_never_imports_its_test_doubles(tmp_path):
    code = (
        "import sys, llm_svc.__main__, llm_svc.server, llm_svc.engines.ollama, "
        "llm_svc.engines.retrieval, llm_svc.knowledge.store\n"
        "assert not any(m.startswith('llm_svc.testing') for m in sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), cwd=ROOT, check=True)
