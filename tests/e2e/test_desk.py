"""The customer-service desk in a real headless Chromium (Debian's, driven by Playwright) against the gateway and the
whole OMS as real processes: agents made with `oms agent add`, signed in by their one-time link; a supervisor finds
a customer by e-mail and moves a fulfillment its location has not started; an agent's refund above the limit is
refused and a supervisor's goes through; a phone order placed from the console is delivered; a form without the
session's CSRF token and an expired login are refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import orjson
import pytest
from playwright.async_api import Browser, Page, async_playwright

from contracts import topics
from contracts.partners import FulfillmentCancelled
from runtime.settings import get_settings
from tests.conftest import LOGS
from tests.e2e.conftest import GATEWAY_URL, everyone_but
from tests.e2e.test_when_things_go_wrong import oid, until_status
from tests.support.browser import chromium
from tests.support.cli import oms_cli
from tests.support.kafka import read_topic
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


async def new_agent(role: str) -> tuple[str, str]:
    """An agent made as an operator makes one; their name and one-time login link (on the tests' gateway)."""
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    printed = await oms_cli("agent", "add", name, "--role", role)
    path = re.search(r"/desk/login/[\w-]+", printed)
    assert path, printed
    return name, GATEWAY_URL + path.group(0)


@asynccontextmanager
async def chromium_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(browser: Browser, role: str) -> tuple[str, Page]:
    """A fresh browser profile, signed in by the agent's link: it lands on the desk."""
    name, link = await new_agent(role)
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await page.goto(link)
    assert page.url.endswith("/desk"), page.url
    assert f"{name} ({role})" in await page.inner_text("header")
    return name, page


async def refund(page: Page, amount: str) -> None:
    form = "form[action$='/refund']"
    await page.fill(f"{form} input[name=amount]", amount)
    await page.fill(f"{form} input[name=reason]", "parcel arrived late")
    await page.click(f"{form} button")


async def order_page_showing(page: Page, order_id: str, text: str, timeout: float = 90) -> str:
    """The order's desk page, reloaded until it shows `text` (the read model follows the events)."""
    async def shown() -> str:
        await page.goto(f"{GATEWAY_URL}/desk/orders/{order_id}")
        return await page.inner_text("main")
    return await eventually(shown, lambda body: text in body, f"{order_id}'s page showing {text!r}", timeout=timeout,
                            interval=1)


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_a_supervisor_finds_the_customer_and_moves_a_fulfillment_which_is_delivered_from_there(oms, gateway):
    await oms.stock({"DESKMOVE": {"3pl-berlin": 2, "store-munich": 4}})  # Berlin first for a customer in Munich
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    shots = LOGS / "desk"
    try:
        order = oms.order(3, {"DESKMOVE": 1})
        await oms.send(order)
        asked = await berlin.wait_for(oid(order), "fulfillment.requested")  # and never accepted by Berlin
        async with chromium_browser() as browser:
            name, page = await signed_in(browser, "supervisor")
            await page.fill("input[name=q]", order["customer"]["email"])
            await page.press("input[name=q]", "Enter")
            await page.wait_for_selector("#orders")
            await page.screenshot(path=str(shots / "desk-search.png"), full_page=True)
            await page.click(f"text={order['channel']}:{order['external_id']}")
            await order_page_showing(page, oid(order), "3pl-berlin")
            await page.select_option("select[name=to_location_id]", "store-munich")
            await page.click("button[name=move]")
            assert "Sent: move" in await page.inner_text("#sent")

            cancel = await berlin.wait_for(oid(order), "fulfillment.cancel_requested")
            assert cancel["fulfillment_id"] == asked["fulfillment_id"]
            await berlin.answer(oid(order), FulfillmentCancelled(fulfillment_id=asked["fulfillment_id"]))
            done = await until_status(watch, order, "delivered", timeout=90)
            assert [s["location_id"] for s in done["shipments"] if s["status"] == "delivered"] == ["store-munich"]
            shown = await order_page_showing(page, oid(order), "delivered")
            assert f"{name}: move to store-munich" in shown, shown
            assert [c.strip() for c in await page.locator("#shipments td.location").all_inner_texts()][-1] == \
                "store-munich"
            await page.screenshot(path=str(shots / "desk-order.png"), full_page=True)
    finally:
        await watch.stop()
        await berlin.stop()


async def test_an_agents_refund_above_the_limit_is_refused_and_a_supervisors_goes_through(oms, gateway):
    await oms.stock({"DESKPAY": {"3pl-berlin": 12}})
    watch = await oms.watch()
    try:
        order = oms.order(4, {"DESKPAY": 10})  # paid 100.00
        await oms.send(order)
        await until_status(watch, order, "delivered", timeout=90)
        async with chromium_browser() as browser:
            _, agent = await signed_in(browser, "agent")
            await order_page_showing(agent, oid(order), "delivered")
            await refund(agent, "80")
            assert "supervisor" in await agent.inner_text("#why")

            supervisor, page = await signed_in(browser, "supervisor")
            await order_page_showing(page, oid(order), "delivered")
            await refund(page, "80")
            shown = await order_page_showing(page, oid(order), f"goodwill by {supervisor}")
            assert f"{supervisor}: goodwill 80 EUR (parcel arrived late)" in shown, shown
            money = await page.inner_text("#money")
            assert "capture\t100 EUR" in money and "refund\t80 EUR" in money, money

        async def refunds() -> list[dict]:
            return [m for r in await read_topic(topics.PAYMENTS.name) if (m := orjson.loads(r.value))["type"] ==
                    "refund.requested" and m["order_id"] == oid(order)]
        [asked] = await eventually(refunds, lambda found: len(found) == 1, "one goodwill refund asked for")
        assert (asked["reason"], asked["amount"], asked["lines"], asked["by"]) == ("goodwill", "80", [],
                                                                                        supervisor)
    finally:
        await watch.stop()


async def test_a_phone_order_placed_from_the_console_is_delivered(oms, gateway):
    await oms.stock({"DESKPHONE": {"3pl-berlin": 5}})
    async with chromium_browser() as browser:
        _, page = await signed_in(browser, "agent")
        await page.click("text=Phone order")
        for field, value in {"name": "Pat Phone", "email": f"pat-{oms.run.lower()}@example.com",
                             "phone": "+49 30 1234567", "line1": "1 Main Street", "postal_code": "80331",
                             "city": "Munich", "sku1": f"{oms.run}-DESKPHONE", "qty1": "2", "price1": "19.90"}.items():
            await page.fill(f"input[name={field}]", value)
        await page.click("text=Check availability")
        options = await page.inner_text("#options")
        assert "there by" in options, options  # the promise the customer is told on the phone
        await page.click("text=Place order")
        order_id = (await page.inner_text("#placed")).strip()
        shown = await order_page_showing(page, order_id, "delivered", timeout=120)
        assert "callcenter:CC-" in shown and "2 x " in shown, shown


async def test_a_form_without_the_csrf_token_and_an_expired_login_are_refused(oms, gateway):
    _, link = await new_agent("agent")
    async with httpx.AsyncClient(base_url=GATEWAY_URL, timeout=10) as client:
        assert (await client.get(link)).status_code == 303
        assert (await client.get("/desk")).status_code == 200
        forged = await client.post("/desk/orders/any/note", data={"text": "from another site"})
        assert forged.status_code == 403 and "CSRF" in forged.text
        used = await httpx.AsyncClient(timeout=10).get(link)
        assert used.status_code == 401, "a login link signs in once"

        db = await asyncpg.connect(get_settings().database_for("gateway"))
        try:
            await db.execute("UPDATE agent_sessions SET expires_at = now() - interval '1 second' "
                             "WHERE token_hash = encode(sha256($1::bytea), 'hex')", client.cookies["oms_desk"].encode())
        finally:
            await db.close()
        page = await client.get("/desk")
        assert page.status_code == 303 and "expired=1" in page.headers["location"]
        late = await client.post("/desk/orders/any/note", data={"text": "too late", "csrf": "x"})
        assert late.status_code == 401 and "expired" in late.text
