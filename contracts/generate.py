"""Writes the JSON Schema of every message and the AsyncAPI document from the models: `python -m contracts.generate`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from contracts.examples import example
from contracts.topics import MESSAGE_TYPES, TOPICS

HERE = Path(__file__).parent
SCHEMAS = HERE / "schemas"
ASYNCAPI = HERE / "asyncapi.json"


def schema(kind: str) -> dict[str, Any]:
    doc = MESSAGE_TYPES[kind].model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"oms:{kind}", **doc}


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS:
        channel_id = topic.name.replace("{partner}", "partner").replace(".", "_")
        channels[channel_id] = {
            "address": topic.name,
            "description": f"{topic.description} Key: {topic.key}. Partitions: {topic.partitions}. "
                           f"{'Public contract v1.' if topic.public else 'Internal to the OMS.'}",
            "messages": {kind: {"$ref": f"#/components/messages/{kind}"} for kind in topic.message_types},
        }
        if "{partner}" in topic.name:
            channels[channel_id]["parameters"] = {"partner": {"description": "a location or carrier id"}}
        operations[f"send_{channel_id}"] = {"action": "send", "channel": {"$ref": f"#/channels/{channel_id}"}}
        for kind in topic.message_types:
            messages[kind] = {"name": kind, "contentType": "application/json", "payload": schema(kind),
                              "examples": [{"payload": example(kind)}]}
    return {"asyncapi": "3.0.0",
            "info": {"title": "OMS", "version": "1.0.0",
                     "description": "Topics and messages of the order management system."},
            "defaultContentType": "application/json", "channels": channels, "operations": operations,
            "components": {"messages": messages}}


def rendered() -> dict[Path, bytes]:
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    files = {SCHEMAS / f"{kind}.json": orjson.dumps(schema(kind), option=options) + b"\n" for kind in MESSAGE_TYPES}
    files[ASYNCAPI] = orjson.dumps(asyncapi(), option=options) + b"\n"
    return files


def main() -> None:
    SCHEMAS.mkdir(exist_ok=True)
    files = rendered()
    for stale in set(SCHEMAS.glob("*.json")) - set(files):
        stale.unlink()
    for path, content in files.items():
        path.write_bytes(content)
    print(f"wrote {len(files)} files", file=sys.stderr)


if __name__ == "__main__":
    main()
