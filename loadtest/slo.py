"""Service-level objectives a run must meet: a small YAML or JSON file.

Example (``latency_ms`` names are those of the report: ``eos_to_first_frame``,
``gateway.eos_to_first_token``, ``barge_in_stop``, ``max_frame_gap``, ...)::

    stages:                       # stage -> percentile (p50, p90, p95, p99, max) -> max ms
      eos_to_final_transcript: {p95: 1500}
      eos_to_first_frame: {p50: 1500, p95: 3000}
      barge_in_stop: {p95: 800}
    error_rate: 0.01              # errors per question asked, at most
    min_frame_rate_fps: 20        # median frame rate shown, at least

A stage the SLO names but the run never measured is a miss: a release gate must not pass on
missing data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PERCENTILE_KEYS = ("p50", "p90", "p95", "p99", "max")


@dataclass(frozen=True)
class Slo:
    """Thresholds of a run."""

    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    error_rate: float | None = None
    min_frame_rate_fps: float | None = None

    @classmethod
    def parse(cls, data: Any) -> Slo:
        """An SLO from parsed YAML/JSON.

        Raises:
            ValueError: Unknown keys or percentiles, or thresholds that are not numbers.
        """
        if not isinstance(data, dict):
            raise ValueError("an SLO file holds a mapping")
        unknown = set(data) - {"stages", "error_rate", "min_frame_rate_fps"}
        if unknown:
            raise ValueError(f"unknown SLO keys: {', '.join(sorted(unknown))}")
        stages: dict[str, dict[str, float]] = {}
        for stage, limits in (data.get("stages") or {}).items():
            if not isinstance(limits, dict) or not limits:
                raise ValueError(f"stages.{stage}: give percentile: max ms pairs")
            for key, limit in limits.items():
                if key not in PERCENTILE_KEYS:
                    raise ValueError(
                        f"stages.{stage}.{key}: use one of {', '.join(PERCENTILE_KEYS)}"
                    )
                if not isinstance(limit, int | float) or isinstance(limit, bool):
                    raise ValueError(f"stages.{stage}.{key}: {limit!r} is not a number")
            stages[str(stage)] = {k: float(v) for k, v in limits.items()}
        error_rate = data.get("error_rate")
        fps = data.get("min_frame_rate_fps")
        for name, value in (("error_rate", error_rate), ("min_frame_rate_fps", fps)):
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                raise ValueError(f"{name}: {value!r} is not a number")
        return cls(
            stages=stages,
            error_rate=None if error_rate is None else float(error_rate),
            min_frame_rate_fps=None if fps is None else float(fps),
        )

    @classmethod
    def load(cls, path: Path) -> Slo:
        """Reads a .json, .yaml or .yml file."""
        text = path.read_text()
        if path.suffix.lower() == ".json":
            return cls.parse(json.loads(text))
        import yaml  # only for YAML files

        return cls.parse(yaml.safe_load(text))

    def check(self, report: dict[str, Any]) -> list[str]:
        """What the report misses, one line each (empty: every threshold met)."""
        misses: list[str] = []
        latency = report.get("latency_ms", {})
        for stage, limits in self.stages.items():
            measured = latency.get(stage, {})
            for key, limit in limits.items():
                value = measured.get(key)
                if value is None:
                    misses.append(f"{stage} {key}: not measured (limit {limit:g} ms)")
                elif value > limit:
                    misses.append(f"{stage} {key}: {value:g} ms > {limit:g} ms")
        if self.error_rate is not None:
            rate = report["errors"]["rate"]
            if rate > self.error_rate:
                misses.append(f"error rate: {rate:g} > {self.error_rate:g}")
        if self.min_frame_rate_fps is not None:
            fps = report.get("frame_rate_fps", {}).get("p50")
            if fps is None:
                misses.append("frame rate: not measured")
            elif fps < self.min_frame_rate_fps:
                misses.append(f"frame rate p50: {fps:g} fps < {self.min_frame_rate_fps:g} fps")
        return misses
