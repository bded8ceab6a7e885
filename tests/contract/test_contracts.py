"""The committed schemas match the models, every message has a valid example, the public topics stay put."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts import generate, topics
from contracts.examples import EXAMPLES, example
from contracts.topics import MESSAGE_TYPES, TOPICS

pytestmark = pytest.mark.contract

PUBLIC_V1 = {
    "oms.orders.inbound.v1": {"order.submitted", "order.cancel_requested", "order.hold_released",
                              "order.return_requested"},
    "oms.orders.events.v1": {"order.status_changed"},
    "oms.inventory.adjustments.v1": {"stock.counted", "stock.adjusted", "stock.inbound_expected", "stock.received"},
    "oms.inventory.events.v1": {"stock.level_changed", "stock.low"},
    "partners.warehouse.{partner}.requests.v1": {"fulfillment.requested", "fulfillment.cancel_requested"},
    "partners.warehouse.{partner}.updates.v1": {
        "fulfillment.accepted", "fulfillment.rejected", "fulfillment.picked", "fulfillment.packed",
        "fulfillment.qc_failed", "fulfillment.cancelled", "fulfillment.cancel_refused"},
    "partners.carrier.{partner}.requests.v1": {"shipment.booking_requested", "shipment.cancel_requested"},
    "partners.carrier.{partner}.updates.v1": {
        "shipment.booked", "shipment.booking_failed", "shipment.picked_up", "shipment.in_transit",
        "shipment.delivered", "shipment.exception"},
    "oms.notifications.v1": {"notification.requested"},
}


def test_generated_files_match_the_committed_ones():
    stale = [str(path.relative_to(generate.HERE)) for path, content in generate.rendered().items()
             if not path.exists() or path.read_bytes() != content]
    committed = {p.name for p in generate.SCHEMAS.glob("*.json")}
    extra = committed - {f"{kind}.json" for kind in MESSAGE_TYPES}
    assert not stale and not extra, f"run `make contracts`: stale {stale}, no longer generated {sorted(extra)}"


def test_public_topics_carry_at_least_the_v1_messages():
    carried = {topic.name: set(topic.message_types) for topic in TOPICS if topic.public}
    for name, kinds in PUBLIC_V1.items():
        assert kinds <= carried.get(name, set()), f"{name} lost {kinds - carried.get(name, set())}"


@pytest.mark.parametrize("kind", sorted(MESSAGE_TYPES))
def test_every_message_has_a_valid_example(kind: str):
    assert kind in EXAMPLES, f"no example for {kind}"
    message = MESSAGE_TYPES[kind].model_validate(example(kind))
    assert message.type == kind
    assert MESSAGE_TYPES[kind].model_validate_json(message.model_dump_json()) == message


@pytest.mark.parametrize("kind", sorted(MESSAGE_TYPES))
def test_a_message_without_its_id_or_a_required_field_is_refused(kind: str):
    body = example(kind)
    required = MESSAGE_TYPES[kind].model_json_schema().get("required", [])
    for field in [f for f in required if f not in ("type", "id")][:3]:
        with pytest.raises(ValidationError):
            MESSAGE_TYPES[kind].model_validate({k: v for k, v in body.items() if k != field})


def test_quantities_must_be_positive_integers():
    body = example("order.submitted")
    for bad in (0, -1, "2", 1.5):
        lines = [{**body["lines"][0], "quantity": bad}]
        with pytest.raises(ValidationError):
            MESSAGE_TYPES["order.submitted"].model_validate({**body, "lines": lines})


def test_consumers_tolerate_added_fields():
    body = {**example("order.status_changed"), "a_field_from_v1_1": True}
    assert MESSAGE_TYPES["order.status_changed"].model_validate(body).model_dump()["status"] == "accepted"


def test_the_public_contract_only_grows():
    """Against the v1 baseline: no field removed, no new required field, no message type gone."""
    import json
    from pathlib import Path

    baseline = json.loads((Path(generate.HERE) / "v1-baseline.json").read_text())["messages"]
    public = {kind: model for topic in TOPICS if topic.public for kind, model in topic.message_types.items()}
    for kind, was in baseline.items():
        assert kind in public, f"{kind} left the public contract"
        schema = public[kind].model_json_schema()
        assert set(was["properties"]) <= set(schema["properties"]), f"{kind} lost fields"
        assert set(schema.get("required", [])) <= set(was["required"]), f"{kind} requires a new field"


def test_a_partner_template_matches_every_partner_topic_and_nothing_else():
    updates = topics.WAREHOUSE_UPDATES
    assert updates.matches(updates.for_partner("dc-rotterdam")) and updates.matches(updates.for_partner("all"))
    assert not updates.matches(topics.WAREHOUSE_REQUESTS.for_partner("dc-rotterdam"))
    assert not updates.matches("partners.warehouse..updates.v1") and not updates.matches(updates.name + ".dlq")
    assert topics.ORDERS_INBOUND.matches(topics.ORDERS_INBOUND.name)
    assert not topics.ORDERS_INBOUND.matches(topics.ORDERS_EVENTS.name)
