"""The operators' tables: an order id is printed whole however narrow the terminal, so it can be copied."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.table import Column, Table

from oms_cli.orders import order_column

pytestmark = pytest.mark.unit


def test_an_order_id_is_never_cut_however_long_the_other_columns():
    order_id = "d253deaa-834e-5800-9068-40a849657b09"
    console = Console(record=True, width=110)
    for _ in range(2):  # a column keeps its rows: each table its own
        table = Table(order_column(), Column("channel:external id", overflow="fold"), "status", "why")
        table.add_row(order_id, "marketplace:amazon:R59EDBB-00040", "ready_for_pickup",
                      "no progress for 112 min in fulfilling")
        console.print(table)
    assert console.export_text().count(order_id) == 2


def test_a_value_holding_rich_markup_is_shown_as_it_is():
    from oms_cli.queries.orders import ref_splits
    from oms_cli.tables import Table as DataTable

    console = Console(record=True, width=120, markup=False)
    table = DataTable("external id", "reason")
    table.add_row("[/x]", "[bold]not bold[/bold] [link=x]")
    console.print(table)
    shown = console.export_text()
    assert "[/x]" in shown and "[bold]not bold[/bold]" in shown
    assert ref_splits("store:store-munich:A:1") == [("store", "store-munich:A:1"), ("store:store-munich", "A:1"),
                                                    ("store:store-munich:A", "1")]
