"""Carrier scorecards: every carrier's booking requests of the last `OMS_SCORE_WINDOW_S`, how many it refused or
left unanswered (the shipment went to another carrier) or reported an exception for, how many it still carries,
and the share of its deliveries made by the promise,
published on `oms.partners.scores.v1` when they move; the next booking passes over a carrier failing more than a
healthy share while another carrier can take it."""

from __future__ import annotations

from contracts import topics
from contracts.fulfillment import PartnerScored
from shared.logging import log
from shared.routing import HEALTHY_FAILURE_RATE
from shared.scorecards import every_interval, from_row, moved, weighed
from shared.service import Deps
from shared.uow import Postgres
from shipping_service.store import ShippingWork

FAILURES_KEY = "shipping.carrier_failure_rates"
WINDOW = """SELECT asked.carrier AS carrier_id, count(*) AS requests,
                   count(*) FILTER (WHERE s.carrier_id IS DISTINCT FROM asked.carrier
                                    OR s.status = 'booking_failed') AS rejected,
                   avg((s.delivered_at <= s.deliver_by)::int) FILTER (
                       WHERE s.carrier_id = asked.carrier AND s.delivered_at IS NOT NULL
                       AND s.deliver_by IS NOT NULL) AS delivered_on_time,
                   count(*) FILTER (WHERE s.carrier_id = asked.carrier AND s.exceptions > 0) AS exceptions,
                   count(*) FILTER (WHERE s.carrier_id = asked.carrier AND s.status IN ('booking', 'booked',
                                                                                       'picked_up', 'in_transit'))
                       AS open_requests
            FROM shipments s, unnest(s.tried_carriers) AS asked(carrier)
            WHERE s.created_at >= now() - make_interval(secs => $1) GROUP BY asked.carrier"""


def failing(deps: Deps) -> list[str]:
    """Carriers failing more than a healthy share of their recent bookings (as this process last worked out)."""
    rates: dict[str, float] = deps.extra.get(FAILURES_KEY, {})  # type: ignore[assignment]
    return [carrier for carrier, rate in rates.items() if rate > HEALTHY_FAILURE_RATE]


async def score_round(deps: Deps, told: dict[str, PartnerScored]) -> int:
    window_s = int(deps.settings.score_window_s)
    async with deps.pool.acquire() as conn, conn.transaction():
        found = {r["carrier_id"]: r for r in await conn.fetch(WINDOW, window_s)}
        unit = ShippingWork(deps, Postgres(conn))
        cards = {}
        for carrier in deps.network.carriers:
            cards[carrier.id] = from_row(carrier.id, "carrier", window_s, found.get(carrier.id))
        changed = [card for card in cards.values() if moved(told.get(card.partner_id), card)]
        for card in changed:
            unit.send(topics.PARTNER_SCORES.name, card.partner_id, card)
        await unit.flush()
    deps.extra[FAILURES_KEY] = {carrier: weighed(card.failure_rate, card.requests) for carrier, card in cards.items()}
    for card in changed:
        told[card.partner_id] = card
        log.info("partner.scored", carrier_id=card.partner_id, failure_rate=card.failure_rate,
                 requests=card.requests)
    return len(changed)


scorecards = every_interval(score_round)
