"""Text messages on the real stack, to a real local HTTP server playing the SMS provider: a customer with a phone and
consent is texted when the order ships and arrives, once each, signed; one without consent is not texted at all."""

from __future__ import annotations

import pytest

from runtime import signing
from tests.e2e.test_when_things_go_wrong import oid
from tests.support.poll import eventually
from tests.support.servers import RecordingWebhook

pytestmark = pytest.mark.e2e

PROVIDER = RecordingWebhook().__enter__()  # started with the module: the services are started pointing at it
SECRET = "the-sms-providers-shared-secret"


@pytest.mark.oms_env(OMS_SMS_URL=PROVIDER.url, OMS_SMS_SECRET=SECRET)
async def test_texts_go_once_per_notice_to_customers_who_agreed_and_to_no_one_else(oms):
    await oms.stock({"TEXT": {"3pl-berlin": 5}})
    agreed, declined = (oms.order(n, {"TEXT": 1}) for n in (1, 2))
    agreed["customer"] = {**agreed["customer"], "phone": "+49 30 555 0101", "sms_consent": True}
    declined["customer"] = {**declined["customer"], "phone": "+49 30 555 0102", "sms_consent": False}
    await oms.send(agreed, declined)

    async def texts() -> list[dict]:
        return [c for c in PROVIDER.calls if c["order_id"] in (oid(agreed), oid(declined))]
    found = await eventually(texts, lambda calls: {c["kind"] for c in calls} >= {"shipped", "delivered"},
                             "the customer texted on shipping and delivery", timeout=90)

    async def mails() -> list[dict]:
        return [c for c in oms.sent_notifications() if c["order_id"] == oid(declined) and c["kind"] == "delivered"]
    await eventually(mails, bool, "the other customer's delivery e-mail", timeout=90)
    found = await texts()
    assert sorted(c["kind"] for c in found) == ["delivered", "shipped"], "once each, and none to who declined"
    assert {c["order_id"] for c in found} == {oid(agreed)} and {c["recipient"] for c in found} == {"+49305550101"}
    assert all(c["idempotency_key"] == c["notification_id"] for c in found)
    for raw, signature in PROVIDER.raw:
        if oid(agreed).encode() in raw:
            signing.verify(SECRET, signature, raw)  # raises when the signature does not hold
