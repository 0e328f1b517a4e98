"""Student worker processes run on uvloop when it is installed (students share the cores)."""

from __future__ import annotations

import pytest

from loadtest.worker import _loop_factory

pytestmark = pytest.mark.unit


def test_workers_use_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = _loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
