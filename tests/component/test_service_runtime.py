"""A started service has moved what starting made out of the cyclic collector's sight (short full collections)."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import service_process

pytestmark = pytest.mark.component


def test_a_started_service_freezes_its_startup_objects(request, processes, stack) -> None:
    service = service_process(processes, request, "inventory", "inventory_service")
    service.wait_for_log("service.started")
    started = next(orjson.loads(line) for line in service.log_text().splitlines() if '"service.started"' in line)
    # imports, message schemas and clients: far more than a handful; a full collection no longer walks them
    assert started["frozen_objects"] > 50_000, started
