"""`docker-compose.yml` runs the stack secured as the native one does (no Docker engine runs here, so this checks
what the compose path is given: the same listeners, principals and passwords, nothing published beyond loopback)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from devstack import access
from devstack.stack import compose_environment
from rules.network import load_network
from runtime import security
from runtime.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def made(tmp_path: Path) -> tuple[Settings, dict[str, str], Path]:
    settings = Settings(home=tmp_path / ".oms")
    return settings, compose_environment(settings), settings.home / "compose" / "kafka"


def test_every_port_is_published_on_loopback_only_and_nothing_trusts_without_a_password() -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published and all(port.startswith("127.0.0.1:") for port in published)
    assert "trust" not in text.replace("trusts", "")
    assert services["postgres"]["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"


def test_the_broker_listens_only_with_sasl_on_the_ports_compose_publishes(made) -> None:
    settings, _, folder = made
    props = dict(line.split("=", 1) for line in (folder / "server.properties").read_text().splitlines()
                 if line and not line.startswith("#"))
    listeners = {name: int(url.rsplit(":", 1)[1]) for name, url in
                 (item.split("://") for item in props["listeners"].split(","))}
    kafka = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["kafka"]
    published = {int(port.rsplit(":", 1)[1]) for port in kafka["ports"]}
    assert published == {listeners["SASL_PLAINTEXT"], listeners["SASL_SSL"]}
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false" and props["super.users"] == "User:admin"
    assert props["log.dirs"].startswith("/stack/") and props["ssl.keystore.location"] == "/tls/broker.pem"
    assert "./.oms/tls:/tls:ro" in kafka["volumes"] and (settings.home / "tls" / "broker.pem").exists()
    assert f"{folder.relative_to(settings.home.parent)}:/stack" in kafka["volumes"][0].removeprefix("./")


def test_every_principal_is_created_with_the_storage_and_only_the_owner_reads_the_secrets(made) -> None:
    settings, env, folder = made
    script, arguments = (folder / "start.sh").read_text(), (folder / "format.args").read_text().splitlines()
    passwords = access.create_credentials(settings, load_network(settings.network_file))
    for name in access.everyone(load_network(settings.network_file)):
        assert f"SCRAM-SHA-512=[name={name},password={passwords[name]}]" in arguments
        assert passwords[name] not in script, "no password on a command line"
    assert "@/stack/format.args" in script
    for secret in ("start.sh", "server.properties", "admin.properties", "format.args"):
        assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600
    assert env["OMS_POSTGRES_PASSWORD"] == passwords[f"postgres.{security.DATABASE_SUPERUSER}"]
    assert env["OMS_UID"].isdigit()


def test_prometheus_scrapes_every_services_metrics_port_and_grafana_is_provisioned_with_the_dashboard() -> None:
    from runtime.metrics import BASE_PORT
    from runtime.settings import SERVICES
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["metrics"]
    assert "--web.listen-address=127.0.0.1:9090" in services["prometheus"]["command"]
    scrape = yaml.safe_load((REPO_ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"127.0.0.1:{BASE_PORT + 1 + n}" for n in range(len(SERVICES))}


def test_the_dashboards_panels_ask_for_metrics_the_services_export() -> None:
    import json
    import re

    from runtime import metrics
    dashboard = json.loads((REPO_ROOT / "infra" / "grafana" / "dashboards" / "oms.json").read_text())
    exported = metrics.exported()
    asked = {name for panel in dashboard["panels"] for target in panel["targets"]
             for name in re.findall(r"\boms_[a-z_]+", target["expr"])}
    unknown = {name for name in asked if re.sub(r"_(bucket|sum|count|total)$", "", name) not in exported}
    assert not unknown, f"the dashboard asks for metrics nobody exports: {unknown}"
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert any("per status per minute" in t for t in titles) and any("released" in t for t in titles)
    assert any("lag" in t.lower() for t in titles) and any("Dead letters" in t for t in titles)


def test_where_docker_runs_the_tests_get_the_compose_stack_through_testcontainers(monkeypatch, tmp_path) -> None:
    import testcontainers.compose

    from tests import conftest
    calls: list[object] = []

    class Compose:  # stands in for the engine this machine does not have: what testcontainers is asked to do
        def __init__(self, context: Path, services: list[str], wait: bool) -> None:
            calls.append(("made", context, tuple(services), wait))

        def start(self) -> None:
            calls.append("start")

        def stop(self) -> None:
            calls.append("stop")

    monkeypatch.setattr(testcontainers.compose, "DockerCompose", Compose)
    monkeypatch.setattr(conftest, "wait_until", lambda *a, **k: calls.append("waited"))
    monkeypatch.delenv("OMS_KEEP_STACK", raising=False)
    settings = Settings(home=tmp_path / ".oms")
    with monkeypatch.context() as env:
        env.setattr("os.environ", dict(os.environ))
        with conftest.containers(settings):
            assert os.environ["OMS_POSTGRES_PASSWORD"], "compose is given the stack's database password"
    assert calls == [("made", REPO_ROOT, ("kafka", "postgres"), True), "start", "waited", "stop"]
    assert (settings.home / "compose" / "kafka" / "server.properties").exists(), "the broker's files made first"
