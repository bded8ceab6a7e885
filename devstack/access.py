"""The development stack's access control: the brokers' certificate authority, every principal's credentials, and the
ACLs of the contract's "Who may do what", written to the cluster with Kafka's CreateAcls request."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1, DescribeAclsRequest
from aiokafka.protocol.api import Request

from contracts import topics
from rules.network import Network
from runtime.security import (
    ADMIN,
    DATABASE_ROLES,
    OPERATOR,
    OPERATOR_ACT,
    OPERATOR_REPLAY,
    OPERATORS,
    PARTNER_TOPICS,
    PAYMENTS,
    SERVICES,
    KafkaOptions,
    channel_secrets,
    credentials_file,
    operator_api_token,
    principal,
    service_topics,
    tracking_secret,
)
from runtime.settings import Settings


@dataclass(frozen=True)
class Acl:
    """Allow `principal` to `operation` (Read, Write, Describe...) on a resource (`Topic`, `Group`, `Cluster`), by
    its literal name or by a name `prefixed` with it."""

    principal: str
    operation: str
    resource: str
    name: str
    prefixed: bool = False

    def line(self) -> str:
        return " ".join((f"User:{self.principal}", self.operation, self.resource, self.name,
                         "PREFIXED" if self.prefixed else "LITERAL"))


# the protocol's codes (Kafka's AclOperation, ResourceType, PatternType; permission ALLOW is 3)
_OPERATIONS = {"Read": 3, "Write": 4, "Create": 5, "Delete": 6, "Alter": 7, "Describe": 8, "DescribeConfigs": 10}
_RESOURCES = {"Topic": 2, "Group": 3, "Cluster": 4}


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """Many ACLs in one CreateAcls request (aiokafka's own carries one, and its admin client none)."""

    API_KEY = 30

    def __init__(self, wanted: list[Acl]) -> None:
        self.wanted = wanted

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([(_RESOURCES[a.resource], a.name, 4 if a.prefixed else 3, f"User:{a.principal}",
                                      "*", _OPERATIONS[a.operation], 3) for a in self.wanted])


async def create_acls(admin: KafkaOptions, wanted: list[Acl], timeout_s: float = 60.0) -> None:
    """Creates `wanted` on the cluster `admin` (a super user's client options) reaches (one that exists stays), and
    returns once every broker applies them: the controller commits them first, each broker a moment later."""
    client = AIOKafkaClient(**admin)
    await client.bootstrap()
    try:
        response = await client.send(client.get_random_node(), _CreateAcls(wanted))
        failed = [(acl, code, text) for acl, (code, text) in zip(wanted, response.creation_responses, strict=True)
                  if code]
        if failed:
            acl, code, text = failed[0]
            raise for_code(code)(f"{len(failed)} ACLs refused, the first {acl.line()}: {text}")
        deadline = time.monotonic() + timeout_s
        for broker in client.cluster.brokers():
            while (known := await _acl_count(client, broker.nodeId)) < len(set(wanted)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"broker {broker.nodeId} applies {known} of {len(set(wanted))} ACLs")
                await asyncio.sleep(0.1)
    finally:
        await client.close()


async def _acl_count(client: AIOKafkaClient, node: int) -> int:
    """How many ACLs this broker's authorizer holds (every kind: ANY is 1 in each filter)."""
    response = await client.send(node, DescribeAclsRequest(1, None, 1, None, None, 1, 1))  # type: ignore[arg-type]
    return sum(len(resource[-1]) for resource in response.resources)


def _reads(who: str, *names: str, prefixed: bool = False) -> list[Acl]:
    return [Acl(who, op, "Topic", n, prefixed) for n in names for op in ("Read", "Describe")]


def _writes(who: str, *names: str, prefixed: bool = False) -> list[Acl]:
    return [Acl(who, op, "Topic", n, prefixed) for n in names for op in ("Write", "Describe")]


def _group(who: str, prefix: str) -> list[Acl]:
    return [Acl(who, "Read", "Group", prefix, prefixed=True)]


def acls(network: Network) -> list[Acl]:
    """Every ACL of the stack, as the contract's "Who may do what" says."""
    found: list[Acl] = []
    for service, (reads, writes) in service_topics(network).items():
        who = principal("service", service)
        found += _reads(who, *reads) + _writes(who, *writes) + _group(who, f"{service}.")
    for channel in network.channels:  # its own inbound topic to write; its own events and availability to read
        who = principal("channel", channel)
        found += _writes(who, topics.channel_topic(channel)) + _reads(
            who, topics.channel_events_topic(channel), topics.channel_availability_topic(channel))
        found += _group(who, f"{who}.")
    for kind, ids in (("warehouse", network.sites), ("carrier", [c.id for c in network.carriers]),
                      ("supplier", network.suppliers)):
        requests, updates = PARTNER_TOPICS[kind]
        for ident in ids:
            who = principal(kind, ident)
            found += _reads(who, requests.for_partner(ident)) + _writes(who, updates.for_partner(ident))
            found += _group(who, f"{who}.")
    # the payment side: what the OMS asks of payments, and its answers to captures
    found += _reads(PAYMENTS, topics.PAYMENTS.name) + _writes(PAYMENTS, topics.PAYMENT_UPDATES.name)
    found += _group(PAYMENTS, f"{PAYMENTS}.")
    for feed in network.feeds:  # its own adjustments topic: what it says is checked against its locations
        found += _writes(principal("feed", feed.id), topics.feed_topic(feed.id))
    every = [name for name, _ in concrete(network)]
    sources = [name for name in every if not name.endswith(".dlq")]
    # watching: every topic but those holding personal data; its own groups; other groups' offsets seen, not moved
    found += _reads(OPERATOR, *(n for n in every if not topics.personal_data(n))) + _group(OPERATOR, f"{OPERATOR}.")
    found += [Acl(OPERATOR, "Describe", "Group", "*"), Acl(OPERATOR, "Describe", "Topic", "*"),  # lag, not data
              Acl(OPERATOR, "DescribeConfigs", "Topic", "*")]  # kafka-topics --describe
    # acting: operator requests (cancel, hold release, return) and stock adjustments
    found += _writes(OPERATOR_ACT, topics.ORDERS_INBOUND.name, topics.INVENTORY_ADJUSTMENTS.name)
    # replaying: reads the dead letters, writes them back to where they came from (`oms dlq replay` checks which)
    found += _reads(OPERATOR_REPLAY, *(f"{n}.dlq" for n in sources)) + _writes(OPERATOR_REPLAY, *sources)
    found += _group(OPERATOR_REPLAY, f"{OPERATOR_REPLAY}.")
    return found


def concrete(network: Network) -> list[tuple[str, int]]:
    """Every topic of this network, with its partition count (and each one's DLQ)."""
    return topics.concrete_topics(network.sites, [c.id for c in network.carriers], network.channels,
                                  [f.id for f in network.feeds], network.suppliers)


def everyone(network: Network) -> list[str]:
    return [ADMIN, *OPERATORS.values(), PAYMENTS, *(principal("service", s) for s in SERVICES),
            *(principal("channel", c) for c in network.channels),
            *(principal("warehouse", i) for i in network.sites),
            *(principal("supplier", i) for i in network.suppliers),
            *(principal("carrier", c.id) for c in network.carriers),
            *(principal("feed", f.id) for f in network.feeds)]


def create_credentials(settings: Settings, network: Network) -> dict[str, str]:
    """A password for every principal of the network (kept: one made before stays), written readable by the owner
    only."""
    path = credentials_file(settings)
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for name in [*everyone(network), *(f"postgres.{role}" for role in DATABASE_ROLES)]:
        known.setdefault(name, secrets.token_urlsafe(24))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # narrowed before it is written, should it ever have been wider
    path.write_text(json.dumps(known, indent=1))
    for channel in network.channels:  # made now, before any process may read them at once
        channel_secrets(settings, channel)
    tracking_secret(settings)
    operator_api_token(settings)
    return known


def certificates(settings: Settings) -> Path:
    """The stack's own certificate authority and the brokers' certificate it signed (for 127.0.0.1 and localhost),
    made once under `.oms/tls/`: clients trust `ca.pem`, the brokers serve `broker.pem` (key and certificate)."""
    folder = settings.home / "tls"
    if (folder / "broker.pem").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
            "-subj", "/CN=OMS local stack CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
            "-subj", "/CN=oms-kafka")
    (folder / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kafka\n"
                                       "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "broker.crt", "-days", "825", "-extfile", "broker.ext")
    pem = folder / "broker.pem"
    pem.touch(mode=0o600)
    pem.write_text((folder / "broker.key").read_text() + (folder / "broker.crt").read_text())
    for scrap in ("broker.csr", "broker.ext", "broker.key", "broker.crt"):
        (folder / scrap).unlink()
    return folder
