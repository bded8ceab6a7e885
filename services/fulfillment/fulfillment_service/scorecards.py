"""Partner scorecards: every location's recent requests (the last `OMS_SCORE_WINDOW_S`), how many it rejected,
let time out or failed in quality control and how many are still open (its load), published on
`oms.partners.scores.v1` when they move, so allocation gives a failing partner less work within seconds, and gives
it back once its failures age out."""

from __future__ import annotations

from contracts.fulfillment import PartnerScored
from fulfillment_service.store import FulfillmentWork
from rules.scorecards import every_interval, score_window
from runtime.deps import Deps

WINDOW = """SELECT location_id AS partner_id, count(*) AS requests,
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
    _, sent = await score_window(deps, told, WINDOW, "location", [loc.id for loc in deps.network.locations],
                                 FulfillmentWork)
    return sent


scorecards = every_interval(score_round)
