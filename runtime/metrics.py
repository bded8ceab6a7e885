"""Prometheus metrics of every service (`prometheus-client`): what its consumers handled and failed, batch sizes
and times, its outbox and relay, parked records, its consumer groups' lag, and what a service adds (saga states).

Counters and histograms are updated where the work happens; gauges that need a query are sampled by `sampler`, a
background job, so a scrape never waits for the database. Each process serves them on its own port
(`OMS_METRICS_PORT` + the service's number: 9301 order ... 9306 gateway; the next free one if that is taken),
and writes where it listens under `.oms/run/metrics/` for `oms metrics`."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from runtime.logging import log
from runtime.settings import SERVICES, Settings

if TYPE_CHECKING:
    from runtime.kafka_tools import LagReader

HANDLED = Counter("oms_messages_handled_total", "Messages handled (committed in a unit of work)",
                  ["service", "topic", "type"])
FAILED = Counter("oms_messages_failed_total", "Messages that could not be handled: dead-lettered, parked, or skipped "
                 "(invalid, dead-lettered by the topic's owner)",
                 ["service", "topic", "outcome"])
IGNORED = Counter("oms_messages_ignored_total", "Messages a consumer reads and, by design, does nothing with",
                  ["service", "group"])
STUCK = Counter("oms_messages_stuck_total", "Reports of a message retried for longer than 30 s (an incident that "
                "does not pass on its own), by the fault", ["service", "topic", "fault"])
BATCH_SIZE = Histogram("oms_batch_size", "Messages per unit of work", ["service", "group"],
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
BATCH_SECONDS = Histogram("oms_batch_seconds", "Time of one unit of work (read, handle, write, commit)",
                          ["service", "group"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
RELAYED = Counter("oms_outbox_relayed_total", "Outbox rows published to the broker", ["service"])
RELAY_LAG = Histogram("oms_relay_lag_seconds", "From the commit of a relay round's oldest row to the broker's ack",
                      ["service"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
OUTBOX_DEPTH = Gauge("oms_outbox_depth", "Outbox rows not yet relayed", ["service"])
OUTBOX_AGE = Gauge("oms_outbox_oldest_seconds", "Age of the oldest outbox row not yet relayed", ["service"])
PARKED = Gauge("oms_parked_records", "Records set aside for an operator (oms parked)", ["service"])
LAG = Gauge("oms_consumer_lag", "Records written to a partition that a consumer group has not committed",
            ["group", "topic", "partition"])
# counted when the order service makes the change (a unit of work that is rolled back and run again counts twice)
STATUS_CHANGES = Counter("oms_order_status_changes_total", "Status changes of orders, by the status reached",
                         ["status"])
TO_RELEASED = Histogram("oms_order_released_seconds", "From an order's arrival to its release to a location",
                        buckets=(.1, .25, .5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300))
ORDERS = Gauge("oms_orders", "Orders per status", ["status"])
OVERDUE = Gauge("oms_overdue_deadlines", "Orders whose saga step is past its deadline and not yet acted on")
HTTP = Counter("oms_http_requests_total", "Gateway requests", ["route", "status"])
HTTP_SECONDS = Histogram("oms_http_request_seconds", "Gateway request time", ["route"],
                         buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
BASE_PORT = 9300


def serve(settings: Settings, service: str) -> int | None:
    """Starts the metrics endpoint (a thread of its own); returns its port, None when metrics are off."""
    if settings.metrics_port == 0:
        return None
    wanted = settings.metrics_port or BASE_PORT + 1 + (SERVICES.index(service) if service in SERVICES else 9)
    for port in (wanted, 0):
        try:
            server, _ = start_http_server(port, addr=settings.metrics_host)
            port = server.server_port
            break
        except OSError:
            continue
    else:
        return None
    folder = settings.home / "run" / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{service}-{os.getpid()}.url").write_text(f"http://{settings.metrics_host}:{port}/metrics")
    return port


def endpoints(settings: Settings) -> list[tuple[str, str]]:
    """(process, URL) of every metrics endpoint of a process still running here."""
    import psutil
    folder = settings.home / "run" / "metrics"
    found = []
    for path in sorted(folder.glob("*.url")) if folder.exists() else []:
        pid = int(path.stem.rsplit("-", 1)[1])
        if psutil.pid_exists(pid):
            found.append((path.stem, path.read_text().strip()))
        else:
            path.unlink(missing_ok=True)
    return found


Probe = Callable[[asyncpg.Connection], Awaitable[None]]


async def sample_outbox(service: str, conn: asyncpg.Connection) -> None:
    row = await conn.fetchrow("SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(created_at)) AS age "
                              "FROM outbox")
    OUTBOX_DEPTH.labels(service).set(row["n"] if row else 0)
    OUTBOX_AGE.labels(service).set(float(row["age"] or 0) if row else 0)
    PARKED.labels(service).set(await conn.fetchval("SELECT count(*) FROM parked_messages"))


async def sampler(service: str, pool: asyncpg.Pool, extra: list[Probe], lag: Callable[[], Awaitable[None]],
                  interval_s: float = 10.0) -> None:
    """Every `interval_s`: the gauges from the database (outbox, parked, and the service's own `extra`), and the
    consumer groups' lag from the broker. A failed sample is skipped: metrics never stop the service."""
    while True:
        try:
            async with pool.acquire() as conn:
                await sample_outbox(service, conn)
                for probe in extra:
                    await probe(conn)
            await lag()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.info("metrics.sample_skipped", error=repr(exc))
        except Exception as exc:  # the broker's admin answers: a sample is not worth a restart
            log.info("metrics.sample_skipped", error=repr(exc))
        await asyncio.sleep(interval_s)


def batch_handled(service: str, group: str, messages: list[tuple[str, str]], seconds: float) -> None:
    """A committed unit of work: its messages by topic and type, its size and time."""
    counts: dict[tuple[str, str], int] = {}
    for topic_type in messages:
        counts[topic_type] = counts.get(topic_type, 0) + 1
    for (topic, kind), n in counts.items():
        HANDLED.labels(service, topic, kind).inc(n)
    BATCH_SIZE.labels(service, group).observe(len(messages))
    BATCH_SECONDS.labels(service, group).observe(seconds)


async def sample_lag(reader: LagReader, groups: list[str]) -> None:
    """The lag of these consumer groups, per partition, from the broker's committed offsets."""
    for lag in await asyncio.wait_for(reader.lags(groups), 10):
        LAG.labels(lag.group, lag.topic, str(lag.partition)).set(lag.behind)


def relay_published(service: str, rows: int, oldest_s: float) -> None:
    RELAYED.labels(service).inc(rows)
    RELAY_LAG.labels(service).observe(max(oldest_s, 0.0))


def remove_endpoint(settings: Settings, service: str) -> None:
    with contextlib.suppress(OSError):
        Path(settings.home / "run" / "metrics" / f"{service}-{os.getpid()}.url").unlink()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (name, sorted labels): value


def scrape(urls: list[tuple[str, str]], timeout_s: float = 5.0) -> dict[str, Samples]:
    """Every sample of every endpoint: {process: {(name, labels): value}}; an endpoint that does not answer is
    left out."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families
    found: dict[str, Samples] = {}
    for process, url in urls:
        try:
            text = httpx.get(url, timeout=timeout_s).text
        except httpx.HTTPError:
            continue
        found[process] = {(s.name, tuple(sorted(s.labels.items()))): s.value
                          for family in text_string_to_metric_families(text) for s in family.samples}
    return found


def summary(scraped: dict[str, Samples]) -> list[tuple[str, ...]]:
    """One row per process: messages handled and failed, mean batch size and time, outbox depth and oldest row,
    relay lag (mean of rounds), consumer lag, parked records."""
    rows: list[tuple[str, ...]] = []
    for process, samples in sorted(scraped.items()):
        def total(name: str, samples: Samples = samples) -> float:
            return sum(v for (n, _), v in samples.items() if n == name)
        batches = total("oms_batch_size_count")
        rounds = total("oms_relay_lag_seconds_count")
        rows.append((process, f"{total('oms_messages_handled_total'):.0f}", f"{total('oms_messages_failed_total'):.0f}",
                     f"{total('oms_batch_size_sum') / batches:.1f}" if batches else "-",
                     f"{total('oms_batch_seconds_sum') / batches * 1000:.1f}" if batches else "-",
                     f"{total('oms_outbox_depth'):.0f}", f"{total('oms_outbox_oldest_seconds'):.1f}",
                     f"{total('oms_relay_lag_seconds_sum') / rounds * 1000:.0f}" if rounds else "-",
                     f"{total('oms_consumer_lag'):.0f}", f"{total('oms_parked_records'):.0f}"))
    return rows


def exported() -> set[str]:
    """The name of every metric family this process exports (what a dashboard may ask for)."""
    from prometheus_client import REGISTRY
    return {family.name for family in REGISTRY.collect()}
