"""Who connects as whom: one principal per service, channel, warehouse or store, carrier, and operators; what each
service reads and writes; the secrets derived for channels, subscribers and tracking links.

Every Kafka client of the project gets its settings from `client_options` (with `OMS_KAFKA_*` from the
environment it runs against any secured cluster; without, the local stack's credentials for its principal).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faststream.security import BaseSecurity, SASLScram512

from contracts import topics
from rules.network import Network
from runtime.settings import Settings, get_settings, stack_credentials

ADMIN = "admin"  # the broker's own principal and the stack's (topics, ACLs): the only super user
# operators by what they do: watch the flow, act on orders and stock, replay dead letters
OPERATOR, OPERATOR_ACT, OPERATOR_REPLAY = "operator", "operator.act", "operator.replay"
OPERATORS = {"reader": OPERATOR, "actor": OPERATOR_ACT, "replayer": OPERATOR_REPLAY}
PAYMENTS = "payments"  # the payment side: reads what the OMS asks of payments, answers captures
SERVICES = ("order", "inventory", "fulfillment", "shipping", "notification", "gateway")
KINDS = ("service", "channel", "warehouse", "carrier", "feed", "supplier")
# each partner kind's requests and updates topics (templates: `for_partner`)
PARTNER_TOPICS = {"warehouse": (topics.WAREHOUSE_REQUESTS, topics.WAREHOUSE_UPDATES),
                  "carrier": (topics.CARRIER_REQUESTS, topics.CARRIER_UPDATES),
                  "supplier": (topics.SUPPLIER_REQUESTS, topics.SUPPLIER_UPDATES)}
KafkaOptions = Mapping[str, Any]  # aiokafka's keyword arguments: bootstrap servers and security


def principal(kind: str, ident: str = "") -> str:
    """The user name of a principal: `service.order`, `channel.store.store-munich`, `warehouse.dc-rotterdam`..."""
    if kind in (ADMIN, OPERATOR, OPERATOR_ACT, OPERATOR_REPLAY, PAYMENTS):
        return kind
    if kind not in KINDS:
        raise ValueError(f"no principal kind {kind!r}: one of {', '.join((*KINDS, OPERATOR, PAYMENTS))}")
    return f"{kind}.{topics.channel_partner(ident)}"


def service_topics(network: Network) -> dict[str, tuple[list[str], list[str]]]:
    """What each service reads and writes (a DLQ is written by the service that reads its topic)."""
    locations, carriers, suppliers = network.sites, [c.id for c in network.carriers], network.suppliers
    warehouse_updates = [topics.WAREHOUSE_UPDATES.for_partner(i) for i in locations]
    supplier_updates = [topics.SUPPLIER_UPDATES.for_partner(i) for i in suppliers]
    carrier_updates = [topics.CARRIER_UPDATES.for_partner(i) for i in carriers]
    channels = [topics.channel_topic(c) for c in network.channels]
    channel_events = [topics.channel_events_topic(c) for c in network.channels]
    channel_availability = [topics.channel_availability_topic(c) for c in network.channels]
    feeds = [topics.feed_topic(f.id) for f in network.feeds]
    reads = {
        "order": [topics.ORDERS_INBOUND.name, *channels, topics.INVENTORY_REPLIES.name, topics.FULFILLMENT_EVENTS.name,
                  topics.SHIPPING_EVENTS.name, topics.PAYMENT_UPDATES.name],
        "inventory": [topics.INVENTORY_ADJUSTMENTS.name, *feeds, topics.INVENTORY_COMMANDS.name,
                      topics.PARTNER_SCORES.name],  # scorecards weigh in allocation
        "fulfillment": [topics.FULFILLMENT_COMMANDS.name, *warehouse_updates, *supplier_updates],
        "shipping": [topics.SHIPPING_COMMANDS.name, *carrier_updates],
        "notification": [topics.ORDERS_INBOUND.name, *channels, topics.ORDERS_EVENTS.name],
        # the order read model, and what its webhook subscribers are sent
        "gateway": [topics.ORDERS_INBOUND.name, *channels, topics.ORDERS_EVENTS.name, topics.NOTIFICATIONS.name,
                    topics.QUOTES.name,  # the quotes it answers promise requests over HTTP with
                    topics.PAYMENTS.name],  # each order's captures and refunds, for the desk
    }
    writes = {
        "order": [topics.ORDERS_EVENTS.name, *channel_events, topics.INVENTORY_COMMANDS.name,
                  topics.FULFILLMENT_COMMANDS.name, topics.SHIPPING_COMMANDS.name, topics.PAYMENTS.name,
                  topics.ORDERS_INBOUND.name,  # an exchange's new order, placed as a channel would
                  topics.QUOTES.name],
        "inventory": [topics.INVENTORY_EVENTS.name, topics.INVENTORY_REPLIES.name, topics.AVAILABILITY.name,
                      *channel_availability, topics.FULFILLMENT_COMMANDS.name],  # a transfer, to its source
        "fulfillment": [topics.FULFILLMENT_EVENTS.name, *(topics.WAREHOUSE_REQUESTS.for_partner(i) for i in locations),
                        *(topics.SUPPLIER_REQUESTS.for_partner(i) for i in suppliers),  # purchase orders
                        topics.INVENTORY_COMMANDS.name,  # a location's pause, for allocation
                        topics.INVENTORY_ADJUSTMENTS.name,  # a short pick's correction
                        topics.PARTNER_SCORES.name],
        "shipping": [topics.SHIPPING_EVENTS.name, *(topics.CARRIER_REQUESTS.for_partner(i) for i in carriers),
                     topics.PARTNER_SCORES.name],
        "notification": [topics.NOTIFICATIONS.name],
        # what a channel posts goes to the channel's topic as that channel; the desk's requests, naming their agent
        "gateway": [topics.ORDERS_INBOUND.name],
    }
    return {s: (reads[s], [*writes[s], *(f"{name}.dlq" for name in reads[s])]) for s in SERVICES}


# PostgreSQL: the stack's superuser (it makes roles and databases, nothing else uses it); per service a migration
# role that owns its database and schema, and the role the service runs as, which may read and write rows only;
# a read-only role for operators' views (the mechanism tests' database has one role for both)
DATABASE_SUPERUSER, DATABASE_OPERATOR = "oms", "oms_operator"
DATABASE_ROLES = (DATABASE_SUPERUSER, *(f"oms_{s}" for s in (*SERVICES, "test")),
                  *(f"oms_{s}_migrator" for s in SERVICES), DATABASE_OPERATOR)


def credentials_file(settings: Settings) -> Path:
    return settings.home / "credentials.json"


def password_of(settings: Settings, name: str) -> str:
    found = stack_credentials(settings)
    if not found:
        where = settings.credentials_file or credentials_file(settings)
        raise RuntimeError(f"no credentials at {where}: start the stack first (make infra-up)")
    if name not in found:
        if settings.credentials_file:
            raise RuntimeError(f"{name} is not among this process's credentials ({settings.credentials_file})")
        raise RuntimeError(f"no credentials for {name} (a partner added to the network since the stack was made: "
                           "make clean, then make infra-up)")
    return found[name]


def client_options(settings: Settings | None = None, who: str | None = None) -> dict[str, Any]:
    """aiokafka's keyword arguments for a client: `bootstrap_servers` and its security. `OMS_KAFKA_SASL_USERNAME`
    and `OMS_KAFKA_SASL_PASSWORD` (a managed cluster's) win; otherwise the local stack's credentials of `who` (or
    `OMS_KAFKA_PRINCIPAL`): there is no default principal, every client says whom it connects as."""
    s = settings or get_settings()
    secured = s.kafka_sasl_username or (s.credentials_file or credentials_file(s)).exists()
    protocol = s.kafka_security_protocol or ("SASL_PLAINTEXT" if secured else "PLAINTEXT")
    options: dict[str, Any] = {"bootstrap_servers": s.kafka_bootstrap, "security_protocol": protocol}
    if protocol.startswith("SASL"):
        username = s.kafka_sasl_username or who or s.kafka_principal
        if not username:
            raise ValueError("no principal named: a client says whom it connects as (who=..., or OMS_KAFKA_PRINCIPAL)")
        password = s.kafka_sasl_password or password_of(s, username)
        options |= {"sasl_mechanism": s.kafka_sasl_mechanism, "sasl_plain_username": username,
                    "sasl_plain_password": password}
    if protocol.endswith("SSL"):
        from aiokafka.helpers import create_ssl_context
        options["ssl_context"] = create_ssl_context(cafile=s.kafka_ssl_cafile)
    return options


def faststream(kafka: KafkaOptions) -> BaseSecurity | None:
    """The same security for a faststream broker."""
    if kafka.get("sasl_mechanism") == "SCRAM-SHA-512":
        return SASLScram512(kafka["sasl_plain_username"], kafka["sasl_plain_password"],
                            ssl_context=kafka.get("ssl_context"))
    if kafka.get("sasl_mechanism"):
        raise ValueError(f"{kafka['sasl_mechanism']} is not supported here: use SCRAM-SHA-512")
    return None


def described(settings: Settings, network: Network, kind: str, ident: str = "") -> dict[str, Any]:
    """`oms credentials <kind> <id>`: the client settings of that principal (aiokafka's names) and its topics."""
    if kind == OPERATOR:
        kind = OPERATORS[ident or "reader"]
    who = principal(kind, ident)
    if kind == "channel" and ident not in network.channels:
        raise ValueError(f"no channel {ident!r} in the network file: {', '.join(network.channels)}")
    options = {k: v for k, v in client_options(settings, who).items() if k != "ssl_context"}
    if settings.kafka_ssl_cafile:
        options["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    if kind == "channel":
        webhook_secret, api_token = channel_secrets(settings, ident)
        options |= {"inbound_topic": topics.channel_topic(ident), "events_topic": topics.channel_events_topic(ident),
                    "availability_topic": topics.channel_availability_topic(ident),
                    "webhook_secret": webhook_secret, "api_token": api_token}
    elif kind in PARTNER_TOPICS:
        requests, updates = PARTNER_TOPICS[kind]
        options |= {"requests_topic": requests.for_partner(ident), "updates_topic": updates.for_partner(ident)}
    elif kind == PAYMENTS:
        options |= {"requests_topic": topics.PAYMENTS.name, "updates_topic": topics.PAYMENT_UPDATES.name}
    elif kind == OPERATOR:
        options |= {"api_token": operator_api_token(settings), "gateway_url": settings.gateway_url,
                    "may": "read every topic but those holding personal data; consumer groups operator.*"}
    elif kind == OPERATOR_ACT:
        options |= {"writes": [topics.ORDERS_INBOUND.name, topics.INVENTORY_ADJUSTMENTS.name]}
    elif kind == OPERATOR_REPLAY:
        options |= {"may": "read dead letters (<topic>.dlq), write each back to its own source (oms dlq replay)"}
    elif kind == "feed":
        options |= {"adjustments_topic": topics.feed_topic(ident)}
    elif kind == "service":
        reads, writes = service_topics(network)[ident]
        options |= {"reads": reads, "writes": writes}
    options["principal"] = who
    return options


def client_properties(options: KafkaOptions) -> str:
    """The same client settings as a Java client's properties file (kafka-console-consumer, kafka-topics, a Kafka
    UI): `bootstrap.servers`, the security protocol and SCRAM login, and the stack's CA where TLS is used."""
    lines = [f"bootstrap.servers={options['bootstrap_servers']}", f"security.protocol={options['security_protocol']}"]
    if options.get("sasl_mechanism"):
        lines += [f"sasl.mechanism={options['sasl_mechanism']}",
                  "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                  f'username="{options["sasl_plain_username"]}" password="{options["sasl_plain_password"]}";']
    if options.get("ssl_cafile"):
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={options['ssl_cafile']}"]
    return "\n".join(lines) + "\n"


def channel_secrets(settings: Settings, channel: str) -> tuple[str, str]:
    """A channel's `webhook_secret` (it signs what it posts to the gateway) and `api_token` (it reads its orders)."""
    who = principal("channel", channel)
    return _derived(settings, who, "webhook"), _derived(settings, who, "api")


def operator_api_token(settings: Settings) -> str:
    """What operators show the gateway's operator endpoints (`oms credentials operator` prints it)."""
    return _derived(settings, OPERATOR, "api")


def subscriber_secret(settings: Settings, subscriber: str) -> str:
    """What the gateway signs the webhooks it posts to this subscriber with (`oms webhooks secret <id>`)."""
    return _derived(settings, f"subscriber.{subscriber}", "webhook")


def tracking_secret(settings: Settings) -> str:
    """What the customers' tracking links are made with (`OMS_TRACKING_SECRET`, else the stack's own)."""
    return settings.tracking_secret or _derived(settings, "gateway", "tracking")


def _derived(settings: Settings, who: str, purpose: str) -> str:
    """A secret of its own per principal and purpose, kept with the credentials (made under a lock: processes
    starting together read the same one). A process given a file of its own finds its secrets there, and no other."""
    key = f"{purpose}:{who}"
    if settings.credentials_file:
        own: dict[str, str] = json.loads(settings.credentials_file.read_text()).get("secrets", {})
        if key not in own:
            raise RuntimeError(f"the secret {key} is not among this process's ({settings.credentials_file})")
        return own[key]
    path = settings.home / "secrets.json"
    known: dict[str, str] = json.loads(path.read_text() or "{}") if path.exists() else {}
    if key in known:
        return known[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    with (settings.home / "secrets.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = json.loads(path.read_text() or "{}") if path.exists() else {}
        if key not in known:
            known[key] = secrets.token_urlsafe(32)
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(json.dumps(known, indent=1))
    return known[key]


def process_logins(settings: Settings, network: Network, process: str) -> list[str]:
    """The principals and database roles one process logs in as: a service as itself (the gateway also as each
    channel, whose posts it writes), the simulators as each partner they play; never the admin, the database's
    superuser or a migrator."""
    if process == "simulators":
        played = played_partners(settings.simulate_partners, network)
        return [principal(kind, ident) for kind, ident in played]
    service = process.removesuffix("_service")
    logins = [principal("service", service), f"postgres.oms_{service}"]
    if service == "gateway":
        logins += [principal("channel", c) for c in network.channels]
    return logins


def process_secrets(settings: Settings, network: Network, process: str, subscribers: list[str]) -> dict[str, str]:
    """The secrets one process needs: the gateway the channels' webhook secrets and API tokens, the operators' API
    token, the tracking links' secret and its webhook subscribers' secrets; the notification service the tracking
    secret; the others none."""
    service = process.removesuffix("_service")
    wanted: list[tuple[str, str]] = []
    if service in ("gateway", "notification") and not settings.tracking_secret:
        wanted.append(("gateway", "tracking"))
    if service == "gateway":
        for channel in network.channels:
            who = principal("channel", channel)
            wanted += [(who, "webhook"), (who, "api")]
        wanted += [(OPERATOR, "api"), *((f"subscriber.{s}", "webhook") for s in subscribers)]
    stack = settings.model_copy(update={"credentials_file": None})
    return {f"{purpose}:{who}": _derived(stack, who, purpose) for who, purpose in wanted}


def process_credentials(settings: Settings, network: Network, process: str, subscribers: list[str]) -> Path:
    """Writes `<home>/processes/<process>.json`, readable by its owner only, with what that process may know, and
    returns its path (its launcher passes it as `OMS_CREDENTIALS_FILE`)."""
    stack = settings.model_copy(update={"credentials_file": None})
    every = stack_credentials(stack)
    own = {"credentials": {name: every[name] for name in process_logins(settings, network, process) if name in every},
           "secrets": process_secrets(settings, network, process, subscribers)}
    path = settings.home / "processes" / f"{process}.json"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even once
    with os.fdopen(descriptor, "w") as file:
        json.dump(own, file)
    path.chmod(0o600)
    return path


def requests_topic(kind: str, ident: str) -> str:
    """The topic a played partner reads its requests from."""
    if kind == PAYMENTS:
        return topics.PAYMENTS.name
    return PARTNER_TOPICS[kind][0].for_partner(ident)


def played_partners(selection: str, network: Network) -> list[tuple[str, str]]:
    """The partners the simulators play (`OMS_SIMULATE_PARTNERS`: `all`, `none`, or a comma list of ids, `payments`
    for the payment side)."""
    everyone_ = [("warehouse", i) for i in network.sites] + [("carrier", c.id) for c in network.carriers]
    everyone_ += [("supplier", i) for i in network.suppliers]
    everyone_.append((PAYMENTS, PAYMENTS))
    if selection.strip() == "all":
        return everyone_
    chosen = {part.strip() for part in selection.split(",")}
    return [(kind, ident) for kind, ident in everyone_ if ident in chosen]
