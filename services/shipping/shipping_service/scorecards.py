"""Carrier scorecards: every carrier's booking requests of the last `OMS_SCORE_WINDOW_S`, how many it refused or
left unanswered (the shipment went to another carrier) or reported an exception for, how many it still carries,
and the share of its deliveries made by the promise,
published on `oms.partners.scores.v1` when they move; the next booking passes over a carrier failing more than a
healthy share while another carrier can take it."""

from __future__ import annotations

from contracts.fulfillment import PartnerScored
from rules.routing import HEALTHY_FAILURE_RATE
from rules.scorecards import every_interval, score_window, weighed
from shipping_service.bootstrap import ShippingDeps
from shipping_service.store import ShippingWork

WINDOW = """SELECT asked.carrier AS partner_id, count(*) AS requests,
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


def failing(deps: ShippingDeps) -> list[str]:
    """Carriers failing more than a healthy share of their recent bookings (as this process last worked out)."""
    return [carrier for carrier, rate in deps.failure_rates.items() if rate > HEALTHY_FAILURE_RATE]


async def score_round(deps: ShippingDeps, told: dict[str, PartnerScored]) -> int:
    """One round: the window's scorecards, those that moved sent through the outbox, and the failure rates this
    process's next bookings weigh. Returns how many were sent."""
    cards, sent = await score_window(deps, told, WINDOW, "carrier", [c.id for c in deps.network.carriers],
                                     ShippingWork)
    deps.failure_rates = {carrier: weighed(card.failure_rate, card.requests) for carrier, card in cards.items()}
    return sent


scorecards = every_interval(score_round)
