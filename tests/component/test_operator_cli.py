"""What an operator's replay may do: only a dead-letter topic, back to its own source topic, and all of it only when
asked to."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.settings import REPO_ROOT

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
