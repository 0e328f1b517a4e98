"""``python -m llm_svc``: serves vtutor.llm.v1.LlmService with the engine LLM_ENGINE names."""

from __future__ import annotations

from llm_svc.config import LlmSettings
from llm_svc.server import build_service
from svc_core.server import run_service


def main() -> None:
    settings = LlmSettings()
    run_service("llm_svc", settings, lambda: build_service(settings))


if __name__ == "__main__":
    main()
