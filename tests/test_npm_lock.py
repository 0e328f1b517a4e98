"""A fresh clone stays clean after bootstrap (issue 21, item 10): the npm lock must be one that
npm does not rewrite, and bootstrap installs it with `npm ci`, which never writes it.

npm rewrites a lock that lacks an optional dependency of a locked package (before: only the
Linux buf binaries were listed, and `npm install` added macOS, Windows and ARMv7 ones).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def test_the_lock_lists_every_dependency_of_every_locked_package() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    manifest = json.loads((ROOT / "package.json").read_text())
    packages = lock["packages"]
    assert packages[""]["devDependencies"] == manifest["devDependencies"]
    missing = []
    for path, package in packages.items():
        wanted = {
            **package.get("dependencies", {}),
            **package.get("devDependencies", {}),
            **package.get("optionalDependencies", {}),
        }
        for name, version in wanted.items():
            locked = packages.get(f"node_modules/{name}")
            if locked is None or locked["version"] != version:
                missing.append(f"{path or 'root'} -> {name}@{version}")
    assert missing == []


def test_bootstrap_installs_npm_tooling_without_writing_the_lock() -> None:
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    installs = re.findall(r"^\s*npm (\S+)", script, flags=re.MULTILINE)
    assert installs == ["ci"]
