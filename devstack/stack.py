"""The local stack: a real Kafka 4.x broker (KRaft) and a real PostgreSQL, started natively or by Docker.

`python -m devstack.stack up|down|status` is what `make infra-up` / `make infra-down` run; the test
fixtures call the same functions. When OMS_KAFKA_BOOTSTRAP / OMS_DATABASE_URL already answer,
nothing is started.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import PERSONAL_RETENTION_DAYS, TOPICS, personal_data
from devstack import access
from rules.network import load_network
from runtime import security
from runtime.db import migrate, service_migrations
from runtime.settings import REPO_ROOT, SERVICES, SOCKET_DIR, TLS_PORT_OFFSET, Settings, database_passwords, get_settings

INFRA = REPO_ROOT / "infra"


class MissingPrerequisite(SystemExit):
    """A tool the native stack needs is not installed: one clear line says what to install."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f}s")


def pid_alive(pid_file: Path) -> int | None:
    """The pid in the file if that process still runs (a zombie child is reaped and counts as gone)."""
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        return pid if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE else None
    except psutil.NoSuchProcess:
        return None


def docker_available() -> bool:
    if os.environ.get("OMS_STACK") == "native" or not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


def broker_properties(settings: Settings, node: int = 1, *, data_dir: Path, host: str = "127.0.0.1",
                      tls_dir: Path | None = None) -> str:
    """A KRaft node's `server.properties` from the template: listening on `host`, advertised as 127.0.0.1 (the
    compose broker binds every interface of its container and is published on the host's loopback only)."""
    s, brokers = settings, settings.kafka_brokers
    port = s.kafka_port + 2 * (node - 1)
    users = access.create_credentials(s, load_network(s.network_file))
    return (INFRA / "kafka" / "server.properties.template").read_text().format(
        host=host, advertised="127.0.0.1", port=port, tls_port=port + TLS_PORT_OFFSET,
        tls_dir=tls_dir or access.certificates(s), node_id=node,
        controller_port=s.kafka_controller_port + 2 * (node - 1),
        voters=",".join(f"{n}@127.0.0.1:{s.kafka_controller_port + 2 * (n - 1)}" for n in range(1, brokers + 1)),
        replication=s.replication, min_isr=2 if s.replication >= 3 else 1,
        auto_create="true" if brokers == 1 else "false", data_dir=data_dir, admin_password=users[security.ADMIN])


def scram_users(settings: Settings) -> list[str]:
    """`kafka-storage format` arguments that create every principal's SCRAM credentials with the storage."""
    users = access.create_credentials(settings, load_network(settings.network_file))
    return [arg for name in access.everyone(load_network(settings.network_file))
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={users[name]}]")]


@contextlib.contextmanager
def argument_file(arguments: Sequence[str]) -> Iterator[list[str]]:
    """`@<file>` for the java launcher, which reads the arguments from it: a file made readable by its owner only,
    removed afterwards (none when there are no arguments)."""
    if not arguments:
        yield []
        return
    descriptor, name = tempfile.mkstemp(prefix="oms-args-")  # made 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write("\n".join(arguments))  # unquoted: after the class name the launcher would keep the quotes
        yield [f"@{name}"]
    finally:
        os.unlink(name)


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """A file only its owner reads (it holds passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=mode)
    path.chmod(mode)
    path.write_text(text)


@dataclass
class NativeKafka:
    """One KRaft node (broker and controller in one JVM) from the jars Maven resolved, in a data folder of the
    project's own: the only one for laptops, or node 1, 2 or 3 of the cluster profile (ports two apart)."""

    settings: Settings
    node: int = 1

    @property
    def port(self) -> int:
        return self.settings.kafka_port + 2 * (self.node - 1)

    @property
    def home(self) -> Path:
        return self.settings.home / ("kafka" if self.settings.kafka_brokers == 1 else f"kafka-{self.node}")

    @property
    def libs(self) -> Path:
        return self.settings.jar_cache / f"kafka-{self.settings.kafka_version}" / "libs"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "kafka.log"

    def ensure_jars(self) -> None:
        if (self.libs / f"kafka_2.13-{self.settings.kafka_version}.jar").exists():
            return
        if not shutil.which("mvn"):
            raise MissingPrerequisite("Maven is missing: install it (apt-get install maven) to fetch the Kafka jars")
        print(f"fetching Kafka {self.settings.kafka_version} jars from Maven Central into {self.libs}")
        subprocess.run(
            ["mvn", "-q", "-B", "-f", str(INFRA / "kafka" / "pom.xml"),
             f"-Dkafka.version={self.settings.kafka_version}", "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={self.libs}"],
            check=True,
        )

    def java(self, main: str, *args: str, secret: Sequence[str] = (), **kw: object) -> subprocess.CompletedProcess[str]:
        """A Kafka tool; `secret` arguments (passwords) go in an argument file only its owner reads, never on the
        command line (which every user of the machine can see)."""
        with argument_file(secret) as extra:
            return subprocess.run(
                ["java", "-cp", f"{self.libs}/*", f"-Dlog4j2.configurationFile={INFRA / 'kafka' / 'log4j2.yaml'}",
                 main, *args, *extra], capture_output=True, text=True, check=True, **kw)  # type: ignore[call-overload]

    def configure(self, cluster_id: str | None = None) -> Path:
        """The node's properties, and its storage formatted once (with the cluster's id where it has one)."""
        self.home.mkdir(parents=True, exist_ok=True)
        formatted = (self.home / "data" / "meta.properties").exists()
        if formatted and not security.credentials_file(self.settings).exists():
            raise MissingPrerequisite(f"{self.home} was made before the broker was secured: `make clean` starts afresh")
        props = self.home / "server.properties"
        write_private(props, broker_properties(self.settings, self.node, data_dir=self.home / "data"))
        if not formatted:
            cluster_id = cluster_id or self.java("kafka.tools.StorageTool", "random-uuid").stdout.strip().splitlines()[-1]
            self.java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--ignore-formatted",
                      secret=scram_users(self.settings))
            self.users_file.write_text("\n".join(access.everyone(load_network(self.settings.network_file))))
        return props

    @property
    def users_file(self) -> Path:
        """The principals this broker's storage knows (its own: the single broker and the cluster profile each have
        theirs, so a partner added while one ran is added to the other too when it starts)."""
        return self.home / "users.txt"

    def add_missing_users(self) -> list[str]:
        """Principals new since the storage was formatted (a partner or service added since) get their SCRAM
        credentials on the running broker, so an existing stack takes them without `make clean`."""
        network = load_network(self.settings.network_file)
        wanted = access.everyone(network)
        known = set(self.users_file.read_text().split()) if self.users_file.exists() else None
        if known is not None and not set(wanted) - known:
            return []
        passwords = access.create_credentials(self.settings, network)
        config = self.home / "admin-client.properties"
        write_private(config, admin_client_properties(self.settings, f"127.0.0.1:{self.port}"))
        tool = ("kafka.admin.ConfigCommand", "--bootstrap-server", f"127.0.0.1:{self.port}", "--command-config",
                str(config), "--entity-type", "users")
        if known is None:  # made before this list was kept: ask the broker
            described = self.java(*tool, "--describe").stdout
            known = set(re.findall(r"user-principal '([^']+)'", described))
        added = [name for name in wanted if name not in known]
        for name in added:  # the launcher expands an argument file only before the main class: the whole call in it
            with argument_file([*tool, "--alter", "--entity-name", name, "--add-config",
                                f"SCRAM-SHA-512=[iterations=4096,password={passwords[name]}]"]) as call:
                subprocess.run(["java", "-cp", f"{self.libs}/*",
                                f"-Dlog4j2.configurationFile={INFRA / 'kafka' / 'log4j2.yaml'}", *call],
                               capture_output=True, text=True, check=True)
        self.users_file.write_text("\n".join(wanted))
        return added

    def start(self, cluster_id: str | None = None) -> None:
        self.launch(cluster_id)
        self.wait_ready()

    def launch(self, cluster_id: str | None = None) -> None:
        if port_open(self.port):
            return
        if not shutil.which("java"):
            raise MissingPrerequisite("Java is missing: install a JDK 17+ (apt-get install openjdk-17-jdk-headless)")
        self.ensure_jars()
        props = self.configure(cluster_id)
        heap = os.environ.get("OMS_KAFKA_HEAP", "512m")
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                ["java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-cp", f"{self.libs}/*",
                 f"-Dlog4j2.configurationFile={INFRA / 'kafka' / 'log4j2.yaml'}", "kafka.Kafka", str(props)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(str(proc.pid))

    def wait_ready(self) -> None:
        def ready() -> bool:
            if pid_alive(self.pid_file) is None and not port_open(self.port):
                raise RuntimeError(f"Kafka exited; see {self.log_file}")
            return port_open(self.port)

        # long enough for a slow host recovering its logs; a Kafka that exits fails it at once
        wait_until(ready, f"Kafka on 127.0.0.1:{self.port}", timeout=300)

    def stop(self, hard: bool = False, grace_s: float = 60.0) -> None:
        self.signal_stop(hard)
        self.wait_stopped(grace_s)

    def signal_stop(self, hard: bool = False) -> None:
        if (pid := pid_alive(self.pid_file)) is not None:
            os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)

    def wait_stopped(self, grace_s: float) -> None:
        """Waits `grace_s` for a clean shutdown, then kills what is left."""
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and pid_alive(self.pid_file):
            time.sleep(0.2)
        if (pid := pid_alive(self.pid_file)) is not None:
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: pid_alive(self.pid_file) is None, "Kafka to die after SIGKILL", timeout=30)
        self.pid_file.unlink(missing_ok=True)


@dataclass
class KafkaCluster:
    """The cluster profile (`OMS_KAFKA_BROKERS=3`): three KRaft nodes of one cluster, every topic on all three,
    started and stopped together; `nodes` lets a test stop one."""

    settings: Settings

    @property
    def nodes(self) -> list[NativeKafka]:
        return [NativeKafka(self.settings, n) for n in range(1, self.settings.kafka_brokers + 1)]

    def cluster_id(self) -> str:
        path = self.settings.home / "kafka-cluster-id"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self.nodes[0].ensure_jars()
            path.write_text(self.nodes[0].java("kafka.tools.StorageTool", "random-uuid").stdout.strip().splitlines()[-1])
        return path.read_text().strip()

    def start(self) -> None:
        cluster_id = self.cluster_id()
        for node in self.nodes:  # all launched before any is waited for: a node serves once the quorum has formed
            node.launch(cluster_id)
        for node in self.nodes:
            node.wait_ready()
        self.nodes[0].add_missing_users()  # the cluster shares its users: told once

    def stop(self, hard: bool = False) -> None:
        """All nodes at once: stopped one after another, the last ones wait a minute each for a quorum that has
        gone (a clean shutdown needs the controllers); whatever has not stopped in 15 s is killed, and its logs
        are recovered at the next start."""
        for node in self.nodes:
            node.signal_stop(hard)
        for node in self.nodes:
            node.wait_stopped(15.0)


# The first change of a page after a checkpoint writes the whole page to the WAL: compressed, the WAL per order at
# the bench's steady rate fell from 106 to 89 KB (same CPU, same latency). And checkpoints come seldom: with the
# default 1 GB of WAL between them, the bench's steady load (~10 MB of WAL a second) started one every ~35 s, and
# the seconds after each start, when every page touched is written whole, had the steady phase's worst latencies
# (400+ ms against 200-250). With 4 GB one comes every ~3 minutes at that load, and after 5 minutes when idle.
WAL = "-c wal_compression=lz4 -c max_wal_size=4GB"
# Statements per database, which `make bench` reports per order and service: loaded, counting nothing (the data
# folder's postgresql.conf) until the bench turns it on for its steady phase with ALTER SYSTEM, which a command-line
# setting would override (counting costs the server about a tenth of its time at the bench's rates).
STATEMENTS = "-c shared_preload_libraries=pg_stat_statements"


@dataclass
class NativePostgres:
    """A PostgreSQL cluster from Debian's binaries, `initdb`'d into a data folder of the project's own."""

    settings: Settings

    @property
    def bindir(self) -> Path:
        found = shutil.which("pg_ctl")
        if found:
            return Path(found).resolve().parent
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not versions:
            raise MissingPrerequisite("PostgreSQL is missing: install it (apt-get install postgresql)")
        return versions[-1].parent

    @property
    def home(self) -> Path:
        """`<OMS_HOME>/postgres`; when root and the `postgres` user cannot reach OMS_HOME (a checkout in a private
        folder, e.g. one made by `mktemp -d`), a folder of its own under the system temp folder, named after OMS_HOME."""
        own = self.settings.home / "postgres"
        if os.geteuid() != 0:
            return own
        probe = self.settings.home if self.settings.home.exists() else self.settings.home.parent
        if subprocess.run(self.as_owner("test", "-x", str(probe)), check=False).returncode == 0:
            return own
        digest = hashlib.sha1(str(self.settings.home.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"oms-postgres-{digest}"

    @property
    def data(self) -> Path:
        return self.home / "data"

    def as_owner(self, *cmd: str) -> list[str]:
        """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
        if os.geteuid() != 0:
            return list(cmd)
        return ["runuser", "-u", "postgres", "--", *cmd]

    def prepare(self) -> None:
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(home, owner.pw_uid, owner.pw_gid)
            denied = subprocess.run(self.as_owner("test", "-w", str(home)), check=False).returncode
            if denied:
                raise MissingPrerequisite(f"the postgres user cannot reach {home}: set OMS_HOME to a folder it can")
        made = (self.data / "PG_VERSION").exists()
        if made and not security.credentials_file(self.settings).exists():
            raise MissingPrerequisite(f"{self.data} was made before it asked for passwords: `make clean` starts afresh")
        users = access.create_credentials(self.settings, load_network(self.settings.network_file))
        if not made:  # every login with a password (SCRAM), also on the local socket
            pwfile = home / "superuser-password"
            write_private(pwfile, users[f"postgres.{security.DATABASE_SUPERUSER}"])  # 0600 before it holds it
            if os.geteuid() == 0:
                os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
            try:
                subprocess.run(self.as_owner(str(self.bindir / "initdb"), "-D", str(self.data), "-U",
                                             security.DATABASE_SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                                             "-E", "UTF8", "--no-instructions"), check=True, capture_output=True)
            finally:
                pwfile.unlink()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write("pg_stat_statements.track = none  # make bench counts while it measures (ALTER SYSTEM)\n")

    def start(self) -> None:
        port = self.settings.postgres_port
        if not port_open(port):
            self.prepare()
            subprocess.run(self.as_owner(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.home / "postgres.log"), "-w",
                "-t", "60", "-o",
                f"-p {port} -k {self.home},{SOCKET_DIR} -c listen_addresses=127.0.0.1 -c max_connections=400 "
                f"-c shared_buffers=256MB {WAL} {STATEMENTS}", "start"), check=True, capture_output=True)
        asyncio.run(create_databases(self.settings))

    def stop(self, hard: bool = False) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        mode = "immediate" if hard else "fast"
        subprocess.run(self.as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"),
                       check=False, capture_output=True)


def compose_environment(settings: Settings) -> dict[str, str]:
    """What `docker-compose.yml` needs from the stack, made before every `docker compose up`: under
    `.oms/compose/kafka/` the broker's properties and a start script that formats its storage once with every
    principal's SCRAM credentials (the containers run as the user who owns `.oms`, which only it may read), and the
    database superuser's password in the environment."""
    folder = settings.home / "compose" / "kafka"
    folder.mkdir(parents=True, exist_ok=True)
    cluster_id = folder / "cluster-id"
    if not cluster_id.exists():
        cluster_id.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())
    access.certificates(settings)  # .oms/tls, mounted at /tls
    write_private(folder / "server.properties",
                  broker_properties(settings, data_dir=Path("/stack/data"), host="0.0.0.0", tls_dir=Path("/tls")))
    write_private(folder / "start.sh", "\n".join((
        "#!/bin/bash", "# made by devstack/stack.py: the storage formatted once, with every principal, then the broker",
        "set -euo pipefail",
        f"/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t {cluster_id.read_text()} "
        "-c /stack/server.properties @/stack/format.args",  # the passwords from a file, not the command line
        "exec /opt/kafka/bin/kafka-server-start.sh /stack/server.properties", "")))
    write_private(folder / "format.args", "\n".join(scram_users(settings)))
    write_private(folder / "admin.properties", admin_client_properties(settings, "127.0.0.1:19092"))
    passwords = database_passwords(settings)
    return {**os.environ, "OMS_UID": str(os.getuid()), "OMS_GID": str(os.getgid()),
            "OMS_POSTGRES_PASSWORD": passwords[security.DATABASE_SUPERUSER]}


def admin_client_properties(settings: Settings, bootstrap: str) -> str:
    """A Kafka command-line tool's client settings as the stack's admin."""
    return "\n".join((
        f"bootstrap.servers={bootstrap}", "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{security.ADMIN}" password="{security.password_of(settings, security.ADMIN)}";', ""))


def compose(settings: Settings, *args: str) -> None:
    subprocess.run(["docker", "compose", *args], cwd=REPO_ROOT, check=True, env=compose_environment(settings))


@dataclass
class ComposeServer:
    """Kafka or PostgreSQL as a docker compose service, stopped and started the way the native ones are."""

    settings: Settings
    service: str
    port: int

    def stop(self, hard: bool = False) -> None:
        compose(self.settings, "kill" if hard else "stop", self.service)

    def start(self) -> None:
        compose(self.settings, "up", "-d", "--wait", self.service)
        wait_until(lambda: port_open(self.port), f"{self.service} on 127.0.0.1:{self.port}", timeout=120)


async def create_databases(settings: Settings) -> None:
    """One database per service (and one for the mechanism tests), each owned by the service's own role, which may
    connect to no other; the operators' role may connect to every one and read every table. Made when missing."""
    passwords = database_passwords(settings)
    conn = await asyncpg.connect(settings.dsn("postgres", security.DATABASE_SUPERUSER))
    try:
        roles = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
        for role in security.DATABASE_ROLES[1:]:
            if role not in roles:
                await conn.execute(f'CREATE ROLE "{role}" LOGIN')
            if role in passwords:
                await conn.execute(f"ALTER ROLE \"{role}\" PASSWORD '{passwords[role]}'")
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for service in (*SERVICES, "test"):
            name, owner = f"oms_{service}", _owner(service)
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
            await conn.execute(f'ALTER DATABASE "{name}" OWNER TO "{owner}"')
            await conn.execute(f'REVOKE CONNECT, TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
            await conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{name}", "{security.DATABASE_OPERATOR}"')
    finally:
        await conn.close()
    for service in (*SERVICES, "test"):
        name, owner, operator = f"oms_{service}", _owner(service), security.DATABASE_OPERATOR
        conn = await asyncpg.connect(settings.dsn(name, security.DATABASE_SUPERUSER))
        try:
            await conn.execute(
                f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public GRANT SELECT ON TABLES TO "{operator}"; '
                f'GRANT USAGE ON SCHEMA public TO "{operator}"; '
                f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{operator}"')
            if owner != name:  # the role the service runs as: rows, not the schema
                await conn.execute(
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
                    f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{name}"; '
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
                    f'GRANT USAGE, SELECT ON SEQUENCES TO "{name}"; '
                    f'GRANT USAGE ON SCHEMA public TO "{name}"; '
                    f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{name}"; '
                    f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
        finally:
            await conn.close()


async def migrate_databases(settings: Settings) -> None:
    """Every service's migrations, applied as its migration role."""
    for service in SERVICES:
        pool = await asyncpg.create_pool(settings.migrations_dsn(service), min_size=1, max_size=1)
        try:
            await migrate(pool, service_migrations(service))
        finally:
            await pool.close()


def _owner(service: str) -> str:
    """Who owns a service's database and schema: its migration role (the test database's one role)."""
    return f"oms_{service}_migrator" if service in SERVICES else f"oms_{service}"


async def create_acls(settings: Settings) -> int:
    """The ACLs of `runtime.security`, in one admin request; sent again only when they change (creating one that
    exists changes nothing)."""
    wanted = access.acls(load_network(settings.network_file))
    lines = "\n".join(acl.line() for acl in wanted)
    done = settings.home / f"acls-{settings.kafka_brokers}.txt"
    if done.exists() and done.read_text() == lines:
        return 0
    await access.create_acls(security.client_options(settings, security.ADMIN), wanted)
    done.write_text(lines)
    return len(wanted)


COMPACTED = {"cleanup.policy": "compact"}
DLQ_CONFIG = {"retention.ms": str(30 * 24 * 3600 * 1000)}  # dead letters are kept 30 days: time to look and replay


def topic_config(name: str, compacted: bool) -> dict[str, str]:
    """Dead letters kept 30 days, compacted topics compacted; personal data no longer than its retention."""
    config = dict(DLQ_CONFIG if name.endswith(".dlq") else COMPACTED if compacted else {})
    if personal_data(name):
        config["retention.ms"] = str(PERSONAL_RETENTION_DAYS * 24 * 3600 * 1000)
    return config


async def create_topics(settings: Settings) -> int:
    """Creates every contract topic (and its DLQ) for the network's partners; existing ones stay."""
    network = load_network(settings.network_file)
    wanted = access.concrete(network)
    admin = AIOKafkaAdminClient(**security.client_options(settings, security.ADMIN))
    await admin.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                existing = set(await admin.list_topics())
                if len((await admin.describe_cluster())["brokers"]) < settings.replication:
                    raise RuntimeError("not every broker of the cluster has registered yet")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        compacted = {t.name for t in TOPICS if t.compacted}
        missing = [NewTopic(name, min(parts, settings.topic_partitions), settings.replication,
                            topic_configs=topic_config(name, name in compacted))
                   for name, parts in wanted if name not in existing]
        if missing:
            await admin.create_topics(missing)
        return len(missing)
    finally:
        await admin.close()


class Stack:
    """What `make infra-up` starts: native processes here, `docker compose` where a Docker engine runs."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.compose = docker_available()
        self.kafka: NativeKafka | KafkaCluster | ComposeServer = (
            ComposeServer(self.settings, "kafka", self.settings.kafka_port) if self.compose
            else KafkaCluster(self.settings) if self.settings.kafka_brokers > 1 else NativeKafka(self.settings))
        self.postgres: NativePostgres | ComposeServer = (
            ComposeServer(self.settings, "postgres", self.settings.postgres_port) if self.compose
            else NativePostgres(self.settings))

    def up(self) -> None:
        if self.compose:
            compose(self.settings, "up", "-d", "--wait", "kafka", "postgres")
        else:
            self.postgres.start()
            self.kafka.start()
            if isinstance(self.kafka, NativeKafka):  # a cluster adds them as it starts
                self.kafka.add_missing_users()
        self.provision()

    def provision(self) -> None:
        """What the OMS needs on servers that answer: its databases and roles (each service's schema migrated: the
        only place the migration roles log in), its topics, its ACLs."""
        asyncio.run(create_databases(self.settings))
        asyncio.run(migrate_databases(self.settings))
        asyncio.run(create_topics(self.settings))
        asyncio.run(create_acls(self.settings))

    def down(self) -> None:
        if self.compose:
            compose(self.settings, "down")
            return
        self.kafka.stop()
        KafkaCluster(self.settings.model_copy(update={"kafka_brokers": 3})).stop()  # the cluster profile's, if up
        self.postgres.stop()

    def describe(self) -> str:
        s = self.settings
        how = "docker compose" if self.compose else f"native, data in {s.home}"
        return (f"Kafka {s.kafka_version} (KRaft): {s.kafka_bootstrap}\n"
                f"PostgreSQL: {s.database_url.replace('{database}', 'oms_<service>').replace('{role}', 'oms_<service>')}"
                " (passwords in .oms/credentials.json)\n"
                f"started by: {how}\n"
                f"look at a topic: make kafka-console TOPIC=oms.orders.events.v1")


def main(argv: list[str]) -> None:
    stack = Stack()
    command = argv[1] if len(argv) > 1 else "status"
    if command == "up":
        stack.up()
        print(stack.describe())
    elif command == "down":
        stack.down()
        print("stack stopped")
    else:
        up = port_open(stack.settings.kafka_port), port_open(stack.settings.postgres_port)
        print(f"kafka {'up' if up[0] else 'down'}, postgres {'up' if up[1] else 'down'}")


if __name__ == "__main__":
    main(sys.argv)
