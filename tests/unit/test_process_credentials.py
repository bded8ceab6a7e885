"""Each process is given only its own logins and secrets: never the admin's, the database superuser's or a
migration role's password, and the file is its owner's alone from the moment it exists."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from devstack import access
from rules.network import load_network
from runtime import security
from runtime.settings import database_passwords, get_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def stack_home(tmp_path: Path):
    settings = get_settings().model_copy(update={"home": tmp_path, "credentials_file": None})
    network = load_network(settings.network_file)
    return settings, network, access.create_credentials(settings, network)


def given(settings, network, process: str) -> tuple[dict, Path]:
    path = security.process_credentials(settings, network, process, ["crm"])
    return json.loads(path.read_text()), path


@pytest.mark.parametrize("process", ["order_service", "inventory_service", "gateway_service", "notification_service",
                                     "simulators"])
def test_no_process_is_given_the_admins_the_superusers_or_a_migrators_password(stack_home, process):
    settings, network, every = stack_home
    own, path = given(settings, network, process)
    kept_back = {every[name] for name in every if name in ("admin", "postgres.oms") or name.endswith("_migrator")}
    assert kept_back.isdisjoint(own["credentials"].values()) and kept_back.isdisjoint(own["secrets"].values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_service_logs_in_as_itself_and_the_gateway_also_holds_the_channels_secrets(stack_home):
    settings, network, every = stack_home
    order, _ = given(settings, network, "order_service")
    assert set(order["credentials"]) == {"service.order", "postgres.oms_order"} and order["secrets"] == {}
    gateway, path = given(settings, network, "gateway_service")
    assert {"service.gateway", "postgres.oms_gateway", "channel.web"} <= set(gateway["credentials"])
    assert security.channel_secrets(settings, "web")[0] in gateway["secrets"].values()
    own = settings.model_copy(update={"credentials_file": path})  # the gateway as it runs
    assert security.channel_secrets(own, "web") == security.channel_secrets(settings, "web")
    assert security.subscriber_secret(own, "crm") == security.subscriber_secret(settings, "crm")
    assert database_passwords(own) == {"oms_gateway": every["postgres.oms_gateway"]}
    with pytest.raises(RuntimeError, match="not among this process's"):
        security.password_of(own, security.ADMIN)


def test_the_simulators_log_in_as_each_partner_they_play(stack_home):
    settings, network, _ = stack_home
    played = settings.model_copy(update={"simulate_partners": "dc-rotterdam,dhl"})
    own, _ = given(played, network, "simulators")
    assert set(own["credentials"]) == {"warehouse.dc-rotterdam", "carrier.dhl"}


def test_a_drop_ship_supplier_is_played_as_itself_and_given_its_own_topics(stack_home):
    settings, network, _ = stack_home
    played = settings.model_copy(update={"simulate_partners": "supplier-hamburg"})
    own, _ = given(played, network, "simulators")
    assert set(own["credentials"]) == {"supplier.supplier-hamburg"}
    described = security.described(settings, network, "supplier", "supplier-hamburg")
    assert (described["principal"], described["requests_topic"], described["updates_topic"]) == (
        "supplier.supplier-hamburg", "partners.supplier.supplier-hamburg.requests.v1",
        "partners.supplier.supplier-hamburg.updates.v1")
    assert "warehouse.supplier-hamburg" not in access.everyone(network), "no warehouse principal for a supplier"
