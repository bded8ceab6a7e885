"""Text messages, in memory: a customer with an E.164 phone and consent is texted the kinds their channel sends by
SMS, once each beside the e-mail; no consent, no number that can take one, or another kind: e-mail only."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import topics
from notification_service import domain
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

INBOUND, EVENTS = topics.ORDERS_INBOUND.name, topics.ORDERS_EVENTS.name
SHIPPED = {"status": "shipped", "previous_status": "ready_to_ship", "shipments": [
    {"shipment_id": "o-S1", "location_id": "dc-rotterdam", "carrier_id": "dhl", "tracking_number": "DHL1",
     "status": "shipped", "lines": [{"sku": "SKU-CHAIR-01", "quantity": 2}]}]}


async def customer(phone: str | None, consent: bool) -> InMemory:
    service = InMemory("notification")
    order = body("order.submitted")
    order["customer"] = {**order["customer"], "phone": phone, "sms_consent": consent}
    await service.deliver(INBOUND, order)
    return service


def mediums(sent: list[Any]) -> list[tuple[str, str, str]]:
    return sorted((m.kind, m.medium, m.recipient) for m in sent)


async def test_a_consenting_customer_is_texted_once_beside_the_email():
    service = await customer("+49 (30) 123-4567", True)
    sent = await service.deliver(EVENTS, body("order.status_changed", **SHIPPED))
    assert mediums(sent) == [("shipped", "email", "ada@example.com"), ("shipped", "sms", "+49301234567")]
    email, sms = sorted(sent, key=lambda m: m.medium)
    assert email.id != sms.id and "/track/" in sms.body and len(sms.body) < 160
    assert await service.deliver(EVENTS, body("order.status_changed", **SHIPPED)) == [], "once per medium"
    assert len(service.db.rows("notifications")) == 2


@pytest.mark.parametrize(("phone", "consent"), [("+49 30 1234567", False), ("030 1234567", True), (None, True)])
async def test_no_consent_or_no_number_that_takes_a_text_is_email_only(phone, consent):
    service = await customer(phone, consent)
    sent = await service.deliver(EVENTS, body("order.status_changed", **SHIPPED))
    assert mediums(sent) == [("shipped", "email", "ada@example.com")]


async def test_a_kind_the_channel_does_not_text_is_email_only():
    service = await customer("+49301234567", True)
    [sent] = await service.deliver(EVENTS, body("order.status_changed"))  # the confirmation
    assert (sent.kind, sent.medium) == ("confirmation", "email")


def test_numbers_are_taken_in_e164_or_not_at_all():
    assert domain.e164("+1 (415) 555-0100") == "+14155550100"
    assert [domain.e164(n) for n in ("0049 30 1", "+0 123 456 789", "+49", "4930123456", "", None)] == [None] * 6
