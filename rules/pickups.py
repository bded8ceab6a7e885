"""Carrier pickups: when a carrier next collects at a location, from the location's pickup schedule (its own time
zone and working days). Pure; the shipping service asks for each pickup with its manifest ahead of it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.network import Location, PickupSchedule
from rules.promise import WEEKDAYS


def times_on(schedule: PickupSchedule, day_start: datetime) -> list[datetime]:
    """The schedule's pickups on the local day starting at `day_start`, in order."""
    if schedule.every_minutes:
        first = datetime.combine(day_start.date(), time.fromisoformat(schedule.start), day_start.tzinfo)
        last = datetime.combine(day_start.date(), time.fromisoformat(schedule.end), day_start.tzinfo)
        found, at = [], first
        while at <= last:
            found.append(at)
            at += timedelta(minutes=schedule.every_minutes)
        return found
    return sorted(datetime.combine(day_start.date(), time.fromisoformat(t), day_start.tzinfo) for t in schedule.times)


def next_pickup(location: Location, schedule: PickupSchedule, after: datetime) -> datetime | None:
    """The first pickup strictly after `after` on one of the location's working days within a week (UTC), if any."""
    zone = ZoneInfo(location.timezone)
    local = after.astimezone(zone)
    for days in range(8):
        day = (local + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        if WEEKDAYS[day.weekday()] not in location.working_days:
            continue
        for at in times_on(schedule, day):
            if at > after:
                return at.astimezone(UTC)
    return None


def pickup_id(location_id: str, carrier_id: str, at: datetime) -> str:
    """One id per location, carrier and pickup time: asked for once, however often the poller looks."""
    return f"{location_id}.{carrier_id}.{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"
