"""OTEL_METRICS_EXPORTER=prometheus: the gateway serves the metric its autoscaler scales on."""

from __future__ import annotations

import time
import urllib.request

import pytest

from tests.support.service_process import ServiceProcess, free_port

pytestmark = [pytest.mark.integration]


def _scrape(url: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text: str = response.read().decode()
            # Observable gauges appear once the reader has collected once.
            if "vtutor_gateway_active_sessions" in text or time.monotonic() > deadline:
                return text
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_gateway_serves_active_sessions_for_prometheus() -> None:
    port = free_port()
    env = {
        "GATEWAY_API_KEY": "k",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
        # Upstreams are dialled lazily; none is needed to serve metrics.
        **{f"GATEWAY_{name}_ADDRESS": "127.0.0.1:9" for name in ("ASR", "LLM", "TTS", "LIPSYNC")},
    }
    gateway = ServiceProcess("gateway", env)
    gateway.start()
    try:
        text = _scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        gateway.stop()
    assert "# TYPE vtutor_gateway_active_sessions gauge" in text, text[:2000]
    assert any(line.startswith("vtutor_gateway_active_sessions") for line in text.splitlines())


def test_an_unknown_metrics_exporter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from svc_core.telemetry import setup_telemetry

    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "statsd")
    with pytest.raises(ValueError, match="prometheus"):
        setup_telemetry("test")
