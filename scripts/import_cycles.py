"""Import circles among the project's own modules (imports inside functions included): prints each, exits 1 if any."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"contracts": ROOT / "contracts", "runtime": ROOT / "runtime", "rules": ROOT / "rules",
            "devstack": ROOT / "devstack", "oms_cli": ROOT / "oms_cli",
            **{p.name: p for p in (ROOT / "services").glob("*/*") if (p / "__init__.py").exists()}}


def modules() -> dict[str, Path]:
    found = {}
    for name, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            found[".".join((name, *parts)).removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in known}


def cycles() -> list[list[str]]:
    known = modules()
    graph = {m: imports(p, known) - {m} for m, p in known.items()}
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                found.append([*stack[stack.index(n):], n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2
    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


if __name__ == "__main__":
    circles = cycles()
    for circle in circles:
        print(" -> ".join(circle))
    sys.exit(1 if circles else 0)
