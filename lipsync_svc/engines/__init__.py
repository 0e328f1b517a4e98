"""Lip-sync engines, chosen by ``LIPSYNC_ENGINE`` and imported only when chosen (torch for wav2lip).

Each engine class is built with ``from_settings(settings)``, loads its models in ``start()`` and
releases them in ``close()``; its interface and dataclasses are in ``base``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from svc_core.server import StartupError

if TYPE_CHECKING:
    from lipsync_svc.config import LipsyncSettings
    from lipsync_svc.engines.base import LipsyncEngine

#: Engine name -> "module:Class"; the module is imported only for the chosen engine.
ENGINES: dict[str, str] = {
    "procedural": "lipsync_svc.engines.procedural:ProceduralEngine",
    "wav2lip": "lipsync_svc.engines.wav2lip:Wav2LipEngine",
}


def engine_class(name: str) -> type[LipsyncEngine]:
    """The engine class registered under ``name`` (imports its module).

    Avatar creation uses the class alone (its per-avatar caches need no model).

    Raises:
        StartupError: Unknown name, or the engine's module cannot be imported.
    """
    target = ENGINES.get(name)
    if target is None:
        raise StartupError(
            f"unknown lip-sync engine {name!r}: set LIPSYNC_ENGINE to one of {', '.join(ENGINES)}"
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StartupError(
            f"the {name!r} lip-sync engine needs the Python package {exc.name!r}: install "
            "lipsync_svc's extra with `pip install -e '.[lipsync]'` (wav2lip: '.[lipsync-wav2lip]')"
        ) from exc
    cls: type[LipsyncEngine] = getattr(module, class_name)
    return cls


def create_engine(settings: LipsyncSettings) -> LipsyncEngine:
    """The engine ``settings.engine`` names, configured from settings (not yet started).

    Raises:
        StartupError: Unknown engine, or its packages are not installed.
    """
    return engine_class(settings.engine).from_settings(settings)
