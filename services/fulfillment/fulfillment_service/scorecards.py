"""Partner scorecards: every location's recent requests (the last `OMS_SCORE_WINDOW_S`), how many it rejected,
let time out or failed in quality control and how many are still open (its load), published on
`oms.partners.scores.v1` when they move, so allocation gives a failing partner less work within seconds, and gives
it back once its failures age out."""

from __future__ import annotations

from contracts import topics
from contracts.fulfillment import PartnerScored
from fulfillment_service.store import FulfillmentWork
from shared.logging import log
from shared.scorecards import every_interval, from_row, moved
from shared.service import Deps
from shared.uow import Postgres

WINDOW = """SELECT location_id, count(*) AS requests,
                   count(*) FILTER (WHERE status IN ('rejected', 'timed_out')) AS rejected,
                   coalesce(sum(qc_failures), 0) AS qc_failed,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - created_at))
                       AS accept_s,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM packed_at - accepted_at))
                       AS pack_s,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM packed_at - picked_at))
                       AS pick_to_pack_s,
                   avg((packed_at <= ship_by)::int) FILTER (WHERE packed_at IS NOT NULL) AS packed_on_time,
                   count(*) FILTER (WHERE status IN ('requested', 'accepted', 'picked', 'qc_failed'))
                       AS open_requests
            FROM fulfillments WHERE created_at >= now() - make_interval(secs => $1) GROUP BY location_id"""


async def score_round(deps: Deps, told: dict[str, PartnerScored]) -> int:
    """One round: the window's scorecards, those that moved sent through the outbox. Returns how many."""
    window_s = int(deps.settings.score_window_s)
    async with deps.pool.acquire() as conn, conn.transaction():
        found = {r["location_id"]: r for r in await conn.fetch(WINDOW, window_s)}
        unit = FulfillmentWork(deps, Postgres(conn))
        changed = []
        for location in deps.network.locations:
            card = from_row(location.id, "location", window_s, found.get(location.id))
            if moved(told.get(location.id), card):
                unit.send(topics.PARTNER_SCORES.name, location.id, card)
                changed.append(card)
        await unit.flush()
    for card in changed:
        told[card.partner_id] = card
        log.info("partner.scored", location_id=card.partner_id, failure_rate=card.failure_rate,
                 requests=card.requests, open_requests=card.open_requests)
    return len(changed)


scorecards = every_interval(score_round)
