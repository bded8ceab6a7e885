"""Every handler of every service, through its subscription and unit of work, with the contract's example of each
message it takes: it applies, or says why it cannot (yet). The other files here test what each one does."""

from __future__ import annotations

import pytest

from runtime.consume import NotReady, Unprocessable
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

SERVICES = ("order", "inventory", "fulfillment", "shipping", "notification", "gateway")
CASES = sorted({(service, name, kind) for service in SERVICES for sub in InMemory(service).subscriptions
                for name in sub.names for kind in sub.handlers_for(name)
                if kind in sub.topic_for(name).message_types})  # a handler map may serve several topics


def test_every_service_has_handlers_here():
    assert {service for service, _, _ in CASES} == set(SERVICES)
    assert len(CASES) > 60


@pytest.mark.parametrize(("service", "topic", "kind"), CASES)
async def test_the_handler_applies_the_example_or_says_why_not(service: str, topic: str, kind: str):
    memory = InMemory(service)
    try:
        await memory.deliver(topic, body(kind))
    except (Unprocessable, NotReady):
        assert memory.db.inbox == set(), "a unit of work that cannot apply leaves nothing behind"
        return
    assert memory.db.inbox or memory.subscription(topic).ignores, "the message was claimed in the inbox"
