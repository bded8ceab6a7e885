"""Partner scorecards on PostgreSQL: one round of the fulfillment and shipping services' window queries over
requests as they stand, and the scorecards it sends through the outbox."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

import fulfillment_service
import shipping_service
from contracts import topics
from runtime.db import migrate
from tests.support.memory import deps_of

pytestmark = pytest.mark.component


async def told(pool: asyncpg.Pool) -> dict[str, dict]:
    """The scorecards sent since (taken out of the outbox, which other tests relay)."""
    rows = await pool.fetch("DELETE FROM outbox WHERE topic = $1 RETURNING key, payload", topics.PARTNER_SCORES.name)
    return {r["key"]: orjson.loads(r["payload"]) for r in rows}


async def deps_for(pool: asyncpg.Pool, service: str, package: object) -> Any:
    await migrate(pool, Path(package.__file__).parent / "sql")  # type: ignore[attr-defined]
    return deps_of(service, pool)


async def test_a_carriers_scorecard_counts_refusals_exceptions_and_what_it_still_carries(test_db):
    from shipping_service.scorecards import failing, score_round

    deps = await deps_for(test_db, "shipping", shipping_service)
    first, second = deps.network.carriers[0].id, deps.network.carriers[1].id
    await test_db.execute("DELETE FROM shipments")
    await told(test_db)
    rows = ([(first, [first], "in_transit", 0, None)] * 3 + [(first, [first], "booked", 1, None)] * 2
            + [(first, [first], "delivered", 1, "early")] * 1 + [(first, [first], "delivered", 0, "early")] * 3
            + [(first, [first], "delivered", 0, "late")] * 1
            + [(second, [first, second], "booked", 0, None)] * 2)  # the first refused these two
    for carrier, tried, status, exceptions, arrived in rows:
        await test_db.execute(
            "INSERT INTO shipments (shipment_id, order_id, location_id, service_level, ship_to, parcels, carrier_id, "
            "tried_carriers, status, exceptions, deliver_by, delivered_at) VALUES ($1, $1, 'dc-rotterdam', "
            "'standard', '{}', '[]', $2, $3, $4, $5, now() + interval '1 day', CASE $6::text WHEN 'early' THEN now() "
            "WHEN 'late' THEN now() + interval '2 days' END)", f"shp-{uuid.uuid4().hex[:8]}", carrier, tried, status,
            exceptions, arrived)

    assert await score_round(deps, {}) >= 2
    cards = await told(test_db)
    card = cards[first]
    assert (card["kind"], card["requests"], card["rejected"], card["exceptions"], card["open_requests"]) == (
        "carrier", 12, 2, 3, 5)
    assert card["failure_rate"] == round(5 / 12, 3), "refused and exceptions, per request"
    assert card["delivered_on_time_rate"] == 0.8
    assert (cards[second]["requests"], cards[second]["open_requests"], cards[second]["failure_rate"]) == (2, 2, 0.0)
    assert failing(deps) == [first], "the next booking passes over it while another carrier can take it"


async def test_a_locations_scorecard_counts_failures_and_its_open_requests(test_db):
    from fulfillment_service.scorecards import score_round

    deps = await deps_for(test_db, "fulfillment", fulfillment_service)
    where = deps.network.locations[0].id
    await test_db.execute("DELETE FROM fulfillments")
    await told(test_db)
    rows = ([("rejected", 0)] * 2 + [("timed_out", 0)] + [("requested", 0)] * 3 + [("accepted", 0)]
            + [("packed", 1)] + [("packed", 0)] * 2)
    for status, qc_failures in rows:
        await test_db.execute(
            "INSERT INTO fulfillments (fulfillment_id, order_id, location_id, status, lines, ship_by, qc_failures, "
            "accepted_at, picked_at, packed_at) VALUES ($1, $1, $2, $3, '[]', now() + interval '1 hour', $4, "
            "CASE WHEN $3 IN ('accepted', 'packed') THEN now() - interval '90 seconds' END, "
            "CASE WHEN $3 = 'packed' THEN now() - interval '30 seconds' END, CASE WHEN $3 = 'packed' THEN now() END)",
            f"ful-{uuid.uuid4().hex[:8]}", where, status, qc_failures)

    await score_round(deps, {})
    card = (await told(test_db))[where]
    assert (card["kind"], card["requests"], card["rejected"], card["qc_failed"], card["open_requests"]) == (
        "location", 10, 3, 1, 4)
    assert card["failure_rate"] == 0.4 and card["packed_on_time_rate"] == 1.0
    assert (card["accept_to_pack_s"], card["pick_to_pack_s"]) == (90.0, 30.0)
