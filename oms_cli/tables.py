"""Tables and lines of data for the operators' terminal: every value is shown as it is, never read as Rich markup
(an external id or a dead letter's reason such as `[/x]` is text, not a closing tag)."""

from __future__ import annotations

from typing import Any

from rich import table
from rich.text import Text


class Table(table.Table):
    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*(Text(r) if isinstance(r, str) else r for r in renderables), **kwargs)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of plain values and (value, style) pairs, e.g. `styled(("no order ", "red"), ref)`."""
    return Text.assemble(*parts)
