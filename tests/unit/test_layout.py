"""The layout shows the design: no import circles among the project's modules, the development stack imported by
nothing that runs in production, and every package opening with what it is."""

from __future__ import annotations

import ast

import pytest

from scripts.import_cycles import PACKAGES, cycles, modules

pytestmark = pytest.mark.unit


def test_no_module_imports_itself_through_others():
    assert cycles() == []


def test_nothing_in_the_runtime_the_rules_or_the_services_imports_the_development_stack():
    found = [name for name, path in modules().items()
             if name.split(".")[0] not in ("devstack", "oms_cli")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ImportFrom | ast.Import) and "devstack" in ast.unparse(node)]
    assert found == []


def test_every_package_opens_with_what_it_is():
    for name, folder in PACKAGES.items():
        opening = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert opening and "\n" not in opening.strip() and "Placeholder" not in opening, name


def test_every_service_has_the_same_shape():
    for name, folder in PACKAGES.items():
        if name.endswith("_service"):
            assert {p.name for p in folder.glob("*.py")} >= {"app.py", "bootstrap.py", "handlers.py", "domain.py",
                                                             "store.py"}, name
            assert (folder / "sql").is_dir(), name


def test_every_setting_is_in_the_configuration_reference():
    from runtime.settings import REPO_ROOT, Settings

    reference = (REPO_ROOT / "docs" / "configuration.md").read_text()
    assert [name for name in Settings.model_fields if f"OMS_{name.upper()}" not in reference] == []


def test_no_handler_looks_a_field_up_in_a_dict():
    """Handlers get typed records from their repositories: `row["status"]` is `row.status`, which mypy checks."""
    found = []
    for name, folder in PACKAGES.items():
        if not name.endswith("_service"):
            continue
        for node in ast.walk(ast.parse((folder / "handlers.py").read_text())):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and \
                    isinstance(node.slice.value, str) and not ast.unparse(node.value).isupper():  # a constant table
                found.append(f"{name}: {ast.unparse(node)}")
    assert found == []


def test_the_command_line_reads_through_its_queries_and_never_the_sagas_own_fields():
    """`oms_cli/queries/` holds every read (one module per read model); the rest of the command line holds no SQL,
    and nothing of it reads the saga's JSON (the order service's views work out what an operator sees)."""
    root = PACKAGES["oms_cli"]
    sql, saga = [], []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if path.parent.name != "queries" and any(f"{word} " in text for word in ("SELECT", "UPDATE", "DELETE",
                                                                                           "INSERT")):
                    sql.append(f"{path.name}: {text[:60]}")
                if "saga->" in text or "saga ?" in text or "saga #>" in text:
                    saga.append(f"{path.name}: {text[:60]}")
    assert (sql, saga) == ([], [])


def test_every_command_is_in_the_operators_reference():
    from typer.main import get_command

    from oms_cli.main import app
    from runtime.settings import REPO_ROOT

    def leaves(command: object, prefix: str = "") -> list[str]:
        found = []
        for name, sub in getattr(command, "commands", {}).items():
            found += leaves(sub, f"{prefix} {name}".strip()) if getattr(sub, "commands", None) else [f"{prefix} {name}"]
        return found
    reference = (REPO_ROOT / "docs" / "operations.md").read_text()
    assert [name for name in leaves(get_command(app)) if f"`oms {name.strip()}`" not in reference] == []


def test_the_runtimes_migrations_keep_the_names_they_were_applied_under():
    """A database migrated before the runtime had a package of its own recorded them as `shared/...`: so they stay."""
    from runtime.db import SHARED_SQL, migration_name, service_migrations

    first = sorted(SHARED_SQL.glob("0001_*.sql"))[0]
    assert migration_name(SHARED_SQL, first) == f"shared/{first.name}"
    order = sorted(service_migrations("order").glob("0001_*.sql"))[0]
    assert migration_name(service_migrations("order"), order) == f"order_service/{order.name}"
