"""What a handler sends continues the trace of the message it handled, however many messages share the batch (the
trace is taken when the message is sent, not when the batch is flushed)."""

from __future__ import annotations

import orjson
import pytest

from contracts import topics
from runtime.messaging import current_span, current_trace, parse
from runtime.unit import run
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit


async def test_every_message_of_a_batch_keeps_the_trace_of_the_message_that_caused_it():
    service = InMemory("inventory")
    sub = service.subscription(topics.INVENTORY_ADJUSTMENTS.name)
    counts = [body("stock.counted", sku=f"SKU-T{n}", location_id="dc-rotterdam", on_hand=n + 1) for n in range(30)]
    traces = {c["sku"]: f"00-{n + 1:032x}-{n + 1:016x}-01" for n, c in enumerate(counts)}
    messages = [parse(orjson.dumps(c), sub.topic) for c in counts]

    def bind(n: int) -> None:  # what the consume policy does before each message of a fetch
        current_trace.set(traces[counts[n]["sku"]])
        current_span.set(None)

    async with service.db.transaction():
        await run(sub.work(service.db), "inventory", [(m, sub.handlers[m.type]) for m in messages], bind)
    levels = [m for _, _, m in service.db.outbox if m.type == "stock.level_changed"]
    assert len(levels) == 30
    for level in levels:
        sku = level.model_dump()["sku"]
        assert service.db.traces[level.id].split("-")[1] == traces[sku].split("-")[1], sku
