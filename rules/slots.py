"""Delivery slots: the windows a carrier offers in a zone, which one a destination falls in, and which windows are
free. Pure; what is claimed of each window is inventory's (it claims a slot when it reserves the order's stock, in
the same transaction, so a window is never given to more orders than its capacity)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.network import Carrier, SlotZone
from rules.promise import WEEKDAYS

Span = tuple[datetime, datetime]


def zone_for(carrier: Carrier | None, country: str, postal_code: str | None) -> SlotZone | None:
    """The carrier's slot zone the destination is in (the first that covers it), if any."""
    code = (postal_code or "").replace(" ", "").upper()
    for zone in carrier.slots if carrier else ():
        if country in zone.countries and (not zone.postal_prefixes or any(
                code.startswith(prefix.upper()) for prefix in zone.postal_prefixes)):
            return zone
    return None


def windows(zone: SlotZone, after: datetime, now: datetime) -> list[Span]:
    """The zone's windows that start at or after `after`, up to `horizon_days` from `now`, in time order."""
    local_zone = ZoneInfo(zone.timezone)
    first, last = after.astimezone(local_zone).date(), (now + timedelta(days=zone.horizon_days)).astimezone(local_zone)
    found: list[Span] = []
    day = first
    while day <= last.date():
        if WEEKDAYS[day.weekday()] in zone.days:
            found += [span for span in _day(zone, day, local_zone) if after <= span[0] and span[0] <= last]
        day += timedelta(days=1)
    return found


def _day(zone: SlotZone, day: date, local_zone: ZoneInfo) -> list[Span]:
    start = datetime.combine(day, time.fromisoformat(zone.start), local_zone)
    end = datetime.combine(day, time.fromisoformat(zone.end), local_zone)
    length = timedelta(minutes=zone.length_minutes)
    spans = []
    while start + length <= end:
        spans.append((start, start + length))
        start += length
    return spans


def offered(zone: SlotZone, span: Span) -> bool:
    """The span is one of the zone's windows (on one of its days, on its grid)."""
    start, end = span
    local = start.astimezone(ZoneInfo(zone.timezone))
    return end - start == timedelta(minutes=zone.length_minutes) and any(
        window == span for window in _day(zone, local.date(), ZoneInfo(zone.timezone))
        if WEEKDAYS[local.weekday()] in zone.days)


def free(zone: SlotZone, spans: list[Span], claimed: dict[datetime, int]) -> list[Span]:
    """The spans with room left (`claimed`: deliveries given per window start)."""
    return [span for span in spans if claimed.get(span[0], 0) < zone.capacity]
