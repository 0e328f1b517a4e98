"""The committed generated stubs match a fresh generation, and every contract package imports."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
AREAS = ("common", "asr", "llm", "tts", "lipsync", "gateway")


def _generated(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "vtutor").rglob("*"))
        if p.name.endswith(GENERATED_SUFFIXES)
    }


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), str(tmp_path)], check=True
    )
    fresh = _generated(tmp_path)
    committed = _generated(ROOT / "protos")
    assert fresh, "generation produced nothing"
    stale = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert not stale, f"stale generated files (run `make protos`): {stale}"


@pytest.mark.parametrize("area", AREAS)
def test_every_contract_package_imports(area: str) -> None:
    package = importlib.import_module(f"vtutor.{area}.v1")
    modules = [p.stem for p in Path(package.__path__[0]).glob("*_pb2.py")]
    assert modules
    for name in modules:
        module = importlib.import_module(f"vtutor.{area}.v1.{name}")
        assert module.DESCRIPTOR.package == f"vtutor.{area}.v1"
