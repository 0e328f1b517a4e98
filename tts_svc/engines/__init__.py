"""Speech engines of tts_svc, chosen by name and imported only when chosen."""

from __future__ import annotations

import importlib

from tts_svc.config import TtsSettings
from tts_svc.engines.base import TtsEngine

# Engine name -> "module:Class"; each class has a from_settings(settings) constructor.
ENGINES = {
    "espeak": "tts_svc.engines.espeak:EspeakEngine",
    "edge": "tts_svc.engines.edge:EdgeEngine",
}


def create_engine(name: str, settings: TtsSettings) -> TtsEngine:
    """Imports and builds the engine called ``name``.

    Raises:
        ValueError: No engine has that name.
    """
    try:
        target = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown TTS engine {name!r}: use one of {', '.join(ENGINES)}") from None
    module_name, class_name = target.split(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    engine: TtsEngine = engine_class.from_settings(settings)
    return engine
