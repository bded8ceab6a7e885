"""A partner's scorecard (a location's or a carrier's), pure: failures per request and the times it took, and
whether a new one is worth telling (`oms.partners.scores.v1`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import asyncpg

from contracts import topics
from contracts.fulfillment import PartnerScored
from runtime.deps import Deps
from runtime.logging import log
from runtime.postgres import Postgres
from runtime.unit import UnitOfWork

D = TypeVar("D", bound=Deps)
Round = Callable[[D, dict[str, PartnerScored]], Awaitable[int]]

MIN_REQUESTS = 5  # fewer requests in the window say too little: their failure rate weighs nothing


def weighed(failure_rate: float, requests: int) -> float:
    """The failure rate routing weighs: the scorecard's, once it rests on enough requests."""
    return failure_rate if requests >= MIN_REQUESTS else 0.0


def scorecard(location_id: str, requests: int, rejected: int, qc_failed: int, window_s: int,
              times: Mapping[str, float | None] | None = None, exceptions: int = 0) -> PartnerScored:
    """A partner's scorecard: failures (rejected, timed out, QC failed, shipments with an exception) per request, at
    most 1; with `times`, the median seconds to accept, from accepted to packed and from picked to packed, the share
    packed by its ship-by time or delivered by the promise, and the requests still open."""
    rate = min((rejected + qc_failed + exceptions) / requests, 1.0) if requests else 0.0
    times = times or {}
    still_open = times.get("open_requests")

    def rounded(name: str) -> float | None:
        value = times.get(name)
        return None if value is None else round(float(value), 3)
    return PartnerScored(partner_id=location_id, window_s=window_s, requests=requests, rejected=rejected,
                         qc_failed=qc_failed, failure_rate=round(rate, 3), accept_latency_s=rounded("accept_s"),
                         accept_to_pack_s=rounded("pack_s"), pick_to_pack_s=rounded("pick_to_pack_s"),
                         packed_on_time_rate=rounded("packed_on_time"),
                         delivered_on_time_rate=rounded("delivered_on_time"), exceptions=exceptions,
                         open_requests=None if still_open is None else int(still_open), scored_at=datetime.now(UTC))


def from_row(partner_id: str, kind: Literal["location", "carrier"], window_s: int,
             row: Mapping[str, Any] | None) -> PartnerScored:
    """The scorecard of a partner's row of a window query (None: no request in the window)."""
    if row is None:
        return scorecard(partner_id, 0, 0, 0, window_s).model_copy(update={"kind": kind})
    return scorecard(partner_id, row["requests"], row["rejected"], int(row.get("qc_failed") or 0), window_s,
                     dict(row), exceptions=int(row.get("exceptions") or 0)).model_copy(update={"kind": kind})


def moved(before: PartnerScored | None, now: PartnerScored) -> bool:
    """Worth telling: the first scorecard, a failure rate or on-time share that moved by a point or more, open
    requests that moved by two and a tenth, or an accept latency that moved by a tenth."""
    if before is None:
        return True
    if abs(before.failure_rate - now.failure_rate) >= 0.01:
        return True
    for was_share, share in ((before.packed_on_time_rate, now.packed_on_time_rate),
                             (before.delivered_on_time_rate, now.delivered_on_time_rate)):
        if (was_share is None) != (share is None) or (
                was_share is not None and share is not None and abs(was_share - share) >= 0.01):
            return True
    if before.open_requests != now.open_requests and abs((before.open_requests or 0) - (now.open_requests or 0)) >= max(
            2, 0.1 * max(before.open_requests or 0, now.open_requests or 0)):
        return True
    was, latency = before.accept_latency_s, now.accept_latency_s
    return (was is None) != (latency is None) or (
        was is not None and latency is not None and abs(latency - was) > 0.1 * max(was, 1.0))


async def score_window(deps: D, told: dict[str, PartnerScored], query: str, kind: Literal["location", "carrier"],
                       partners: list[str], work: Callable[[D, Postgres], UnitOfWork]
                       ) -> tuple[dict[str, PartnerScored], int]:
    """One round: every partner's scorecard from `query`'s rows of the window (one per `partner_id`), those that
    moved since `told` sent through the outbox of a `work` unit in one transaction. Returns every scorecard, and
    how many were sent."""
    window_s = int(deps.settings.score_window_s)
    async with deps.pool.acquire() as conn, conn.transaction():
        found = {r["partner_id"]: r for r in await conn.fetch(query, window_s)}
        unit = work(deps, Postgres(conn))
        cards = {partner: from_row(partner, kind, window_s, found.get(partner)) for partner in partners}
        changed = [card for card in cards.values() if moved(told.get(card.partner_id), card)]
        for card in changed:
            unit.send(topics.PARTNER_SCORES.name, card.partner_id, card)
        await unit.flush()
    for card in changed:
        told[card.partner_id] = card
        log.info("partner.scored", partner_id=card.partner_id, kind=kind, failure_rate=card.failure_rate,
                 requests=card.requests, open_requests=card.open_requests)
    return cards, len(changed)


def every_interval(score_round: Round[D]) -> Callable[[D], Coroutine[Any, Any, None]]:
    """A service's background job: `score_round` every `OMS_SCORE_INTERVAL_S`, with the scorecards told so far (a
    database outage skips a round)."""
    async def scorecards(deps: D) -> None:
        told: dict[str, PartnerScored] = {}
        while True:
            try:
                await score_round(deps, told)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("partner.scores_skipped", error=repr(exc))
            await asyncio.sleep(deps.settings.score_interval_s)
    scorecards.__name__ = "partner.scorecards"
    return scorecards
