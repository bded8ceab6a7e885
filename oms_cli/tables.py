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


def ref_splits(ref: str) -> list[tuple[str, str]]:
    """Every way `ref` reads as `channel:external_id` (a channel such as `store:store-munich` holds a colon, and an
    external id may hold more)."""
    return [(ref[:i], ref[i + 1:]) for i, c in enumerate(ref) if c == ":" and 0 < i < len(ref) - 1]


ORDER_BY_REF = ("(o.order_id = $1 OR (o.channel, o.external_id) IN "
                "(SELECT * FROM unnest($2::text[], $3::text[])))")


def order_ref_args(ref: str) -> list[Any]:
    """The arguments of `ORDER_BY_REF`: an order given by its id or as `channel:external_id`."""
    splits = ref_splits(ref)
    return [ref, [c for c, _ in splits], [e for _, e in splits]]
