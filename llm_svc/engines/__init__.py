"""Engines of llm_svc, chosen by ``LLM_ENGINE`` and imported only when chosen."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from svc_core.server import StartupError

if TYPE_CHECKING:
    from llm_svc.config import LlmSettings
    from llm_svc.engines.base import LlmEngine

#: Engine name -> "module:Class"; the class has ``from_settings(settings)``.
ENGINES = {
    "retrieval": "llm_svc.engines.retrieval:RetrievalEngine",
    "ollama": "llm_svc.engines.ollama:OllamaEngine",
}


def create_engine(settings: LlmSettings) -> LlmEngine:
    """The engine ``settings.engine`` names, configured from settings (not yet started).

    Raises:
        StartupError: No engine has that name, or its packages are not installed.
    """
    if settings.engine not in ENGINES:
        raise StartupError(
            f"LLM_ENGINE={settings.engine!r} is not an engine: use one of {', '.join(ENGINES)}"
        )
    module_name, class_name = ENGINES[settings.engine].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StartupError(
            f"the {settings.engine!r} engine needs the Python package {exc.name!r}: "
            "install llm_svc's extra with `pip install -e '.[llm]'`"
        ) from exc
    engine: LlmEngine = getattr(module, class_name).from_settings(settings)
    return engine
