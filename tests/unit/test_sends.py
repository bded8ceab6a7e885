"""What a service sends after the commit, over the in-memory database: claimed for a lease, marked sent or failed
(due again after a wait that doubles, dead when refused for good or out of attempts), never claimed twice at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.retries import LEASE, Sends, due, sendable
from runtime.tables import Table
from tests.support.memory_database import MemoryDatabase

pytestmark = pytest.mark.unit

ITEMS = sendable(Table("items", ("item_id",), {"item_id": "text", "to": "text"}), ("to",))


def stored(db: MemoryDatabase, *ids: str, to: str = "a") -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    for i in ids:
        db.table("items")[(i,)] = {"item_id": i, "to": to, "attempts": 0, "next_attempt_at": past,
                                   "last_error": None, "sent_at": None, "dead_at": None}


async def round_of(db: MemoryDatabase, limit: int = 10, where: object = None) -> list[str]:
    sends = Sends(db, ITEMS)
    rows = await sends.claim(datetime.now(UTC), limit, where)  # type: ignore[arg-type]
    await db.write(sends.changes(), [])
    return [row["item_id"] for row in rows]


async def test_a_claimed_item_is_not_claimed_again_until_its_lease_ends():
    db = MemoryDatabase()
    stored(db, "i1", "i2", "i3")
    assert await round_of(db, limit=2) == ["i1", "i2"]
    assert await round_of(db) == ["i3"], "the first two are someone's for a while"
    assert await round_of(db) == []
    leased = db.table("items")[("i1",)]["next_attempt_at"]
    assert leased > datetime.now(UTC) + LEASE - timedelta(seconds=5)


async def test_sent_failed_and_dead_are_marked_as_the_retry_rules_say():
    db = MemoryDatabase()
    stored(db, "ok", "later", "never")
    now = datetime.now(UTC)
    sends = Sends(db, ITEMS, count_success=True)
    await sends.load_keys(["ok", "later", "never"])
    sends.sent("ok", now)
    again = sends.failed("later", now, "HTTP 503", permanent=False, max_attempts=3, backoff_s=2)
    gone = sends.failed("never", now, "HTTP 410", permanent=True, max_attempts=3, backoff_s=2)
    await db.write(sends.changes(), [])
    rows = db.table("items")
    assert (rows[("ok",)]["sent_at"], rows[("ok",)]["attempts"]) == (now, 1)
    assert (again["attempts"], again["dead_at"], again["next_attempt_at"]) == (1, None, now + timedelta(seconds=2))
    assert (gone["dead_at"], gone["last_error"]) == (now, "HTTP 410")
    assert await round_of(db) == [], "none is due: sent, waiting, dead"


async def test_the_last_attempt_makes_an_item_dead_and_a_filter_claims_only_its_own():
    db = MemoryDatabase()
    stored(db, "x", to="a")
    stored(db, "y", to="b")
    assert await round_of(db, where=due("to = $1", lambda row: row["to"] == "b", ("b",))) == ["y"]
    sends = Sends(db, ITEMS)
    await sends.load_keys(["x"])
    sends.rows[("x",)]["attempts"] = 2
    assert sends.failed("x", datetime.now(UTC), "timeout", permanent=False, max_attempts=3, backoff_s=1)["dead_at"]


def test_a_table_cannot_update_a_column_whose_type_it_does_not_know():
    with pytest.raises(ValueError, match="attempts"):
        Table("items", ("item_id",), {"item_id": "text"}, updates=("attempts",))
    assert ITEMS.columns["attempts"] == "int"


async def test_a_round_marks_what_it_claimed_without_reading_it_again():
    db = MemoryDatabase()
    stored(db, "i1", "i2")
    claimer = Sends(db, ITEMS)
    claimed = [dict(row) for row in await claimer.claim(datetime.now(UTC), 10)]
    await db.write(claimer.changes(), [])
    marker, now = Sends(db, ITEMS), datetime.now(UTC)
    marker.adopt(claimed)
    marker.sent("i1", now)
    marker.failed("i2", now, "HTTP 500", permanent=False, max_attempts=3, backoff_s=1)
    await db.write(marker.changes(), [])
    rows = db.table("items")
    assert rows[("i1",)]["sent_at"] == now and rows[("i2",)]["attempts"] == 1
    assert rows[("i2",)]["next_attempt_at"] == now + timedelta(seconds=1), "due again after its wait, not the lease"
