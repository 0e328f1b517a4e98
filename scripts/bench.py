"""`make bench`: runs each service's benchmark (quick mode), then prints one summary table.

Each benchmark is `python -m <package>.bench --quick` and writes bench-results/<package>.json;
this script collects their numbers into bench-results/summary.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
BENCHES = ["asr_svc", "llm_svc", "tts_svc", "lipsync_svc", "gateway", "rtc_edge", "loadtest"]


def _numbers(value: Any, prefix: str = "") -> dict[str, float]:
    """Flattens the numeric leaves of a benchmark's JSON into dotted names."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: float(value)}
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_numbers(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            label = item.get("name") if isinstance(item, dict) and "name" in item else index
            out.update(_numbers(item, f"{prefix}[{label}]"))
    return out


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    summary: dict[str, Any] = {}
    failed = []
    for package in BENCHES:
        if not (ROOT / package / "bench.py").exists():
            continue
        print(f"== {package} ==", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"{package}.bench", "--quick"], cwd=ROOT)
        elapsed = time.monotonic() - started
        result_file = RESULTS / f"{package}.json"
        if code != 0 or not result_file.exists():
            failed.append(package)
            summary[package] = {"error": f"exit {code}"}
            continue
        summary[package] = {
            "seconds": round(elapsed, 1),
            "results": json.loads(result_file.read_text()),
        }
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print("\n== summary ==")
    for package, entry in summary.items():
        for name, number in _numbers(entry.get("results", {})).items():
            print(f"{package:<12} {name:<60} {number:>12.3f}")
    print(f"\nwritten: {RESULTS / 'summary.json'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
