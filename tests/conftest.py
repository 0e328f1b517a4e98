"""Suite-wide test settings and fixtures.

GPU tests skip cleanly where no CUDA device is present. The real stack (the four inference
services and the gateway as child processes) is started once per session and shared by every
suite that asks for it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from tests.support.real_stack import RealStack, start_real_stack, stop_real_stack
from tests.support.service_process import ServiceProcess


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_stack() -> Iterator[RealStack]:
    """asr_svc, llm_svc, tts_svc, lipsync_svc and the gateway as child processes, once."""
    stack = start_real_stack()
    try:
        yield stack
    finally:
        stop_real_stack(stack)


@pytest.fixture(scope="session")
def asr_service(real_stack: RealStack) -> ServiceProcess:
    """The shared asr_svc (pocketsphinx)."""
    return real_stack.asr


@pytest.fixture(scope="session")
def llm_service(real_stack: RealStack) -> ServiceProcess:
    """The shared llm_svc (retrieval over the demo knowledge base)."""
    return real_stack.llm


@pytest.fixture(scope="session")
def tts_service(real_stack: RealStack) -> ServiceProcess:
    """The shared tts_svc (espeak)."""
    return real_stack.tts


@pytest.fixture(scope="session")
def lipsync_service(real_stack: RealStack) -> ServiceProcess:
    """The shared lipsync_svc (procedural, drawn default avatar)."""
    return real_stack.lipsync
