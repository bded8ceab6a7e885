"""OpenTelemetry spans that continue the W3C `traceparent` every record carries: one consumer span per message a
service handles, a child of its sender's span, and what the handler sends carries that span as its parent, so one
order's way through the services is one trace. Off (no span made, nothing to pay) unless `OMS_OTLP_ENDPOINT` (or
OpenTelemetry's own `OTEL_EXPORTER_OTLP_ENDPOINT`) names a collector: spans are then exported over OTLP/HTTP in
batches by a thread of the SDK."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contracts.base import Message

_propagator = TraceContextTextMapPropagator()


def configure(service: str, endpoint: str | None = None) -> trace.Tracer | None:
    """A tracer whose spans go to the collector at `endpoint` (else OTEL_EXPORTER_OTLP_ENDPOINT); None when none is
    named (tracing off)."""
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"oms-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    return provider.get_tracer("oms")


def start(tracer: trace.Tracer | None, consumer: str, items: Sequence[tuple[ConsumerRecord, Message]]) -> list[Span]:
    """A consumer span per message, each the child of the span in its record's traceparent; [] when off."""
    if tracer is None:
        return []
    spans = []
    for record, message in items:
        parent = next((v.decode(errors="replace") for k, v in record.headers or () if k == "traceparent"), None)
        context = _propagator.extract({"traceparent": parent}) if parent else None
        attributes: dict[str, Any] = {
            "messaging.system": "kafka", "messaging.operation.type": "process",
            "messaging.destination.name": record.topic, "messaging.kafka.partition": record.partition,
            "messaging.kafka.offset": record.offset, "messaging.message.id": message.id,
            "messaging.consumer.group.name": consumer, "oms.message_type": message.type}
        if order_id := getattr(message, "order_id", None):
            attributes["oms.order_id"] = order_id
        spans.append(tracer.start_span(f"{message.type} process", context=context, kind=SpanKind.CONSUMER,
                                        attributes=attributes))
    return spans


def traceparent(span: Span) -> str:
    """The W3C traceparent naming `span` as the parent of what is sent while it is current."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def finish(spans: list[Span], error: BaseException | None = None) -> None:
    for span in spans:
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
