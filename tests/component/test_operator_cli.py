"""What an operator's replay may do: only a dead-letter topic, back to its own source topic, and all of it only when
asked to."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from runtime.settings import REPO_ROOT

pytestmark = pytest.mark.component


def oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oms_cli.main", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, input="", env={**os.environ, "COLUMNS": "200"})


def test_a_replay_names_a_dead_letter_topic_and_replays_all_of_it_only_when_asked(stack):
    refused = oms("dlq", "replay", "oms.orders.inbound.v1")
    assert refused.returncode != 0 and "not a dead-letter topic" in refused.stdout + refused.stderr

    unasked = oms("dlq", "replay", "oms.inventory.adjustments.v1.dlq")  # no --offset, no --all, nobody to say yes
    assert unasked.returncode != 0 and "replay all" in unasked.stdout
    assert "replayed" not in unasked.stdout


async def test_an_order_whose_ids_hold_markup_or_colons_is_listed_and_found(stack):
    """`oms orders` and `oms order` show an external id such as `[/x]` as it is, and find `store:...:A:1`."""
    import asyncpg

    from runtime.settings import get_settings

    run = uuid.uuid4().hex[:6]
    orders = [(f"cli-{run}-1", "web", f"[/x]{run}"), (f"cli-{run}-2", "store:store-munich", f"A:{run}")]
    conn = await asyncpg.connect(get_settings().database_for("order"))
    try:
        for order_id, channel, external_id in orders:
            await conn.execute("INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga) "
                               "VALUES ($1, $2, $3, 'cancelled', 'cancelled', '{}')", order_id, channel, external_id)
    finally:
        await conn.close()
    listed = oms("orders", "--status", "cancelled", "--limit", "20")  # newest first: these two among them
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert f"[/x]{run}" in listed.stdout
    found = oms("order", f"store:store-munich:A:{run}")
    assert found.returncode == 0 and f"cli-{run}-2" in found.stdout, found.stdout + found.stderr[-2000:]
