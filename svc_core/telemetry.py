"""OpenTelemetry setup: traces and metrics, exporter chosen by the standard OTEL_* variables.

``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``none`` (default), ``console`` or
``otlp`` (then ``OTEL_EXPORTER_OTLP_ENDPOINT`` says where); metrics also ``prometheus`` (a
/metrics endpoint to scrape). With an exporter set, gRPC servers and clients are instrumented
so a turn's trace crosses every hop (context travels in gRPC metadata); with ``none`` nothing
is instrumented and tracing costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

logger = logging.getLogger(__name__)

EXPORTERS = ("none", "console", "otlp")
METRIC_EXPORTERS = (*EXPORTERS, "prometheus")

# (trace id, span id) the next span started in this context gets; see planned_span_ids.
_PLANNED_IDS: ContextVar[tuple[int, int] | None] = ContextVar("vtutor_planned_ids", default=None)
_current: Telemetry | None = None


class PlannedIdGenerator(RandomIdGenerator):
    """Random ids, except for a span started inside ``planned_span_ids``.

    A long-lived upstream call can only join a trace that exists when the call starts. The
    gateway opens its ASR stream before the turn it will serve exists, so it reserves the ids
    of that turn's span, makes the call as the reserved span's child, and later starts the turn
    span with exactly those ids: the turn's trace then holds the ASR spans too.
    """

    def generate_trace_id(self) -> int:
        planned = _PLANNED_IDS.get()
        return planned[0] if planned else super().generate_trace_id()

    def generate_span_id(self) -> int:
        planned = _PLANNED_IDS.get()
        return planned[1] if planned else super().generate_span_id()


@contextlib.contextmanager
def planned_span_ids(trace_id: int, span_id: int) -> Iterator[None]:
    """A root span started inside this block gets ``trace_id`` and ``span_id``.

    Start exactly one span inside it (child spans take their trace id from the parent and
    would reuse the span id).
    """
    token = _PLANNED_IDS.set((trace_id, span_id))
    try:
        yield
    finally:
        _PLANNED_IDS.reset(token)


@dataclass
class Telemetry:
    """What ``setup_telemetry`` installed; ``enabled`` is False when no exporter is set."""

    service_name: str
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None

    @property
    def enabled(self) -> bool:
        return self.tracer_provider is not None

    def server_interceptors(self) -> list[Any]:
        """gRPC aio server interceptors that continue the caller's trace."""
        if not self.enabled:
            return []
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        return [aio_server_interceptor(tracer_provider=self.tracer_provider)]

    def client_interceptors(self) -> list[Any]:
        """gRPC aio client interceptors that send the current trace context upstream."""
        if not self.enabled:
            return []
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        return list(aio_client_interceptors(tracer_provider=self.tracer_provider))

    def shutdown(self) -> None:
        """Flushes and stops the exporters."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _exporter_name(variable: str, allowed: tuple[str, ...] = EXPORTERS) -> str:
    name = os.environ.get(variable, "none").strip().lower() or "none"
    if name not in allowed:
        raise ValueError(f"{variable}={name!r}: use one of {', '.join(allowed)}")
    return name


def _span_exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _metric_reader(name: str) -> MetricReader:
    if name == "console":
        return PeriodicExportingMetricReader(ConsoleMetricExporter())
    if name == "prometheus":
        return _prometheus_reader()
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    return PeriodicExportingMetricReader(OTLPMetricExporter())


def _prometheus_reader() -> MetricReader:
    """Serves /metrics for Prometheus to scrape, on the exporter's standard variables.

    ``OTEL_EXPORTER_PROMETHEUS_HOST`` (default localhost; 0.0.0.0 in a container) and
    ``OTEL_EXPORTER_PROMETHEUS_PORT`` (default 9464). Metric names become Prometheus names:
    ``vtutor.gateway.active_sessions`` is scraped as ``vtutor_gateway_active_sessions``.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    host = os.environ.get("OTEL_EXPORTER_PROMETHEUS_HOST", "localhost")
    port = int(os.environ.get("OTEL_EXPORTER_PROMETHEUS_PORT", "9464"))
    start_http_server(port=port, addr=host)
    logger.info("Prometheus metrics on http://%s:%d/metrics", host, port)
    return PrometheusMetricReader()


def setup_telemetry(service_name: str, *, span_exporter: SpanExporter | None = None) -> Telemetry:
    """Installs global tracer and meter providers for ``service_name``.

    Args:
        service_name: Reported as ``service.name`` unless ``OTEL_SERVICE_NAME`` is set.
        span_exporter: Export spans here instead of what the environment says (tests pass an
            in-memory exporter).
    """
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    resource = Resource.create({SERVICE_NAME: name})
    result = Telemetry(service_name=name)

    traces = _exporter_name("OTEL_TRACES_EXPORTER")
    if span_exporter is not None or traces != "none":
        provider = TracerProvider(resource=resource, id_generator=PlannedIdGenerator())
        if span_exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(_span_exporter(traces)))
        trace.set_tracer_provider(provider)
        result.tracer_provider = provider

    metric_exporter = _exporter_name("OTEL_METRICS_EXPORTER", METRIC_EXPORTERS)
    if metric_exporter != "none":
        meter_provider = MeterProvider(
            resource=resource, metric_readers=[_metric_reader(metric_exporter)]
        )
        metrics.set_meter_provider(meter_provider)
        result.meter_provider = meter_provider
    logger.debug("telemetry for %s: traces=%s metrics=%s", name, traces, metric_exporter)
    global _current
    _current = result
    return result


def current_telemetry() -> Telemetry | None:
    """What the last ``setup_telemetry`` call in this process installed (None before any)."""
    return _current
