"""Connection and runtime settings, read from OMS_* environment variables."""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
TLS_PORT_OFFSET = 10  # a native broker's SASL_SSL listener: its SASL_PLAINTEXT port + 10 (19102 on one broker)
SERVICES = ("order", "inventory", "fulfillment", "shipping", "notification", "gateway")


class Settings(BaseSettings):
    """Everything a service or a tool needs to find the broker, the database and the network."""

    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    # how clients authenticate (see runtime/security.py): by default SASL_PLAINTEXT with the local stack's
    # credentials where it made them, PLAINTEXT where it made none (the docker compose broker)
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None  # a managed cluster's credentials; the local stack's are under `home`
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_principal: str | None = None  # whom this process connects as on the local stack
    # a process's own credentials, written by whoever launched it (`runtime.security.process_credentials`): its logins
    # and secrets only; without one, the stack's file of every principal (the stack's setup and the operators' tools)
    credentials_file: Path | None = None
    # partitions of each topic the stack creates, at most (the contract's are 12 for order-keyed topics, 3 for a
    # partner's): each is a part of every fetch and of the broker's work, while more consumers than partitions idle
    topic_partitions: int = 3
    kafka_brokers: int = 1  # the native stack's brokers: 3 is the cluster profile (replicated, min.insync.replicas 2)
    # `{role}`: each service logs in as its own role, which owns its database and nothing else (see database_for)
    database_url: str = "postgresql://{role}@127.0.0.1:15432/{database}"
    home: Path = REPO_ROOT / ".oms"
    kafka_version: str = "4.1.1"
    jar_cache: Path = Path.home() / ".cache" / "oms"
    network_file: Path = REPO_ROOT / "config" / "network.toml"
    simulate_partners: str = "all"
    log_level: str = "INFO"
    consume_batch_size: int = 200
    # appended to every consumer group's name: a run of the OMS with groups of its own (the tests give each run one,
    # started at the topics' ends, so it does not inherit what an earlier run left unread)
    consumer_group_suffix: str = ""
    consume_linger_ms: int = 10  # how long a small batch waits to grow on an order's way to `released`, under load
    consume_patient_linger_ms: int = 50  # and everywhere else (a subscription not marked `urgent`)
    # handled offsets are committed at most this often per consumer (0: after each batch); a crash re-reads at most
    # this much, which the inboxes absorb
    consume_commit_interval_ms: int = 1000
    # a consumer silent this long has left its group and its partitions go to the others (a crashed process's too:
    # they wait this long); it heartbeats five times as often. The bounds are the broker's own defaults
    consume_session_timeout_ms: int = Field(default=10_000, ge=6_000, le=300_000)
    db_pool_size: int = 12
    pickup_lead_s: int = 900  # how long before a carrier's pickup it is asked for, with its manifest
    pickup_poll_s: float = 10  # how often the shipping service looks for pickups to ask for
    quote_ttl_s: int = 900  # how long a promise.quoted option holds: an order naming it later is planned anew
    consume_max_attempts: int = 3
    consume_backoff_ms: int = 200
    relay_batch_size: int = 500
    # how long an inbox remembers a handled message: longer than the broker keeps a topic (7 days), so even a
    # consumer group reset to the start of a topic finds every message it re-reads already handled
    inbox_retention_hours: float = 192
    inbox_prune_interval_s: float = 300
    relay_poll_interval_ms: int = 1000
    # a state message (a stock level, a channel's availability) is sent as the latest of its SKU and location or channel
    # at most this often: many changes in between are one message (0: each at once)
    hold_state_ms: int = 1000
    notify_max_attempts: int = 8  # failed sends of one notification before it is dead
    notify_backoff_s: float = 5.0  # the first wait before a failed notification is sent again (doubling)
    # personal data of an order that is over (delivered, cancelled, rejected) is masked after this many days
    personal_data_retention_days: float = 90
    personal_data_check_interval_s: float = 3600
    return_expiry_days: float = 30  # a return that has not arrived by then is closed as expired
    gateway_url: str = "http://127.0.0.1:8080"  # where channels post and customers' tracking links point
    gateway_port: int | None = None  # where the gateway listens (default: the port of `gateway_url`)
    gateway_host: str = "127.0.0.1"  # the address it listens on: 0.0.0.0 behind a proxy or in a container
    gateway_rate_per_s: float = 200  # signed requests a channel may post a second on average (0: no limit), then 429
    gateway_burst: float = 400  # and at once
    # processes of their own serving the gateway's HTTP (0: in the gateway service's process, beside its consumers)
    gateway_http_workers: int = 1
    gateway_tracking_pool: int = 2  # database connections of the tracking page's own (no channel's flood takes them)
    tracking_secret: str | None = None  # makes the tracking links' tokens (default: one the stack made)
    desk_session_s: float = 8 * 3600  # an agent's login at the desk lasts this long, then they sign in again
    desk_link_s: float = 24 * 3600  # a one-time login link of `oms agent add` is good this long
    desk_refund_limit: float = 50  # the goodwill an agent may refund at once (a supervisor: more), in the order's currency
    webhooks_file: Path = REPO_ROOT / "config" / "webhooks.toml"  # who gets signed webhooks of order events
    webhook_max_attempts: int = 8  # failed posts of one delivery before it is dead
    webhook_backoff_s: float = 2.0  # the first wait before a failed delivery is posted again (doubling)
    score_window_s: float = 600  # a partner's scorecard counts its requests of the last ten minutes
    score_interval_s: float = 10  # how often the scorecards are worked out (and sent, when they moved)
    metrics_port: int | None = None  # each service's metrics on this port (default 9301... by service; 0: off)
    metrics_host: str = "127.0.0.1"
    otlp_endpoint: str | None = None  # an OpenTelemetry collector (OTLP/HTTP): spans are exported there; none: no spans
    database_socket: bool = True  # reach a PostgreSQL on this machine through its Unix socket when it has one

    def database_for(self, service: str, role: str | None = None) -> str:
        """The DSN of one service's database as its own role `oms_<service>` (or as `role`, e.g. `oms_operator`,
        which may only read): OMS_<SERVICE>_DATABASE_URL wins over the shared pattern."""
        dsn = os.environ.get(f"OMS_{service.upper()}_DATABASE_URL") if role is None else None
        return dsn or self.dsn(f"oms_{service}", role or f"oms_{service}")

    def migrations_dsn(self, service: str) -> str:
        """The DSN a service migrates its database with: its migration role, which owns the schema (the role it runs
        as may only read and write rows)."""
        if service not in SERVICES:
            return self.database_for(service)
        return os.environ.get(f"OMS_{service.upper()}_MIGRATIONS_DATABASE_URL") or \
            self.dsn(f"oms_{service}", f"oms_{service}_migrator")

    def dsn(self, database: str, role: str) -> str:
        """`database_url` for this database and role, with the role's password where the local stack made one."""
        url = self.database_url.replace("{database}", database).replace("{role}", role)
        password = database_passwords(self).get(role)
        if password and f"{role}@" in url:
            url = url.replace(f"{role}@", f"{role}:{password}@", 1)
        return local_socket(url) if self.database_socket else url

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    @property
    def kafka_tls_bootstrap(self) -> str:
        """The native stack's brokers on their SASL_SSL listeners (each its SASL_PLAINTEXT port + 10)."""
        return ",".join(f"{hostport.rsplit(':', 1)[0]}:{int(hostport.rsplit(':', 1)[1]) + TLS_PORT_OFFSET}"
                        for hostport in self.kafka_bootstrap.split(","))

    @property
    def replication(self) -> int:
        """Copies of every topic: each broker of the cluster profile holds one (at most three)."""
        return min(self.kafka_brokers, 3)

    @model_validator(mode="after")
    def _every_broker_bootstraps(self) -> Settings:
        """In the cluster profile the bootstrap names each native broker (ports two apart), unless it was given."""
        if self.kafka_brokers > 1 and "," not in self.kafka_bootstrap:
            self.kafka_bootstrap = ",".join(f"127.0.0.1:{self.kafka_port + 2 * n}" for n in range(self.kafka_brokers))
        return self

    @property
    def postgres_port(self) -> int:
        return int(self.database_url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


SOCKET_DIR = Path(tempfile.gettempdir())  # where the native stack's PostgreSQL also listens


def local_socket(dsn: str) -> str:
    """The same database through the Unix socket when the DSN names this machine and the socket is there: a round
    trip costs the client about half the CPU of one over loopback TCP (docs/performance.md)."""
    parts = urlsplit(dsn)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.query:
        return dsn
    port = parts.port or 5432
    if not (SOCKET_DIR / f".s.PGSQL.{port}").exists():
        return dsn
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, user, parts.path, f"host={SOCKET_DIR}&port={port}", ""))


def stack_credentials(settings: Settings) -> dict[str, str]:
    """The passwords this process may know: its own file's when it was given one, else the stack's every one."""
    own = settings.credentials_file
    path = own or settings.home / "credentials.json"
    if not path.exists():
        return {}
    found = json.loads(path.read_text())
    return dict(found["credentials"]) if own else dict(found)


def database_passwords(settings: Settings) -> dict[str, str]:
    """The local stack's database roles and their passwords (`runtime.access.create_credentials` makes them)."""
    return {name.removeprefix("postgres."): password for name, password in stack_credentials(settings).items()
            if name.startswith("postgres.")}


@lru_cache
def get_settings() -> Settings:
    return Settings()
