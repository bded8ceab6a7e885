"""Partner scorecards: every location's recent requests (the last `OMS_SCORE_WINDOW_S`), how many it rejected,
let time out or failed in quality control, published on `oms.partners.scores.v1` when its failure rate moves, so
allocation gives a failing partner less work within seconds, and gives it back once its failures age out."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
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
                   coalesce(sum(qc_failures), 0) AS qc_failed,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - created_at))
                       AS accept_s,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM packed_at - accepted_at))
                       AS pack_s,
                   avg((packed_at <= ship_by)::int) FILTER (WHERE packed_at IS NOT NULL) AS packed_on_time
            FROM fulfillments WHERE created_at >= now() - make_interval(secs => $1) GROUP BY location_id"""


def scorecard(location_id: str, requests: int, rejected: int, qc_failed: int, window_s: int,
              times: Mapping[str, float | None] | None = None) -> PartnerScored:
    """A location's scorecard: failures (rejected, timed out, QC failed) per request, at most 1; with `times`, the
    median seconds to accept and from accepted to packed, and the share packed by its ship-by time."""
    rate = min((rejected + qc_failed) / requests, 1.0) if requests else 0.0
    times = times or {}

    def rounded(name: str) -> float | None:
        value = times.get(name)
        return None if value is None else round(float(value), 3)
    return PartnerScored(partner_id=location_id, window_s=window_s, requests=requests, rejected=rejected,
                         qc_failed=qc_failed, failure_rate=round(rate, 3), accept_latency_s=rounded("accept_s"),
                         accept_to_pack_s=rounded("pack_s"), packed_on_time_rate=rounded("packed_on_time"),
                         scored_at=datetime.now(UTC))


def moved(before: PartnerScored | None, now: PartnerScored) -> bool:
    """Worth telling: the first scorecard, a failure rate or on-time share that moved by a point or more, or an
    accept latency that moved by a tenth."""
    if before is None:
        return True
    if abs(before.failure_rate - now.failure_rate) >= 0.01:
        return True
    if (before.packed_on_time_rate is None) != (now.packed_on_time_rate is None) or (
            now.packed_on_time_rate is not None and before.packed_on_time_rate is not None
            and abs(before.packed_on_time_rate - now.packed_on_time_rate) >= 0.01):
        return True
    was, latency = before.accept_latency_s, now.accept_latency_s
    return (was is None) != (latency is None) or (
        was is not None and latency is not None and abs(latency - was) > 0.1 * max(was, 1.0))


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
                             int(row["qc_failed"]) if row else 0, window_s, dict(row) if row else None)
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
