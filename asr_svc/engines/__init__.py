"""Speech recognition engines, chosen by ``ASR_ENGINE`` and imported only when chosen."""

from __future__ import annotations

import importlib

from asr_svc.config import AsrSettings
from asr_svc.engines.base import AsrEngine
from svc_core.server import StartupError

#: Engine name -> "module:Class"; the module is imported only for the chosen engine.
ENGINES: dict[str, str] = {
    "pocketsphinx": "asr_svc.engines.pocketsphinx:PocketsphinxEngine",
    "faster_whisper": "asr_svc.engines.faster_whisper:FasterWhisperEngine",
}


def create_engine(settings: AsrSettings) -> AsrEngine:
    """The engine ``settings.engine`` names, not yet loaded.

    Raises:
        StartupError: Unknown engine name.
    """
    target = ENGINES.get(settings.engine)
    if target is None:
        raise StartupError(
            f"unknown ASR engine {settings.engine!r}: set ASR_ENGINE to one of {', '.join(ENGINES)}"
        )
    module_name, class_name = target.split(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    engine: AsrEngine = engine_class.from_settings(settings)
    return engine
