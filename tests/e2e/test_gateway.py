"""The way in over HTTP on the real stack: a channel posts signed orders to the gateway (a real process) and reads
them back; a Shopify webhook is taken as Shopify sends it; the customer's link in each notification opens the
tracking page. Bad requests are refused with the reason and change nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

from contracts import topics
from contracts.channels import order_id_for
from contracts.partners import FulfillmentAccepted, FulfillmentPacked, FulfillmentPicked, Parcel
from runtime import metrics, security, signing
from runtime.settings import get_settings
from tests.conftest import LOGS
from tests.e2e.conftest import _healthy, everyone_but, groups_of_a_run
from tests.support.browser import render
from tests.support.kafka import read_topic
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess
from tests.support.servers import WebhookReceiver

pytestmark = pytest.mark.e2e

SHOPIFY = Path(__file__).parent.parent / "support" / "payloads" / "shopify_orders_create.json"


def tracking_links(oms, order_id: str) -> set[str]:
    return {m for call in oms.sent_notifications() if call["order_id"] == order_id
            for m in re.findall(r"https?://\S+/track/[\w-]+", call["body"])}


async def test_an_order_posted_over_http_is_delivered_read_back_and_tracked(oms, gateway):
    await oms.stock({"CHAIR": {"dc-rotterdam": 5}})
    order = {k: v for k, v in oms.order(1, {"CHAIR": 2}).items() if k != "id"}  # the gateway gives it an id
    answer = await gateway.post(order["channel"], "/orders", order)
    assert answer.status_code == 202, answer.text
    assert answer.json()["order_id"] == order_id_for(order["channel"], order["external_id"])

    view = await gateway.until(order["channel"], order["external_id"], "delivered")
    [shipment] = view["shipments"]
    assert shipment["carrier_id"] and shipment["tracking_number"], shipment
    assert [s["status"] for s in view["timeline"]][:2] == ["received", "accepted"]
    assert [s["sequence"] for s in view["timeline"]] == list(range(1, len(view["timeline"]) + 1))

    other = "app" if order["channel"] != "app" else "web"
    assert (await gateway.order(other, order["external_id"])).status_code == 404, "another channel's order"
    assert (await gateway.order(order["channel"], order["external_id"], token="guess")).status_code == 401

    async def links() -> set[str]:
        return tracking_links(oms, answer.json()["order_id"])
    [link] = await eventually(links, lambda found: len(found) == 1, "one tracking link in the notifications")
    assert order["external_id"] not in link and answer.json()["order_id"] not in link
    page = (await gateway.client.get(link)).text
    assert "Delivered." in page and shipment["tracking_number"] in page


async def test_bad_requests_are_refused_with_the_reason_and_change_nothing(oms, gateway):
    await oms.stock({"LAMP": {"dc-rotterdam": 5}})
    order = {k: v for k, v in oms.order(2, {"LAMP": 1}).items() if k != "id"}
    channel, raw = order["channel"], orjson.dumps(order)

    unsigned = await gateway.client.post(f"/v1/channels/{channel}/orders", content=raw)
    stale = await gateway.client.post(f"/v1/channels/{channel}/orders", content=raw, headers={
        signing.HEADER: signing.sign(_secret(channel), raw, time.time() - 600)})
    other_secret = await gateway.post(channel, "/orders", order, secret="not-the-channels-secret")
    invalid = await gateway.post(channel, "/orders", {**order, "lines": []})
    huge = await gateway.post(channel, "/orders", {**order, "note": "x" * 300_000})
    assert [r.status_code for r in (unsigned, stale, other_secret, invalid, huge)] == [401, 401, 401, 400, 413]
    assert invalid.json()["reasons"] == ["lines: List should have at least 1 item after validation, not 0"]

    first = await gateway.post(channel, "/orders", order)
    again = await gateway.client.post(f"/v1/channels/{channel}/orders", content=raw, headers={  # signed anew
        signing.HEADER: signing.sign(_secret(channel), raw, time.time() + 1)})
    assert first.status_code == again.status_code == 202 and first.json()["order_id"] == again.json()["order_id"]
    await gateway.until(channel, order["external_id"], "delivered")
    rows = await oms.orders_db.fetchval("SELECT count(*) FROM orders WHERE channel = $1 AND external_id = $2",
                                        channel, order["external_id"])
    assert rows == 1, "the same order twice is one order"
    async def confirmations() -> list[dict]:
        return [c for c in oms.sent_notifications()
                if c["order_id"] == first.json()["order_id"] and c["kind"] == "confirmation"]
    assert len(await eventually(confirmations, bool, "the customer's confirmation")) == 1


async def test_a_shopify_webhook_is_taken_as_shopify_sends_it(oms, gateway):
    await oms.stock({"CHAIR": {"3pl-berlin": 5}, "LAMP": {"3pl-berlin": 5}})
    shop = json.loads(SHOPIFY.read_text())
    shop["id"] = int(time.time() * 1000)
    for item in shop["line_items"]:
        item["sku"] = f"{oms.run}-{item['sku'].split('-')[1]}"
    raw = orjson.dumps(shop)
    headers = {"X-Shopify-Hmac-Sha256": signing.shopify_sign(_secret("web"), raw), "X-Shopify-Topic": "orders/create",
               "X-Shopify-Webhook-Id": f"wh-{shop['id']}", "content-type": "application/json"}
    answer = await gateway.client.post("/v1/channels/web/shopify/orders", content=raw, headers=headers)
    assert answer.status_code == 202, answer.text

    view = await gateway.until("web", str(shop["id"]), "delivered")
    assert sorted((line["sku"], line["quantity"]) for s in view["shipments"] for line in s["lines"]) == [
        (f"{oms.run}-CHAIR", 2), (f"{oms.run}-LAMP", 1)]
    replayed = await gateway.client.post("/v1/channels/web/shopify/orders", content=raw, headers={
        **headers, "X-Shopify-Webhook-Id": f"captured-{shop['id']}"})  # the webhook id is not signed
    assert replayed.status_code == 409, replayed.text
    copies = [r for r in await read_topic(topics.channel_topic("web"), 30)
              if orjson.loads(r.value).get("external_id") == str(shop["id"])]
    assert len(copies) == 1, "a captured delivery sent again is not a new message"


async def test_operators_find_orders_by_the_customers_email(oms, gateway):
    await oms.stock({"VASE": {"dc-rotterdam": 5}})
    order = {k: v for k, v in oms.order(3, {"VASE": 1}).items() if k != "id"}
    order["customer"] = {**order["customer"], "email": f"{oms.run.lower()}@example.com"}
    assert (await gateway.post(order["channel"], "/orders", order)).status_code == 202
    await gateway.until(order["channel"], order["external_id"], "delivered")
    token = security.operator_api_token(get_settings())

    async def found() -> list[str]:
        answer = await gateway.client.get("/v1/orders", params={"email": order["customer"]["email"].upper()},
                                          headers={"Authorization": f"Bearer {token}"})
        return [o["external_id"] for o in answer.json()["orders"]]
    assert await eventually(found, bool, "the customer's orders") == [order["external_id"]]
    denied = await gateway.client.get("/v1/orders", params={"email": order["customer"]["email"]},
                                      headers={"Authorization": f"Bearer {_api_token(order['channel'])}"})
    assert denied.status_code == 401


def _secret(channel: str) -> str:
    return security.channel_secrets(get_settings(), channel)[0]


def _api_token(channel: str) -> str:
    return security.channel_secrets(get_settings(), channel)[1]


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_the_tracking_page_in_a_real_browser_follows_the_order(oms, gateway, request):
    await oms.stock({"DESK": {"3pl-berlin": 5}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    shots = LOGS / request.node.name
    try:
        order = {k: v for k, v in oms.order(5, {"DESK": 1}).items() if k != "id"}
        answer = await gateway.post(order["channel"], "/orders", order)
        order_id = answer.json()["order_id"]
        asked = await berlin.wait_for(order_id, "fulfillment.requested")
        await berlin.answer(order_id, FulfillmentAccepted(fulfillment_id=asked["fulfillment_id"]))
        await gateway.until(order["channel"], order["external_id"], "in_fulfillment")

        async def links() -> set[str]:
            return tracking_links(oms, order_id)
        [link] = await eventually(links, bool, "the confirmation's tracking link")
        before = await render(link, shots / "tracking-before.png")
        assert 'data-status="in_fulfillment"' in before and "Your order is being prepared." in before, before[-3000:]
        assert "We have received your order." in before

        await berlin.answer(order_id, FulfillmentPicked(fulfillment_id=asked["fulfillment_id"]))
        await berlin.answer(order_id, FulfillmentPacked(fulfillment_id=asked["fulfillment_id"],
                                                        parcels=[Parcel(parcel_id="p1", weight_grams=4000)]))
        view = await gateway.until(order["channel"], order["external_id"], "delivered")
        after = await render(link, shots / "tracking-after.png")
        assert 'data-status="delivered"' in after and "Delivered." in after
        assert view["shipments"][0]["tracking_number"] in after and f"1 x {oms.run}-DESK" in after
        assert (shots / "tracking-after.png").stat().st_size > 10_000, "a screenshot with something on it"
    finally:
        await berlin.stop()


def http_workers(service: int) -> list[psutil.Process]:
    """The gateway service's HTTP workers (spawned processes; multiprocessing's resource tracker is not one)."""
    found = []
    for child in psutil.Process(service).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # gone (or a zombie) meanwhile: one killed and not yet reaped
            continue
    return found


async def test_the_http_worker_is_a_process_of_its_own_started_again_when_it_dies(oms, gateway):
    """The gateway serves HTTP from a worker process (its consumers' batches never hold a request up); a worker
    killed is replaced by the gateway service, and the port answers again."""
    assert gateway.process.proc is not None
    service = gateway.process.proc.pid
    [worker] = http_workers(service)
    worker.kill()

    async def replaced() -> tuple[set[int], bool]:
        return {w.pid for w in http_workers(service)} - {worker.pid}, await _healthy(gateway.client)
    await eventually(replaced, lambda seen: bool(seen[0]) and seen[1], "a new worker answering", timeout=60)
    order = {k: v for k, v in oms.order(1, {"SOFA": 1}).items() if k != "id"}
    assert (await gateway.post(order["channel"], "/orders", order)).status_code == 202


async def test_every_service_shows_its_metrics_and_the_counts_match_the_orders_sent(oms, gateway):
    """The counters move by what this test sent (the services may have handled earlier tests' orders)."""
    pids = {str(p.proc.pid): name for name, p in {**oms.processes, "gateway": gateway.process}.items() if p.proc}
    assert gateway.process.proc is not None
    workers = {str(worker.pid) for worker in http_workers(gateway.process.proc.pid)}
    assert workers, "the gateway serves HTTP from a process of its own"
    pids |= dict.fromkeys(workers, "gateway")

    def mine() -> list[tuple[str, str]]:
        return [(process, url) for process, url in metrics.endpoints(get_settings())
                if process.rsplit("-", 1)[1] in pids]

    def submitted(scraped: dict) -> float:
        return sum(v for process, samples in scraped.items() if process.startswith("order-")
                   for (name, labels), v in samples.items()
                   if name == "oms_messages_handled_total" and dict(labels)["type"] == "order.submitted")

    def released(scraped: dict) -> float:
        return sum(v for samples in scraped.values() for (name, _), v in samples.items()
                   if name == "oms_order_released_seconds_count")

    async def scraped() -> dict:
        return await asyncio.to_thread(metrics.scrape, mine())
    before = await eventually(scraped, lambda s: len(s) == 6 + len(workers),
                              "a metrics endpoint per service and HTTP worker")
    await oms.stock({"SOFA": {"dc-rotterdam": 20}})
    orders = [{k: v for k, v in oms.order(10 + n, {"SOFA": 1}).items() if k != "id"} for n in range(5)]
    for order in orders:
        assert (await gateway.post(order["channel"], "/orders", order)).status_code == 202
    for order in orders:
        await gateway.until(order["channel"], order["external_id"], "delivered")
    seen = await eventually(scraped, lambda s: len(s) == 6 + len(workers)
                            and submitted(s) - submitted(before) == len(orders), "the counters")
    accepted = sum(v for process, samples in seen.items() if process.startswith("gateway-")
                   for (name, labels), v in samples.items()
                   if name == "oms_http_requests_total" and dict(labels)["status"] == "202")
    assert accepted == len(orders)
    assert released(seen) - released(before) == len(orders), "each order's time to released measured once"
    for process, samples in seen.items():
        if process.rsplit("-", 1)[1] in workers:
            continue  # an HTTP worker consumes nothing
        handled = sum(v for (name, _), v in samples.items() if name == "oms_messages_handled_total")
        assert handled > 0, f"{process} handled nothing"
    await eventually(scraped, lambda s: any(v >= len(orders) for samples in s.values()
                                            for (name, labels), v in samples.items()
                                            if name == "oms_orders" and dict(labels)["status"] == "delivered"),
                     "orders per status sampled", timeout=30)


async def test_subscribers_get_signed_webhooks_a_failing_one_gets_them_later_and_a_refusing_one_is_dead(
        oms, oms_env, request):
    await oms.stock({"RUG": {"dc-rotterdam": 5}})
    order = oms.order(7, {"RUG": 1})
    order_id = order_id_for(order["channel"], order["external_id"])
    refused: list[bytes] = []

    def twice_unavailable(body: bytes) -> int:  # the first two posts about this order fail
        if order_id.encode() in body and len(refused) < 2:
            refused.append(body)
            return 503
        return 200
    mended: list[bool] = []
    with WebhookReceiver() as good, WebhookReceiver(twice_unavailable) as flaky, \
            WebhookReceiver(lambda body: 200 if mended else 410) as gone:
        config = LOGS / request.node.name / "webhooks.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(  # the notifications of earlier tests on the topic are posted too: the checks pick ours
            f'[[subscriber]]\nid = "crm"\nurl = "{good.url}"\n\n'
            f'[[subscriber]]\nid = "erp"\nurl = "{flaky.url}"\nevents = ["order.status_changed"]\n\n'
            f'[[subscriber]]\nid = "old"\nurl = "{gone.url}"\nevents = ["notification.requested"]\n')
        process = ServiceProcess("gateway_service", ["gateway_service"], LOGS / request.node.name, {
            **oms_env, "OMS_CONSUMER_GROUP_SUFFIX": await groups_of_a_run(oms_env, ("gateway",), partners=False),
            "OMS_WEBHOOKS_FILE": str(config), "OMS_WEBHOOK_BACKOFF_S": "0.2",
            "OMS_GATEWAY_URL": "http://127.0.0.1:18081"}).start()
        try:
            await process.logged("service.started", timeout=120)
            await oms.send(order)

            def statuses(receiver: WebhookReceiver) -> list[str]:
                """The statuses of the order the receiver took (answered 200), in the order they came."""
                bodies = [orjson.loads(body) for (_, body), status in zip(receiver.posts, receiver.answers, strict=False)
                          if status == 200]
                return [b["status"] for b in bodies if b.get("order_id") == order_id and "status" in b]

            async def delivered() -> tuple[list[str], list[str]]:
                return statuses(good), statuses(flaky)
            await eventually(delivered, lambda seen: all("delivered" in s for s in seen), "both told of delivery",
                             timeout=90)
            async def kinds() -> set[str]:
                return {h["x-oms-event-type"] for h, _ in good.posts}
            await eventually(kinds, lambda seen: seen >= {"order.status_changed", "notification.requested"},
                             "both kinds of event posted")
            secret = security.subscriber_secret(get_settings(), "crm")
            for headers, body in good.posts:
                signing.verify(secret, headers["x-oms-signature"], body)  # raises if not signed by the OMS
            ids = [h["x-oms-event-id"] for h, _ in good.posts]
            assert len(ids) == len(set(ids)), "each event once"
            await eventually(delivered, lambda seen: sorted(seen[0]) == sorted(seen[1]),
                             "the failing subscriber got every event after all")
            posted = [b for _, b in flaky.posts if orjson.loads(b).get("order_id") == order_id]
            assert len(refused) == 2 and all(posted.count(body) >= 2 for body in refused), "refused, then again"

            async def dead_listed() -> str:
                return (await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "oms_cli.main", "webhooks",
                        "--dead", "--order", order_id], capture_output=True, text=True, timeout=60,
                        env={**os.environ, "COLUMNS": "250"})).stdout
            def notices(receiver: WebhookReceiver) -> list[str]:
                return [h["x-oms-event-id"] for h, body in receiver.posts
                        if order_id.encode() in body and h["x-oms-event-type"] == "notification.requested"]

            async def told() -> tuple[set[str], set[str]]:
                return set(notices(good)), set(notices(gone))
            await eventually(told, lambda seen: len(seen[0]) >= 3 and seen[1] >= seen[0],
                             "confirmation, shipped and delivered refused by the old subscriber")
            listed = await eventually(dead_listed, lambda out: out.count("HTTP 410") >= 3,
                                      "this order's refused deliveries dead")
            assert order_id in listed and "old" in listed
            assert len(gone.posts) == len({h["x-oms-event-id"] for h, _ in gone.posts}), "refused once: dead at once"

            refused_ids = set(notices(gone))  # each refused once, and dead
            mended.append(True)
            retried = subprocess.run(
                [sys.executable, "-m", "oms_cli.main", "webhooks", "retry", "--subscriber", "old"],
                capture_output=True, text=True, timeout=60, env={**os.environ, "OMS_GATEWAY_URL": "http://127.0.0.1:18081"})
            assert "will be posted again" in retried.stdout, retried.stdout + retried.stderr

            async def posted_again() -> list[str]:
                return notices(gone)
            ours = await eventually(posted_again, lambda posts: all(posts.count(event) >= 2 for event in refused_ids),
                                    "this order's dead deliveries posted again", timeout=120)
            assert all(ours.count(event) == 2 for event in refused_ids), "refused once, then taken once"
            await eventually(dead_listed, lambda out: "no failed webhook" in out, "none of this order's left dead")
        finally:
            process.stop()


def spellings(header: str) -> list[str]:
    """One signature written five other ways a lenient parser would take."""
    stamp, digest = (part.split("=", 1)[1] for part in header.split(","))
    return [f"t={stamp},v1={digest.upper()}", f"v1={digest},t={stamp}", f"t={stamp}, v1={digest}",
            f"t={stamp},v1={digest},x=1", f"t={stamp},v1={digest},v1={digest}"]


async def test_a_signed_request_replayed_in_any_spelling_even_after_a_restart_is_not_a_new_message(oms, gateway):
    channel = "web"
    order = {k: v for k, v in oms.order(1, {"CHAIR": 1}, channel=channel).items() if k != "id"}
    raw = orjson.dumps(order)
    header = signing.sign(security.channel_secrets(get_settings(), channel)[0], raw)
    first = await gateway.client.post(f"/v1/channels/{channel}/orders", content=raw, headers={signing.HEADER: header})
    assert first.status_code == 202, first.text
    gateway.process.stop()  # another gateway, or the same one restarted, knows it too
    gateway.process.start()
    await gateway.process.logged("service.started", timeout=120, count=2)
    await eventually(lambda: _healthy(gateway.client), bool, "the gateway answering again", timeout=30)
    again = [await gateway.client.post(f"/v1/channels/{channel}/orders", content=raw, headers={signing.HEADER: h})
             for h in spellings(header)]
    assert {a.status_code for a in again} <= {401, 409} and 409 in {a.status_code for a in again}, [
        (a.status_code, a.text) for a in again]

    async def copies() -> list[dict]:
        return [body for r in await read_topic(topics.channel_topic(channel), 30)
                if (body := orjson.loads(r.value)).get("external_id") == order["external_id"]]
    found = await eventually(copies, lambda found: len(found) >= 1, "the order on the channel's topic")
    assert len(found) == 1, "one message, however often the request came"


async def test_no_process_but_the_stacks_setup_can_read_the_admins_or_the_superusers_password(oms, gateway):
    credentials = orjson.loads((get_settings().home / "credentials.json").read_bytes())
    kept_back = {name: password for name, password in credentials.items()
                 if name in ("admin", "postgres.oms") or name.endswith("_migrator")}
    for process in (gateway.process, *oms.processes.values()):
        assert process.proc is not None
        environ = Path(f"/proc/{process.proc.pid}/environ").read_bytes().decode(errors="replace")
        own = dict(item.split("=", 1) for item in environ.split("\0") if "=" in item)
        given = Path(own["OMS_CREDENTIALS_FILE"])
        assert oct(given.stat().st_mode & 0o777) == "0o600", given
        text = environ + given.read_text()
        assert [name for name, password in kept_back.items() if password in text] == [], process.name
    everyone = set(credentials.values())
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = set(cmdline.read_bytes().decode(errors="replace").replace("=", "\0").replace(",", "\0")
                        .rstrip("]").split("\0"))
        except OSError:  # a process that ended meanwhile
            continue
        assert not any(word.removesuffix("]") in everyone for word in words), f"a password on {cmdline}'s command line"
