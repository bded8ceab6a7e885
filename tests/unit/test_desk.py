"""The desk without a server: roles, the refund limit, passwords, sign-in by link and password, the session cookie,
CSRF, expiry, and each action as the message it sends (the real stack and a browser: tests/e2e/test_desk.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest

from contracts.base import Message
from gateway_service.agents import Session, hashed, may, password_hash, password_matches, refund_allowed, token
from gateway_service.api import create_app
from gateway_service.edge import Desk, Gate, Reads, Unavailable
from rules.network import load_network
from runtime.settings import get_settings

pytestmark = pytest.mark.unit

ORDER = {"order_id": "o-1", "channel": "web", "external_id": "W-1", "status": "released", "reason": None,
         "shipments": [{"shipment_id": "o-1-S1", "location_id": "3pl-berlin", "status": "released",
                        "lines": [{"sku": "CHAIR", "quantity": 1}]}], "returns": [], "timeline": [],
         "notifications": [], "others": [], "updated_at": datetime(2026, 12, 7, tzinfo=UTC)}


class MemoryAgents:
    """The agents store in a dict: links once, sessions until `expires_at`."""

    def __init__(self) -> None:
        self.roles = {"ann": "agent", "sam": "supervisor"}
        self.passwords = {"sam": password_hash("correct horse")}
        self.links: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}

    def link(self, agent: str) -> str:
        self.links[hashed(link := token())] = agent
        return link

    async def redeem(self, link: str) -> str | None:
        return self.links.pop(hashed(link), None)

    async def check_password(self, name: str, password: str) -> str | None:
        return name if password_matches(password, self.passwords.get(name)) else None

    async def sign_in(self, agent: str) -> str:
        cookie = token()
        self.sessions[hashed(cookie)] = Session(agent, self.roles[agent], token(),
                                                datetime.now(UTC) + timedelta(hours=8))
        return cookie

    async def session(self, cookie: str | None) -> Session | None:
        found = self.sessions.get(hashed(cookie or ""))
        return found if found and found.expires_at > datetime.now(UTC) else None

    async def sign_out(self, cookie: str) -> None:
        self.sessions.pop(hashed(cookie), None)


class DeskReads:
    async def desk_order(self, order_id: str) -> dict[str, Any] | None:
        return dict(ORDER) if order_id == "o-1" else None

    async def desk_search(self, text: str) -> list[dict[str, Any]]:
        return [dict(ORDER)] if text in ("ada@example.com", "W-1") else []

    async def attention(self) -> list[dict[str, Any]]:
        return [{**ORDER, "status": "on_hold", "reason": {"code": "held", "message": "sam: customer calls back"}}]


class Console:
    def __init__(self, broker_down: bool = False) -> None:
        self.sent: list[tuple[str, Message]] = []
        self.agents = MemoryAgents()

        async def send(key: str, message: Message) -> None:
            if broker_down:
                raise Unavailable("no broker")
            self.sent.append((key, message))
        gate = Gate(load_network(get_settings().network_file), {}, "op", self._no_channel, cast(Reads, None),
                    desk=Desk(self.agents, DeskReads(), send, Decimal("50")))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(create_app(gate)), base_url="http://oms")

    @staticmethod
    async def _no_channel(channel: str, key: str, message: Message) -> None:
        raise AssertionError("nothing here posts as a channel")

    async def sign_in(self, agent: str) -> str:
        """Signed in by a one-time link; returns the CSRF token of the session's pages."""
        answer = await self.client.get(f"/desk/login/{self.agents.link(agent)}")
        assert answer.status_code == 303, answer.text
        page = await self.client.get("/desk")
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    async def act(self, action: str, csrf: str, **form: str) -> httpx.Response:
        return await self.client.post(f"/desk/orders/o-1/{action}", data={"csrf": csrf, **form})


def test_roles_say_who_may_move_and_refund_above_the_limit():
    assert may("agent", "cancel") and may("agent", "refund") and not may("agent", "move")
    assert may("supervisor", "move") and may("supervisor", "refund_above_limit")
    assert not may("nobody", "note")
    assert refund_allowed("agent", Decimal("50"), Decimal("50")) is None
    assert "supervisor" in (refund_allowed("agent", Decimal("50.01"), Decimal("50")) or "")
    assert refund_allowed("supervisor", Decimal("500"), Decimal("50")) is None
    assert refund_allowed("supervisor", Decimal("0"), Decimal("50")) is not None


def test_a_password_is_kept_salted_and_checked():
    stored = password_hash("s3cret")
    assert stored != password_hash("s3cret") and "s3cret" not in stored
    assert password_matches("s3cret", stored) and not password_matches("s3cret!", stored)
    assert not password_matches("anything", None)


async def test_a_login_link_signs_in_once_with_a_cookie_only_the_desk_sends():
    console = Console()
    link = console.agents.link("ann")
    first = await console.client.get(f"/desk/login/{link}")
    assert first.status_code == 303
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/desk" in cookie
    console.client.cookies.clear()
    again = await console.client.get(f"/desk/login/{link}")
    assert again.status_code == 401 and "used already or has expired" in again.text


async def test_a_password_signs_in_and_a_wrong_one_does_not():
    console = Console()
    wrong = await console.client.post("/desk/login", data={"name": "sam", "password": "wrong"})
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    right = await console.client.post("/desk/login", data={"name": "sam", "password": "correct horse",
                                                           "next": "/desk/orders/o-1"})
    assert right.status_code == 303 and right.headers["location"] == "/desk/orders/o-1"
    assert (await console.client.get("/desk/orders/o-1")).status_code == 200


async def test_without_a_session_pages_go_to_the_login_and_changes_are_refused():
    console = Console()
    page = await console.client.get("/desk/orders/o-1")
    assert page.status_code == 303 and page.headers["location"].startswith("/desk/login")
    change = await console.client.post("/desk/orders/o-1/note", data={"csrf": "x", "text": "hi"})
    assert change.status_code == 401
    assert console.sent == []


async def test_an_expired_session_is_sent_to_sign_in_again_and_sends_nothing():
    console = Console()
    csrf = await console.sign_in("ann")
    for key, session in console.agents.sessions.items():
        console.agents.sessions[key] = Session(session.agent, session.role, session.csrf,
                                               datetime.now(UTC) - timedelta(seconds=1))
    page = await console.client.get("/desk")
    assert page.status_code == 303 and "expired=1" in page.headers["location"]
    refused = await console.act("note", csrf, text="too late")
    assert refused.status_code == 401 and "expired" in refused.text
    assert console.sent == []


async def test_a_form_without_the_sessions_csrf_token_is_refused():
    console = Console()
    await console.sign_in("ann")
    for csrf in ("", "forged"):
        refused = await console.act("note", csrf, text="from another site")
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert console.sent == []


async def test_each_action_sends_its_message_naming_the_agent():
    console = Console()
    csrf = await console.sign_in("sam")
    for action, form in [("note", {"text": "called"}), ("hold", {"reason": "fraud check"}),
                         ("release", {"reason": "checked"}), ("cancel", {"sku": "CHAIR", "quantity": "1"}),
                         ("change", {"shipping_speed": "express"}), ("refund", {"amount": "60", "reason": "late"}),
                         ("move", {"shipment_id": "o-1-S1", "to_location_id": "dc-rotterdam"}),
                         ("resend", {"notification_id": "n-1"})]:
        answer = await console.act(action, csrf, **form)
        assert answer.status_code == 303, (action, answer.text)
        assert answer.headers["location"] == f"/desk/orders/o-1?sent={action}"
    sent = {m.type: (key, m) for key, m in console.sent}
    assert list(sent) == ["order.note_added", "order.hold_requested", "order.hold_released", "order.cancel_requested",
                          "order.change_requested", "refund.goodwill_requested", "fulfillment.move_requested",
                          "notification.resend_requested"]
    assert sent["order.note_added"][0] == "o-1" and sent["order.cancel_requested"][0] == "web:W-1"
    for _, message in sent.values():
        named = str(getattr(message, "by", None) or getattr(message, "reason", ""))
        assert "sam" in named, message
    assert sent["order.cancel_requested"][1].lines[0].sku == "CHAIR"  # type: ignore[attr-defined]


async def test_an_agent_may_not_move_nor_refund_above_the_limit_403_and_nothing_sent():
    console = Console()
    csrf = await console.sign_in("ann")
    moved = await console.act("move", csrf, shipment_id="o-1-S1", to_location_id="dc-rotterdam")
    assert moved.status_code == 403 and "ask a supervisor" in moved.text
    refund = await console.act("refund", csrf, amount="50.01", reason="late")
    assert refund.status_code == 403 and "supervisor" in refund.text
    assert console.sent == []
    assert (await console.act("refund", csrf, amount="50", reason="late")).status_code == 303
    assert [m.type for _, m in console.sent] == ["refund.goodwill_requested"]


async def test_the_order_page_shows_only_what_the_role_may_do():
    console = Console()
    await console.sign_in("ann")
    agent_page = (await console.client.get("/desk/orders/o-1")).text
    assert "/desk/orders/o-1/refund" in agent_page and "/desk/orders/o-1/move" not in agent_page
    console.client.cookies.clear()
    await console.sign_in("sam")
    assert "/desk/orders/o-1/move" in (await console.client.get("/desk/orders/o-1")).text


async def test_search_and_the_list_of_what_needs_attention():
    console = Console()
    await console.sign_in("ann")
    home = await console.client.get("/desk")
    assert "web:W-1" in home.text and "customer calls back" in home.text
    found = await console.client.get("/desk/search", params={"q": "ada@example.com"})
    assert "/desk/orders/o-1" in found.text
    assert "Nothing here" in (await console.client.get("/desk/search", params={"q": "nobody"})).text


async def test_bad_input_and_a_broker_outage_are_clear_and_send_nothing():
    console = Console(broker_down=True)
    csrf = await console.sign_in("sam")
    assert (await console.act("refund", csrf, amount="lots", reason="x")).status_code == 400
    assert (await console.act("hold", csrf, reason="")).status_code == 400
    assert (await console.act("teleport", csrf)).status_code == 404
    down = await console.act("note", csrf, text="hello")
    assert down.status_code == 503 and "try again" in down.text


async def test_desk_pages_may_post_forms_to_the_desk_and_nowhere_else():
    console = Console()
    page = await console.client.get("/desk/login")
    assert "form-action 'self'" in page.headers["content-security-policy"]
    other = await console.client.get("/healthz")
    assert "form-action 'none'" in other.headers["content-security-policy"]
