"""The gateway's HTTP edge without a server: signatures, bounds, validation, idempotency, the Shopify adapter, the
read API's authorisation and the tracking page (the real-stack tests are in tests/e2e/test_gateway.py)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from contracts.base import Message
from contracts.channels import order_id_for
from contracts.examples import example
from gateway_service.api import create_app
from gateway_service.edge import MAX_BODY, Gate, TokenBuckets, Unavailable
from gateway_service.routes import channels, desk, operators, shopify, tracking
from rules.network import load_network
from runtime import signing
from runtime.settings import get_settings

pytestmark = pytest.mark.unit

SECRETS = {"web": ("web-webhook-secret", "web-api-token"), "app": ("app-webhook-secret", "app-api-token")}
SHOPIFY = Path(__file__).parent.parent / "support" / "payloads" / "shopify_orders_create.json"


class Reads:
    def __init__(self) -> None:
        self.views: dict[tuple[str, str], dict[str, Any]] = {}
        self.retried: list[str | None] = []

    async def order(self, channel: str, external_id: str) -> dict[str, Any] | None:
        return self.views.get((channel, external_id))

    async def tracked(self, token: str) -> dict[str, Any] | None:
        return next((v for v in self.views.values() if v["tracking_token"] == token), None)

    async def search(self, email: str | None, phone: str | None) -> list[dict[str, Any]]:
        return [v for v in self.views.values() if email == "ada@example.com"]

    async def retry_dead(self, subscriber: str | None) -> int:
        self.retried.append(subscriber)
        return 3


class Edge:
    """The app with a stand-in broker (what was published) and read model."""

    def __init__(self, broker_down: bool = False) -> None:
        self.published: list[tuple[str, str, Message]] = []
        self.reads = Reads()
        self.now = 1_800_000_000.0

        async def publish(channel: str, key: str, message: Message) -> None:
            if broker_down:
                raise Unavailable("broker did not answer")
            self.published.append((channel, key, message))
        self.gate = Gate(load_network(get_settings().network_file), SECRETS, "operator-token", publish, self.reads,
                         clock=lambda: self.now)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(create_app(self.gate)), base_url="http://oms")

    async def post(self, path: str, payload: Any, secret: str = "web-webhook-secret", at: float | None = None,
                   raw: bytes | None = None) -> httpx.Response:
        data = raw if raw is not None else orjson.dumps(payload)
        header = signing.sign(secret, data, self.now if at is None else at)
        return await self.client.post(path, content=data, headers={signing.HEADER: header,
                                                                     "content-type": "application/json"})


def order(**fields: Any) -> dict[str, Any]:
    body = {k: v for k, v in example("order.submitted").items() if k != "id"}
    return {**body, **fields}


async def test_a_signed_order_is_published_once_the_broker_has_it_and_answered_with_its_id():
    edge = Edge()
    answer = await edge.post("/v1/channels/web/orders", order())

    assert answer.status_code == 202, answer.text
    assert answer.json()["order_id"] == order_id_for("web", "W-1001")
    [(channel, key, message)] = edge.published
    assert (channel, key, message.type) == ("web", "web:W-1001", "order.submitted")


@pytest.mark.parametrize(("why", "header"), [
    ("missing", None), ("malformed", "v1=abc"), ("wrong secret", signing.sign("not-the-secret", b"{}", 1_800_000_000)),
])
async def test_a_request_not_signed_with_the_channels_secret_is_401_and_publishes_nothing(why, header):
    edge = Edge()
    headers = {signing.HEADER: header} if header else {}
    answer = await edge.client.post("/v1/channels/web/orders", content=orjson.dumps(order()), headers=headers)
    assert answer.status_code == 401, why
    assert edge.published == []


async def test_another_channels_secret_a_changed_body_or_a_stale_signature_is_401():
    edge = Edge()
    assert (await edge.post("/v1/channels/web/orders", order(), secret="app-webhook-secret")).status_code == 401
    stale = await edge.post("/v1/channels/web/orders", order(), at=edge.now - 301)
    assert stale.status_code == 401 and "stale" in stale.json()["error"]
    signed = orjson.dumps(order())
    header = signing.sign("web-webhook-secret", signed, edge.now)
    tampered = await edge.client.post("/v1/channels/web/orders", content=signed.replace(b"W-1001", b"W-1002"),
                                      headers={signing.HEADER: header})
    assert tampered.status_code == 401
    assert edge.published == []


async def test_an_invalid_body_is_400_with_every_reason():
    edge = Edge()
    bad = order(lines=[{"sku": "SKU-1", "quantity": 0, "unit_price": "x"}], currency="euro")
    answer = await edge.post("/v1/channels/web/orders", bad)

    assert answer.status_code == 400
    reasons = answer.json()["reasons"]
    assert any(r.startswith("currency") for r in reasons) and any(r.startswith("lines.0.quantity") for r in reasons)
    assert (await edge.post("/v1/channels/web/orders", None, raw=b"{not json")).status_code == 400
    assert (await edge.post("/v1/channels/web/orders", [1, 2])).status_code == 400
    assert edge.published == []


async def test_an_order_naming_another_channel_is_refused():
    edge = Edge()
    answer = await edge.post("/v1/channels/web/orders", order(channel="app"))
    assert answer.status_code == 403 and edge.published == []


async def test_an_oversized_body_is_413_unread():
    edge = Edge()
    answer = await edge.post("/v1/channels/web/orders", None, raw=b" " * (MAX_BODY + 1))
    assert answer.status_code == 413 and edge.published == []


async def test_the_same_order_again_is_202_with_the_same_id_and_a_replayed_request_is_not_published_again():
    edge = Edge()
    first = await edge.post("/v1/channels/web/orders", order())
    again = await edge.post("/v1/channels/web/orders", order(), at=edge.now + 1)  # a new request, the same order
    data = orjson.dumps(order())
    header = {signing.HEADER: signing.sign("web-webhook-secret", data, edge.now + 2)}
    replay = [await edge.client.post("/v1/channels/web/orders", content=data, headers=header) for _ in range(2)]

    assert [r.status_code for r in (first, again, *replay)] == [202, 202, 202, 409]
    assert {r.json()["order_id"] for r in (first, again, *replay)} == {order_id_for("web", "W-1001")}
    assert len(edge.published) == 3, "the replay was refused, not published"
    assert edge.published[0][2].id != edge.published[1][2].id


def spellings(header: str) -> list[str]:
    """One signature written five other ways a lenient parser would take."""
    stamp, digest = (part.split("=", 1)[1] for part in header.split(","))
    return [header, f"t={stamp},v1={digest.upper()}", f"v1={digest},t={stamp}", f"t={stamp}, v1={digest}",
            f"t={stamp},v1={digest},x=1", f"t={stamp},v1={digest},v1={digest}"]


async def test_one_signed_request_spelled_six_ways_is_one_order_and_five_refusals():
    edge = Edge()
    data = orjson.dumps({k: v for k, v in order().items() if k != "id"})
    header = signing.sign("web-webhook-secret", data, edge.now)
    answers = [await edge.client.post("/v1/channels/web/orders", content=data, headers={signing.HEADER: h})
               for h in spellings(header)]

    assert [a.status_code for a in answers].count(202) == 1
    assert {a.status_code for a in answers[1:]} <= {401, 409}, [a.text for a in answers]
    assert len(edge.published) == 1
    assert {a.json()["order_id"] for a in answers if a.status_code == 409} == {order_id_for("web", "W-1001")}


@pytest.mark.parametrize("header", ["t=1800000000,v1=\u00e9" + "a" * 63, "t=1800000000,v1=zz", "t=,v1=",
                                    "t=1800000000", "v1=" + "a" * 64, "t=1e9,v1=" + "a" * 64, "garbage"])
async def test_a_malformed_signature_of_any_kind_is_401(header):
    edge = Edge()
    answer = await edge.client.post("/v1/channels/web/orders", content=orjson.dumps(order()),
                                    headers={signing.HEADER.encode(): header.encode("utf-8")})
    assert answer.status_code == 401 and edge.published == []


async def test_a_channel_that_floods_the_gateway_is_told_to_wait_and_others_are_not():
    edge = Edge()
    edge.gate.limits = TokenBuckets(rate=1, burst=2, clock=lambda: edge.now)
    answers = [await edge.post("/v1/channels/web/orders", order(external_id=f"W-{n}")) for n in range(3)]
    other = await edge.post("/v1/channels/app/orders", order(channel="app"), secret="app-webhook-secret")

    assert [a.status_code for a in answers] == [202, 202, 429] and answers[2].headers["retry-after"] == "1"
    assert other.status_code == 202
    edge.now += 1
    assert (await edge.post("/v1/channels/web/orders", order(external_id="W-9"))).status_code == 202


async def test_every_answer_carries_the_security_headers():
    edge = Edge()
    for answer in (await edge.client.get("/track/no-such-token"), await edge.post("/v1/channels/web/orders", order())):
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"


def test_no_check_of_a_request_waits_for_a_thread():
    """FastAPI runs a plain `def` dependency in its thread pool: each check of each request would hop to a thread
    and back. Every dependency of every route is a coroutine function."""
    def calls(dependant: Any) -> list[Any]:
        return [call for d in getattr(dependant, "dependencies", ()) for call in (d.call, *calls(d))]
    found = [call for router in (channels.router, shopify.router, operators.router, tracking.router, desk.router)
             for route in router.routes for call in calls(getattr(route, "dependant", None))]
    assert found and all(inspect.iscoroutinefunction(call) for call in found), \
        [call.__name__ for call in found if not inspect.iscoroutinefunction(call)]


async def test_when_the_broker_does_not_take_it_the_sender_is_told_to_send_again():
    edge = Edge(broker_down=True)
    answer = await edge.post("/v1/channels/web/orders", order())
    assert answer.status_code == 503 and answer.headers["retry-after"]


async def test_cancel_return_and_change_take_the_order_from_the_url():
    edge = Edge()
    cancel = await edge.post("/v1/channels/web/orders/W-1001/cancel", {"reason": "changed mind"})
    ret = await edge.post("/v1/channels/web/orders/W-1001/return",
                          {"lines": [{"sku": "SKU-CHAIR-01", "quantity": 1}], "return_location_id": "store-munich"})
    change = await edge.post("/v1/channels/web/orders/W-1001/change", {"shipping_speed": "express"})
    other = await edge.post("/v1/channels/web/orders/W-1001/cancel", {"external_id": "W-9"})

    assert [a.status_code for a in (cancel, ret, change)] == [202, 202, 202]
    assert other.status_code == 400
    assert [(m.type, m.external_id) for _, _, m in edge.published] == [  # type: ignore[attr-defined]
        ("order.cancel_requested", "W-1001"), ("order.return_requested", "W-1001"),
        ("order.change_requested", "W-1001")]
    assert (await edge.post("/v1/channels/web/orders/W-1001/explode", {})).status_code == 404


async def test_a_shopify_orders_create_webhook_is_taken_as_shopify_sends_it():
    edge = Edge()
    raw = SHOPIFY.read_bytes()
    headers = {"X-Shopify-Hmac-Sha256": signing.shopify_sign("web-webhook-secret", raw),
               "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}
    answer = await edge.client.post("/v1/channels/web/shopify/orders", content=raw, headers=headers)

    assert answer.status_code == 202, answer.text
    [(_, key, message)] = edge.published
    submitted = message.model_dump(mode="json")
    assert key == "web:5739101438179"
    assert submitted["customer"]["email"] == "grace@example.com"
    assert submitted["shipping_address"]["postal_code"] == "10119" and submitted["shipping_address"]["country"] == "DE"
    # prices include tax here (taxes_included): taken net of it, so price x quantity + tax is what was paid
    assert [(line["sku"], line["quantity"], line["unit_price"], line["tax"]) for line in submitted["lines"]] == [
        ("SKU-CHAIR-01", 2, "75.5450", "28.71"), ("SKU-LAMP-01", 1, "74.79", "14.21")]
    assert submitted["payment"]["status"] == "captured", "Shopify took the money already: never captured again"
    wrong = await edge.client.post("/v1/channels/web/shopify/orders", content=raw,
                                   headers={"X-Shopify-Hmac-Sha256": signing.shopify_sign("nope", raw)})
    assert wrong.status_code == 401
    replayed = await edge.client.post("/v1/channels/web/shopify/orders", content=raw, headers={
        **headers, "X-Shopify-Webhook-Id": "a-new-id-the-hmac-does-not-cover"})
    assert replayed.status_code == 409 and len(edge.published) == 1, "a captured delivery is not a new message"
    garbled = await edge.client.post("/v1/channels/web/shopify/orders", content=raw,
                                     headers={b"X-Shopify-Hmac-Sha256": "not base64 \u00e9".encode()})
    assert garbled.status_code == 401


async def test_a_shopify_order_without_skus_is_400_with_the_lines_named():
    edge = Edge()
    shop = json.loads(SHOPIFY.read_text())
    shop["line_items"][1]["sku"] = ""
    raw = orjson.dumps(shop)
    answer = await edge.client.post("/v1/channels/web/shopify/orders", content=raw,
                                    headers={"X-Shopify-Hmac-Sha256": signing.shopify_sign("web-webhook-secret", raw)})
    assert answer.status_code == 400 and answer.json()["reasons"][0].startswith("line_items.1")


def view(**fields: Any) -> dict[str, Any]:
    return {"order_id": "ord-1", "channel": "web", "external_id": "W-1001", "status": "shipped", "sequence": 5,
            "reason": None, "returns": [], "tracking_token": "tok-1", "updated_at": "2026-11-29T12:00:00+00:00",
            "shipments": [{"shipment_id": "ord-1-S1", "location_id": "dc-rotterdam", "carrier_id": "dhl",
                           "tracking_number": "DHL-778899", "status": "shipped",
                           "lines": [{"sku": "SKU-CHAIR-01", "quantity": 2}],
                           "estimated_delivery": "2026-12-01T18:00:00+00:00"}],
            "timeline": [{"sequence": 1, "status": "received", "previous_status": None, "reason": None,
                          "occurred_at": "2026-11-29T11:00:00+00:00"},
                         {"sequence": 5, "status": "shipped", "previous_status": "ready_to_ship", "reason": None,
                          "occurred_at": "2026-11-29T12:00:00+00:00"}], **fields}


async def test_a_channel_reads_its_own_orders_with_its_token_and_nobody_elses():
    edge = Edge()
    edge.reads.views[("web", "W-1001")] = view()
    path = "/v1/channels/web/orders/W-1001"

    own = await edge.client.get(path, headers={"Authorization": "Bearer web-api-token"})
    assert own.status_code == 200
    assert own.json()["shipments"][0]["tracking_number"] == "DHL-778899" and "tracking_token" not in own.json()
    assert (await edge.client.get(path)).status_code == 401
    assert (await edge.client.get(path, headers={"Authorization": "Bearer app-api-token"})).status_code == 401
    other = await edge.client.get("/v1/channels/app/orders/W-1001", headers={"Authorization": "Bearer app-api-token"})
    assert other.status_code == 404, "another channel's order is not found under this channel"


async def test_operators_find_a_customers_orders_others_cannot():
    edge = Edge()
    edge.reads.views[("web", "W-1001")] = view()
    found = await edge.client.get("/v1/orders", params={"email": "ada@example.com"},
                                  headers={"Authorization": "Bearer operator-token"})
    assert [o["order_id"] for o in found.json()["orders"]] == ["ord-1"]
    denied = await edge.client.get("/v1/orders", params={"email": "ada@example.com"},
                                   headers={"Authorization": "Bearer web-api-token"})
    assert denied.status_code == 401


async def test_the_tracking_page_shows_the_status_parcels_and_timeline_in_plain_words():
    edge = Edge()
    edge.reads.views[("web", "W-1001")] = view()
    page = await edge.client.get("/track/tok-1")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Your parcel is on its way." in page.text and "DHL-778899" in page.text and "DHL" in page.text
    assert "We have received your order." in page.text and "Tue 01 Dec 2026" in page.text
    assert "2 x SKU-CHAIR-01" in page.text
    assert (await edge.client.get("/track/guess")).status_code == 404


async def test_the_tracking_page_of_a_pickup_gives_the_stores_address():
    edge = Edge()
    pickup = {"shipment_id": "ord-1-S1", "location_id": "store-munich", "status": "ready_for_pickup", "pickup": True,
              "lines": [{"sku": "SKU-CHAIR-01", "quantity": 1}]}
    edge.reads.views[("web", "W-1001")] = view(status="ready_for_pickup", shipments=[pickup])
    page = await edge.client.get("/track/tok-1")
    assert "Ready for you to collect." in page.text and "Marienplatz 8" in page.text


async def test_the_openapi_document_describes_the_bodies_from_the_contracts():
    edge = Edge()
    document = (await edge.client.get("/openapi.json")).json()
    assert "OrderSubmitted" in document["components"]["schemas"]
    assert "/v1/channels/{channel}/orders" in document["paths"]
    assert (await edge.client.get("/docs")).status_code == 200


async def test_requests_are_counted_by_route_template_not_by_order():
    edge = Edge()
    await edge.post("/v1/channels/web/orders", order())
    await edge.client.get("/track/no-such-token")
    assert (await edge.client.get("/metrics")).status_code == 401, "metrics are for operators"
    text = (await edge.client.get("/metrics", headers={"Authorization": "Bearer operator-token"})).text
    assert 'oms_http_requests_total{route="/v1/channels/{channel}/orders",status="202"}' in text
    assert 'route="/track/{token}",status="404"' in text and "no-such-token" not in text


async def test_only_operators_post_dead_webhooks_again():
    edge = Edge()
    denied = await edge.client.post("/v1/webhooks/retry", headers={"Authorization": "Bearer web-api-token"})
    allowed = await edge.client.post("/v1/webhooks/retry", params={"subscriber": "crm"},
                                     headers={"Authorization": "Bearer operator-token"})
    assert (denied.status_code, allowed.status_code, allowed.json()) == (401, 200, {"retried": 3})
    assert edge.reads.retried == ["crm"]


def promise_request(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in {**example("promise.requested"), **fields}.items() if k not in ("id", "type")}


async def test_a_promise_request_is_answered_with_the_quote_the_oms_publishes_for_it():
    edge = Edge()

    async def quoting(channel: str, key: str, message: Message) -> None:  # the OMS answering on the quotes topic
        edge.published.append((channel, key, message))
        edge.gate.quotes.arrived({**example("promise.quoted"), "request_id": message.id})
    edge.gate.publish = quoting
    answer = await edge.post("/v1/channels/web/promises", promise_request())

    assert answer.status_code == 200, answer.text
    [(channel, key, request)] = edge.published
    assert (channel, key, request.type) == ("web", f"web:{request.id}", "promise.requested")
    assert answer.json()["request_id"] == request.id and answer.json()["options"][0]["quote_id"] == "q-1"
    assert answer.json()["options"][0]["slots"][0].keys() == {"from", "to"}
    assert edge.gate.quotes.waiting == {}, "nothing left waiting"


async def test_a_promise_request_not_quoted_in_time_is_504_and_a_bad_one_400_or_403():
    edge = Edge()
    edge.gate.quote_timeout_s = 0.05  # nothing answers here: the gateway gives up after this, and says so
    late = await edge.post("/v1/channels/web/promises", promise_request())
    assert (late.status_code, late.headers["retry-after"]) == (504, "5")
    bad = await edge.post("/v1/channels/web/promises", promise_request(destination=None))
    assert bad.status_code == 400 and "destination" in bad.text
    other = await edge.post("/v1/channels/web/promises", promise_request(channel="app"))
    assert other.status_code == 403
    assert edge.gate.quotes.waiting == {}
