"""Every handler has one shape, `async def handle(message: T, unit: ServiceUnit)`: for each subscription of each
service, the message type a handler declares is the class the topic's registry parses that type into (or a union
that holds it), and the unit it declares is the one the subscription gives it."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

import pytest

from runtime.messaging import InvalidMessage
from runtime.security import SERVICES
from tests.support.memory import InMemory

pytestmark = pytest.mark.unit


def declared(handler: Any) -> tuple[set[type], type]:
    """The message classes and the unit class a handler's annotations name."""
    hints = typing.get_type_hints(handler)
    message, unit = (hints[p] for p in list(inspect.signature(handler).parameters)[:2])
    kinds = set(typing.get_args(message)) if isinstance(message, types.UnionType) or typing.get_origin(message) \
        is typing.Union else {message}
    return kinds, unit


@pytest.mark.parametrize("service", SERVICES)
def test_each_handler_takes_the_message_its_topic_parses_and_its_subscriptions_unit(service: str):
    found = []
    for sub in InMemory(service).subscriptions:
        unit_class = type(sub.work(None))  # type: ignore[arg-type]
        for name in sub.names:
            registry = sub.topic_for(name).message_types
            for kind, handler in sub.handlers_for(name).items():
                if kind not in registry:  # a handler table shared by topics: this one does not carry it
                    continue
                assert inspect.iscoroutinefunction(handler), (service, kind)
                classes, unit = declared(handler)
                if registry[kind] not in classes and not any(issubclass(registry[kind], c) for c in classes):
                    found.append(f"{service} {name} {kind}: takes {classes}, the topic carries {registry[kind]}")
                if not issubclass(unit_class, unit):
                    found.append(f"{service} {name} {kind}: takes {unit}, is given {unit_class}")
        if sub.on_invalid is not None:
            classes, unit = declared(sub.on_invalid)
            assert classes == {InvalidMessage} and issubclass(unit_class, unit)
    assert found == []
