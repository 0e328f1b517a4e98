"""Speech engines of tts_svc, chosen by name and imported only when chosen."""

from __future__ import annotations

import importlib

from svc_core.server import StartupError
from tts_svc.config import TtsSettings
from tts_svc.engines.base import TtsEngine

# Engine name -> "module:Class"; each class has a from_settings(settings) constructor.
ENGINES = {
    "piper": "tts_svc.engines.piper:PiperEngine",
    "espeak": "tts_svc.engines.espeak:EspeakEngine",
    "edge": "tts_svc.engines.edge:EdgeEngine",
}


def create_engine(settings: TtsSettings, name: str | None = None) -> TtsEngine:
    """Imports and builds an engine (nothing is loaded until its ``start()``).

    Args:
        settings: The service's settings.
        name: The engine to build; ``settings.engine`` when not given.

    Raises:
        StartupError: No engine has that name, or its module cannot be imported.
    """
    name = name or settings.engine
    try:
        target = ENGINES[name]
    except KeyError:
        raise StartupError(
            f"unknown TTS engine {name!r}: set TTS_ENGINE to one of {', '.join(ENGINES)}"
        ) from None
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StartupError(
            f"the {name} engine cannot be imported ({exc}): pip install 'virtual-tutor[tts]'"
        ) from exc
    engine: TtsEngine = getattr(module, class_name).from_settings(settings)
    return engine
