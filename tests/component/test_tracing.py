"""Traces across processes: a service given a collector makes a span per message it handles, the child of the
span in the record's traceparent, and what it sends carries its span as the parent. The collector here is a real
OTLP/HTTP endpoint on 127.0.0.1 that decodes what the service's SDK exports."""

from __future__ import annotations

import gzip
import secrets
import uuid
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from contracts import topics
from tests.conftest import service_process
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually
from tests.support.servers import WebhookReceiver

pytestmark = pytest.mark.component


def spans(collector: WebhookReceiver) -> list:
    found = []
    for headers, body in collector.posts:
        request = ExportTraceServiceRequest()
        request.ParseFromString(gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body)
        found += [span for resource in request.resource_spans for scope in resource.scope_spans
                  for span in scope.spans]
    return found


async def test_a_handled_message_is_a_span_in_its_senders_trace_and_what_it_causes_continues_it(request, processes):
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    sku = f"SKU-TRACE-{uuid.uuid4().hex[:6]}"
    with WebhookReceiver() as collector:
        service = service_process(processes, request, "inventory", "inventory_service", env={
            "OMS_OTLP_ENDPOINT": collector.url.removesuffix("/oms"), "OTEL_BSP_SCHEDULE_DELAY": "200"})
        service.wait_for_log("service.started")
        counted = {"type": "stock.counted", "id": str(uuid.uuid4()), "sku": sku, "location_id": "dc-rotterdam",
                   "on_hand": 12}
        async with Producer() as producer:
            await producer.send(topics.INVENTORY_ADJUSTMENTS.name, orjson.dumps(counted), key=sku,
                                headers=[("traceparent", f"00-{trace_id}-{parent_id}-01".encode())])

        async def ours() -> list:
            return [s for s in spans(collector) if s.trace_id.hex() == trace_id]
        [span] = await eventually(ours, lambda found: len(found) == 1, "the message's span at the collector")
        assert span.parent_span_id.hex() == parent_id, "a child of the sender's span"
        assert span.name == "stock.counted process"
        attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
        assert attributes["messaging.destination.name"] == topics.INVENTORY_ADJUSTMENTS.name
        assert attributes["messaging.message.id"] == counted["id"]

        async def caused() -> list:
            return [r for r in await read_topic(topics.INVENTORY_EVENTS.name) if r.key == sku.encode()]
        [level] = await eventually(caused, bool, "the stock level it changed")
        traceparent = dict(level.headers)["traceparent"].decode()
        assert traceparent.split("-")[1:3] == [trace_id, span.span_id.hex()], "what it sent continues the trace"


async def test_a_batch_of_messages_with_traces_of_their_own_each_continue_their_own(request, processes):
    """Thirty counts on one partition, queued before the service starts so they arrive as one fetch, each with its
    own W3C trace: the exported spans are thirty, each the child of its own count's sender, and every stock level
    they cause carries its own count's span as its parent, not the last one's."""
    run = uuid.uuid4().hex[:6]
    traces = {f"SKU-TRACES-{run}-{n}": (secrets.token_hex(16), secrets.token_hex(8)) for n in range(30)}
    async with Producer() as producer:
        for sku, (trace_id, parent_id) in traces.items():
            counted = {"type": "stock.counted", "id": str(uuid.uuid4()), "sku": sku, "location_id": "dc-rotterdam",
                       "on_hand": 3}
            await producer.send(topics.INVENTORY_ADJUSTMENTS.name, orjson.dumps(counted), key=f"SKU-TRACES-{run}",
                                headers=[("traceparent", f"00-{trace_id}-{parent_id}-01".encode())])
    with WebhookReceiver() as collector:
        service = service_process(processes, request, "inventory", "inventory_service", env={
            "OMS_OTLP_ENDPOINT": collector.url.removesuffix("/oms"), "OTEL_BSP_SCHEDULE_DELAY": "200"})
        service.wait_for_log("service.started")

        async def caused() -> list:
            return [r for r in await read_topic(topics.INVENTORY_EVENTS.name, 30)
                    if r.key is not None and r.key.decode() in traces]
        levels = await eventually(caused, lambda found: len({r.key for r in found}) == 30, "the thirty stock levels")

        async def exported() -> dict[str, Any]:
            return {span.trace_id.hex(): span for span in spans(collector)
                    if span.trace_id.hex() in {t for t, _ in traces.values()}}
        tree = await eventually(exported, lambda found: len(found) == 30, "a span for each of the thirty counts")
    for sku, (trace_id, parent_id) in traces.items():
        span = tree[trace_id]
        assert span.parent_span_id.hex() == parent_id, f"{sku}: its span is not the child of its count's sender"
    wrong = [(r.key.decode(), dict(r.headers)["traceparent"].decode()) for r in levels
             if dict(r.headers)["traceparent"].decode().split("-")[1:3] != [
                 traces[r.key.decode()][0], tree[traces[r.key.decode()][0]].span_id.hex()]]
    assert wrong == [], f"{len(wrong)} of {len(levels)} levels carry another count's trace or span"
