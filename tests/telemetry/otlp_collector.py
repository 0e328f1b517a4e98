"""A real OTLP/gRPC collector for the tests: keeps every span and metric exported to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as the collector got it, with the service that sent it."""

    service: str
    span: trace_pb2.Span

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self.span.span_id.hex()

    @property
    def parent_id(self) -> str:
        return self.span.parent_span_id.hex()

    def attribute(self, key: str) -> Any:
        """The value of a span attribute (None if absent)."""
        for item in self.span.attributes:
            if item.key == key:
                value = item.value
                return getattr(value, str(value.WhichOneof("value")))
        return None


def _service_name(resource: Any) -> str:
    for item in resource.attributes:
        if item.key == "service.name":
            return str(item.value.string_value)
    return ""


@dataclass
class Collector:
    """What the collector's OTLP trace and metrics services received."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    # (service, metric name, data points) for every metric received.
    metrics: list[tuple[str, str, list[Any]]] = field(default_factory=list)
    address: str = ""

    def add_spans(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        """Keeps the spans of an export request."""
        for resource_spans in request.resource_spans:
            service = _service_name(resource_spans.resource)
            for scope in resource_spans.scope_spans:
                self.spans.extend(ReceivedSpan(service, span) for span in scope.spans)

    def add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        """Keeps the metrics of an export request."""
        for resource_metrics in request.resource_metrics:
            service = _service_name(resource_metrics.resource)
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    points = list(getattr(metric, str(kind)).data_points) if kind else []
                    self.metrics.append((service, metric.name, points))

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """Every span of one trace."""
        return [s for s in self.spans if s.trace_id == trace_id]


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def Export(self, request: Any, context: Any) -> Any:
        self.collector.add_spans(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def Export(self, request: Any, context: Any) -> Any:
        self.collector.add_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@asynccontextmanager
async def running_collector() -> AsyncIterator[Collector]:
    """An OTLP/gRPC collector on 127.0.0.1 (port chosen by the OS)."""
    collector = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
        _MetricsService(collector), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    collector.address = f"127.0.0.1:{port}"
    try:
        yield collector
    finally:
        await server.stop(0)
