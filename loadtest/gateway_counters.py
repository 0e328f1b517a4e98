"""The spawned gateway's speculation counters, read from its Prometheus endpoint.

An answer the gateway prepares from an interim transcript and then discards (the student went
on, or the final transcript differed) is CPU taken from other students' answers; a load test
reports how many there were (``vtutor.gateway.speculations``, see gateway.metrics).
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

#: Prometheus's name of the gateway's ``vtutor.gateway.speculations`` counter.
SPECULATIONS = "vtutor_gateway_speculations"
RESULTS = ("committed", "discarded")


def parse_speculations(text: str) -> dict[str, int]:
    """Committed and discarded speculations in a Prometheus text exposition (0 when absent)."""
    counts = dict.fromkeys(RESULTS, 0)
    for family in text_string_to_metric_families(text):
        if family.name != SPECULATIONS:
            continue
        for sample in family.samples:
            result = sample.labels.get("result", "")
            if sample.name == f"{SPECULATIONS}_total" and result in counts:
                counts[result] += int(sample.value)
    return counts


def read_speculations(metrics_url: str, timeout_s: float = 5.0) -> dict[str, int] | None:
    """The counters now; None if the endpoint cannot be read (the report leaves them out)."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout_s) as response:
            return parse_speculations(response.read().decode())
    except (OSError, ValueError):
        return None


def counted_between(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, int]:
    """Speculations counted between two readings; empty when either is missing."""
    if before is None or after is None:
        return {}
    return {result: after[result] - before[result] for result in RESULTS}
