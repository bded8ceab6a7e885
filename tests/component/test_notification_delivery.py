"""Notifications never stall: a refused address, an injected header or a failing webhook affects that notification
alone (attempts, backoff, dead for operators); the others are sent, and none twice. Real local servers, no mocks."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest

from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.poll import eventually
from tests.support.servers import SmtpServer, WebhookServer

pytestmark = pytest.mark.component

COLUMNS = "notification_id, order_id, kind, medium, recipient, subject, body"


@pytest.fixture
async def notification_db(stack) -> asyncpg.Connection:
    conn = await asyncpg.connect(get_settings().database_for("notification"))
    yield conn
    await conn.close()


async def record(conn: asyncpg.Connection, recipient: str, subject: str = "Your order") -> str:
    """A notification as the service records it (the recipient as a customer gave it to an older version)."""
    notification_id = str(uuid.uuid4())
    await conn.execute(f"INSERT INTO notifications ({COLUMNS}) VALUES ($1, $2, 'confirmation', 'email', $3, $4, "
                       "'Thank you.')", notification_id, f"order-{notification_id}", recipient, subject)
    return notification_id


async def states(conn: asyncpg.Connection, ids: list[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch("SELECT notification_id, sent_at IS NOT NULL AS sent, dead_at IS NOT NULL AS dead, "
                            "attempts, last_error FROM notifications WHERE notification_id = ANY($1::text[])", ids)
    return {r["notification_id"]: r for r in rows}


def settled(found: dict[str, asyncpg.Record]) -> bool:
    return all(r["sent"] or r["dead"] for r in found.values())


async def test_an_smtp_refusal_and_an_injected_header_affect_only_their_own_notification(
        request, processes, notification_db):
    run = uuid.uuid4().hex[:6]
    async with SmtpServer(refuse=lambda address: address.startswith("refused")) as smtp:
        service = service_process(processes, request, "notification", "notification_service", env={
            "OMS_NOTIFY_SENDER": "smtp", "OMS_SMTP_PORT": str(smtp.port), "OMS_NOTIFY_BACKOFF_S": "0.2"})
        service.wait_for_log("service.started")
        refused = await record(notification_db, f"refused-{run}@example.com")
        injected = await record(notification_db, f"victim-{run}@example.com\r\nBcc: thief-{run}@example.com")
        comma = await record(notification_db, f"one-{run}@example.com, two-{run}@example.com")
        bad_subject = await record(notification_db, f"good-{run}@example.com", "Hi\r\nBcc: thief@example.com")
        good = await record(notification_db, f"good-{run}@example.com")
        ids = [refused, injected, comma, bad_subject, good]
        found = await eventually(lambda: states(notification_db, ids), settled, "every notification sent or dead")
        assert found[good]["sent"] and found[good]["attempts"] == 0
        for dead in (refused, injected, comma, bad_subject):
            assert found[dead]["dead"] and found[dead]["attempts"] == 1, dict(found[dead])
        assert "550" in found[refused]["last_error"]
        assert "not one plain e-mail address" in found[injected]["last_error"]
        assert "line break" in found[bad_subject]["last_error"]
        assert not any("thief" in r or "two-" in r for r in smtp.recipients), smtp.recipients
        assert len([m for m in smtp.delivered if f"good-{run}".encode() in m]) == 1


async def test_a_failing_webhook_is_tried_again_with_backoff_and_dies_after_its_attempts(
        request, processes, notification_db):
    run = uuid.uuid4().hex[:6]
    calls: dict[str, int] = {}

    def answer(body: bytes) -> int:
        recipient = orjson.loads(body)["recipient"]
        calls[recipient] = calls.get(recipient, 0) + 1
        if recipient.startswith("flaky") and calls[recipient] <= 2:
            return 500
        return 500 if recipient.startswith("broken") else 200

    async with WebhookServer(answer) as webhook:
        service = service_process(processes, request, "notification", "notification_service", env={
            "OMS_NOTIFY_SENDER": "webhook", "OMS_WEBHOOK_URL": f"http://127.0.0.1:{webhook.port}/hook",
            "OMS_NOTIFY_BACKOFF_S": "0.1", "OMS_NOTIFY_MAX_ATTEMPTS": "4"})
        service.wait_for_log("service.started")
        flaky = await record(notification_db, f"flaky-{run}@example.com")
        broken = await record(notification_db, f"broken-{run}@example.com")
        good = await record(notification_db, f"good-{run}@example.com")
        found = await eventually(lambda: states(notification_db, [flaky, broken, good]), settled,
                                 "every notification sent or dead")
    assert found[good]["sent"] and calls[f"good-{run}@example.com"] == 1
    assert found[flaky]["sent"] and found[flaky]["attempts"] == 2 and calls[f"flaky-{run}@example.com"] == 3
    assert found[broken]["dead"] and found[broken]["attempts"] == 4 and calls[f"broken-{run}@example.com"] == 4
    assert "HTTP Error 500" in found[broken]["last_error"]
    service.wait_for_log("notification.dead")
