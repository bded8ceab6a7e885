"""A partner's scorecard (a location's or a carrier's), pure: failures per request and the times it took, and
whether a new one is worth telling (`oms.partners.scores.v1`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from contracts.fulfillment import PartnerScored
from shared.logging import log

if TYPE_CHECKING:
    from shared.service import Deps

Round = Callable[["Deps", dict[str, PartnerScored]], Awaitable[int]]

MIN_REQUESTS = 5  # fewer requests in the window say too little: their failure rate weighs nothing


def weighed(failure_rate: float, requests: int) -> float:
    """The failure rate routing weighs: the scorecard's, once it rests on enough requests."""
    return failure_rate if requests >= MIN_REQUESTS else 0.0


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
                         delivered_on_time_rate=rounded("delivered_on_time"),
                         scored_at=datetime.now(UTC))


def moved(before: PartnerScored | None, now: PartnerScored) -> bool:
    """Worth telling: the first scorecard, a failure rate or on-time share that moved by a point or more, or an
    accept latency that moved by a tenth."""
    if before is None:
        return True
    if abs(before.failure_rate - now.failure_rate) >= 0.01:
        return True
    for was_share, share in ((before.packed_on_time_rate, now.packed_on_time_rate),
                             (before.delivered_on_time_rate, now.delivered_on_time_rate)):
        if (was_share is None) != (share is None) or (
                was_share is not None and share is not None and abs(was_share - share) >= 0.01):
            return True
    was, latency = before.accept_latency_s, now.accept_latency_s
    return (was is None) != (latency is None) or (
        was is not None and latency is not None and abs(latency - was) > 0.1 * max(was, 1.0))


def every_interval(score_round: Round) -> Callable[[Deps], Coroutine[Any, Any, None]]:
    """A service's background job: `score_round` every `OMS_SCORE_INTERVAL_S`, with the scorecards told so far (a
    database outage skips a round)."""
    async def scorecards(deps: Deps) -> None:
        told: dict[str, PartnerScored] = {}
        while True:
            try:
                await score_round(deps, told)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("partner.scores_skipped", error=repr(exc))
            await asyncio.sleep(deps.settings.score_interval_s)
    scorecards.__name__ = "partner.scorecards"
    return scorecards
