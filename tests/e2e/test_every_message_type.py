"""Every message type the services emit was seen on the real broker during this run of the real-stack tests: none
is proven only in memory. Runs after every other e2e test, and only when the whole e2e tier runs."""

from __future__ import annotations

import orjson
import pytest

from contracts import topics
from rules.network import load_network
from runtime import security
from tests.e2e.conftest import FAST_NETWORK
from tests.support.kafka import SESSION_STARTED_MS, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.after_its_tier]

# topics others write too: only these types of them are the services' own
SHARED = {topics.ORDERS_INBOUND.name: {"order.submitted"},  # an exchange's new order
          topics.INVENTORY_ADJUSTMENTS.name: {"stock.adjusted"}}  # a short pick's correction


def emitted() -> dict[str, set[str]]:
    """Each topic a service writes (partner topics by their concrete names), with the types the services emit."""
    network = load_network(FAST_NETWORK)
    found: dict[str, set[str]] = {}
    for _, writes in security.service_topics(network).values():
        for name in writes:
            if not name.endswith(".dlq"):
                topic = next(t for t in topics.TOPICS if t.matches(name))
                found.setdefault(name, set()).update(SHARED.get(name, topic.message_types))
    return found


async def test_every_message_type_the_services_emit_was_seen_on_the_broker():
    wanted = emitted()
    seen: set[str] = set()
    for name in wanted:
        for record in await read_topic(name, timeout=120, since_ms=SESSION_STARTED_MS):
            try:  # the tests also put bad bytes on the topics others write too
                body = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(body, dict) and isinstance(body.get("type"), str):
                seen.add(body["type"])
    missing = set().union(*wanted.values()) - seen
    assert missing == set(), f"never emitted by a real-stack test: {sorted(missing)}"
