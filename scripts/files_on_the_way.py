"""Which of the project's files one order passes from `order.submitted` to `released`: the order, inventory and
order handlers run in memory as the consume loop runs them (a profile of every call), plus the runtime files of
the real path that the in-memory harness stands in for (consuming, the database, the outbox). Prints the files
by package and the count. Run from a checkout: `python -m scripts.files_on_the_way`."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

ROOT = Path.cwd()
REAL_PATH = {  # what a fetch passes on the stack and not in memory: the consume loop, the database, the relay
    "runtime": ["consume.py", "service.py", "kafka_tools.py", "tracing.py", "postgres.py", "statements.py",
                "inbox.py", "outbox.py"],
    "shared": ["consume.py", "service.py", "kafka_tools.py", "tracing.py", "uow.py", "inbox.py", "outbox.py"]}


async def order_to_released(seen: set[str]) -> None:
    from contracts import topics
    from tests.support.memory import InMemory, body

    order, inventory = InMemory("order"), InMemory("inventory")
    submitted = body("order.submitted")
    sku = submitted["lines"][0]["sku"]
    await inventory.deliver(topics.INVENTORY_ADJUSTMENTS.name,
                            *(body("stock.counted", sku=line["sku"], location_id=loc.id, on_hand=100)
                              for line in submitted["lines"] for loc in inventory.deps.network.locations))
    assert sku

    def profile(frame: object, event: str, arg: object) -> None:
        if event == "call":
            name = frame.f_code.co_filename  # type: ignore[attr-defined]
            if name.startswith(str(ROOT)) and not any(part in name for part in ("/tests/", "/.venv/", "/scripts/")):
                seen.add(str(Path(name).relative_to(ROOT)))
    sys.setprofile(profile)
    try:
        commands = await order.deliver(topics.ORDERS_INBOUND.name, submitted)
        reserve = next(m for m in commands if m.type == "inventory.reserve_stock")
        replies = await inventory.deliver(topics.INVENTORY_COMMANDS.name, reserve.model_dump(mode="json"))
        reply = next(m for m in replies if m.type == "inventory.stock_reserved")
        events = await order.deliver(topics.INVENTORY_REPLIES.name, reply.model_dump(mode="json"))
    finally:
        sys.setprofile(None)
    assert any(getattr(e, "status", None) == "released" for e in events), [getattr(e, "status", e.type) for e in events]


def main() -> None:
    seen: set[str] = set()
    asyncio.run(order_to_released(seen))
    package = "runtime" if (ROOT / "runtime").is_dir() else "shared"
    seen |= {f"{package}/{name}" for name in REAL_PATH[package]}
    by = Counter(path.split("/")[1] if path.startswith("services/") else path.split("/")[0] for path in seen)
    for path in sorted(seen):
        print(path)
    print(dict(sorted(by.items())), "files:", len(seen))


if __name__ == "__main__":
    main()
