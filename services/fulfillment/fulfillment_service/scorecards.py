"""Partner scorecards: every location's recent requests (the last `OMS_SCORE_WINDOW_S`), how many it rejected,
let time out or failed in quality control, published on `oms.partners.scores.v1` when its failure rate moves, so
allocation gives a failing partner less work within seconds, and gives it back once its failures age out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from contracts import topics
from contracts.fulfillment import PartnerScored
from fulfillment_service.store import FulfillmentWork
from shared.logging import log
from shared.service import Deps
from shared.uow import Postgres

WINDOW = """SELECT location_id, count(*) AS requests,
                   count(*) FILTER (WHERE status IN ('rejected', 'timed_out')) AS rejected,
                   coalesce(sum(qc_failures), 0) AS qc_failed
            FROM fulfillments WHERE created_at >= now() - make_interval(secs => $1) GROUP BY location_id"""


def scorecard(location_id: str, requests: int, rejected: int, qc_failed: int, window_s: int) -> PartnerScored:
    """A location's scorecard: failures (rejected, timed out, QC failed) per request, at most 1."""
    rate = min((rejected + qc_failed) / requests, 1.0) if requests else 0.0
    return PartnerScored(partner_id=location_id, window_s=window_s, requests=requests, rejected=rejected,
                         qc_failed=qc_failed, failure_rate=round(rate, 3), scored_at=datetime.now(UTC))


def moved(before: PartnerScored | None, now: PartnerScored) -> bool:
    """Worth telling: the first scorecard, or a failure rate that moved by a point or more."""
    return before is None or abs(before.failure_rate - now.failure_rate) >= 0.01


async def score_round(deps: Deps, told: dict[str, PartnerScored]) -> int:
    """One round: the window's scorecards, those that moved sent through the outbox. Returns how many."""
    window_s = int(deps.settings.score_window_s)
    async with deps.pool.acquire() as conn, conn.transaction():
        found = {r["location_id"]: r for r in await conn.fetch(WINDOW, window_s)}
        unit = FulfillmentWork(deps, Postgres(conn))
        changed = []
        for location in deps.network.locations:
            row = found.get(location.id)
            card = scorecard(location.id, row["requests"] if row else 0, row["rejected"] if row else 0,
                             int(row["qc_failed"]) if row else 0, window_s)
            if moved(told.get(location.id), card):
                unit.send(topics.PARTNER_SCORES.name, location.id, card)
                changed.append(card)
        await unit.flush()
    for card in changed:
        told[card.partner_id] = card
        log.info("partner.scored", location_id=card.partner_id, failure_rate=card.failure_rate,
                 requests=card.requests)
    return len(changed)


async def scorecards(deps: Deps) -> None:
    """Every `OMS_SCORE_INTERVAL_S`: a round (a database outage skips one)."""
    told: dict[str, PartnerScored] = {}
    while True:
        try:
            await score_round(deps, told)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("partner.scores_skipped", error=repr(exc))
        await asyncio.sleep(deps.settings.score_interval_s)
