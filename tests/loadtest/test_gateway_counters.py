"""Reading the gateway's speculation counters from a Prometheus text exposition."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from loadtest.gateway_counters import counted_between, parse_speculations, read_speculations
from loadtest.turn_server import free_port


def exposition(committed: int, discarded: int) -> str:
    registry = CollectorRegistry()
    counter = Counter("vtutor_gateway_speculations", "speculations", ["result"], registry=registry)
    counter.labels(result="committed").inc(committed)
    counter.labels(result="discarded").inc(discarded)
    Counter("vtutor_gateway_turns", "turns", ["outcome"], registry=registry).labels("x").inc(9)
    return generate_latest(registry).decode()


def test_both_results_are_read_and_other_metrics_ignored() -> None:
    assert parse_speculations(exposition(3, 5)) == {"committed": 3, "discarded": 5}


def test_a_gateway_that_never_speculated_counts_zero() -> None:
    assert parse_speculations("# nothing yet\n") == {"committed": 0, "discarded": 0}


def test_a_run_counts_what_changed_during_it() -> None:
    before, after = {"committed": 2, "discarded": 1}, {"committed": 7, "discarded": 4}
    assert counted_between(before, after) == {"committed": 5, "discarded": 3}
    assert counted_between(None, after) == {}


def test_an_endpoint_that_does_not_answer_gives_none() -> None:
    assert read_speculations(f"http://127.0.0.1:{free_port()}/metrics", timeout_s=1) is None
