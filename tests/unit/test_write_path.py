"""One write path: every statement in the code that changes a service's table is a unit of work's flush
(`runtime/statements.py`) or a named maintenance operation (`runtime/maintenance.py`); the rest write only the
runtime's own tables (outbox, inbox, parked messages, deadline pauses, migrations)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from runtime.maintenance import OPERATIONS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WRITE = re.compile(r"(?<!FOR )(?<!DO )\b(?:INSERT INTO|UPDATE|DELETE FROM)\s+(\{?[\w.]+\}?)")
RUNTIME_TABLES = {"outbox", "outbox_held", "inbox", "parked_messages", "deadline_pauses", "schema_migrations"}
FLUSH = ROOT / "runtime" / "statements.py"  # the unit of work's one statement


def literal(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else
                       "{" + ast.unparse(v.value) + "}" if isinstance(v, ast.FormattedValue) else "" for v in node.values)
    return ""


def writes(path: Path) -> list[tuple[int, str, str]]:
    """(line, table, statement) of each SQL write in this file that is not declared a maintenance operation."""
    tree = ast.parse(path.read_text())
    declared: set[int] = set()
    for node in ast.walk(tree):
        named = getattr(getattr(node, "func", None), "id", None) or getattr(getattr(node, "func", None), "attr", None)
        if isinstance(node, ast.Call) and named == "maintenance":
            declared.update(id(n) for arg in node.args for n in ast.walk(arg))
        if isinstance(node, ast.AnnAssign | ast.Assign) and "MASKS" in ast.unparse(node)[:20]:
            declared.update(id(n) for n in ast.walk(node))  # turned into maintenance operations by `masks`
    found = []
    for node in ast.walk(tree):
        text = literal(node)
        if id(node) in declared or not text:
            continue
        found += [(getattr(node, "lineno", 0), table, text[:80]) for table in WRITE.findall(text)
                  if table.strip("{}") not in RUNTIME_TABLES]
    return found


def sources() -> list[Path]:
    folders = [ROOT / "runtime", ROOT / "rules", ROOT / "oms_cli", *(ROOT / "services").glob("*/*_service")]
    return [p for folder in folders for p in folder.rglob("*.py") if p != FLUSH]


def test_nothing_writes_a_services_tables_but_the_units_of_work_and_the_named_maintenance_operations():
    found = {f"{path.relative_to(ROOT)}:{line} {table}: {text}" for path in sources()
             for line, table, text in writes(path)}
    assert found == set(), "writes outside the unit of work:\n" + "\n".join(sorted(found))


def test_the_maintenance_operations_are_each_one_write_of_a_service_table():
    import gateway_service.store  # noqa: F401  # each service declares its own at import
    import runtime.deadlines
    import runtime.personal_data

    runtime.deadlines.moved_on("orders", "deadline_at")
    assert {"answered_requests.forget", "webhook_deliveries.dead_without_subscriber", "orders.move_deadlines_on",
            "contacts.mask_erased", "shipments.mask_past_retention"} <= set(OPERATIONS)
    for name, operation in OPERATIONS.items():
        tables = WRITE.findall(operation.sql)
        assert len(tables) == 1 and name.startswith(f"{tables[0]}."), (name, operation.sql)
