"""The SLO table: one row per rule series with its value, limit, trend and breach timer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from widgets.checklist import LIST_BINDINGS, fit_widths
from widgets.spark import spark
from widgets.status import KIND_STYLES, LABELS, status_text

COLUMNS = ("status", "series", "value", "base", "limit", "trend", "timer")
SPARK_WIDTH = 20
# How the table gives way when narrow: (column, narrowest width), or (column, None) to drop it.
NARROWING: tuple[tuple[str, int | None], ...] = (
    ("base", None),
    ("trend", 8),
    ("series", 14),
    ("limit", None),
    ("timer", 16),
    ("trend", 6),
    ("series", 10),
    ("timer", 10),
    ("trend", None),
)


@dataclass(frozen=True)
class SloRow:
    """One rule series as the table shows it."""

    series: str
    title: str
    status: str
    value: str
    limit: str
    timer: str
    history: tuple[float | None, ...]
    threshold: float | None
    base: str = ""  # the deployment's baseline value; the column shows only when some row has one


def _trend(row: SloRow, width: int) -> Text:
    present = [v for v in row.history if v is not None]
    if row.threshold is not None:
        present.append(row.threshold)
    lo, hi = (min(present), max(present)) if present else (None, None)
    style = KIND_STYLES[LABELS.get(row.status, ("", "normal"))[1]]
    return Text(spark(row.history, width, lo=lo, hi=hi), style=style, no_wrap=True)


def _cells(row: SloRow, spark_width: int, base_shown: bool = True) -> dict[str, Text]:
    # no room for the base column: the baseline goes in the timer cell while there is no timer to show
    timer = row.timer or ("" if base_shown or not row.base else f"base {row.base}")
    return {
        "status": status_text(row.status),
        "series": Text(row.title or row.series, no_wrap=True, overflow="ellipsis"),
        "value": Text(row.value, justify="right", no_wrap=True, overflow="ellipsis"),
        "base": Text(row.base, style="dim", justify="right", no_wrap=True, overflow="ellipsis"),
        "limit": Text(row.limit, style="dim", no_wrap=True, overflow="ellipsis"),
        "trend": _trend(row, spark_width),
        "timer": Text(timer, style="" if row.timer else "dim", no_wrap=True, overflow="ellipsis"),
    }


class SloTable(DataTable):
    """SLO rows; enter on a row posts `SloTable.Chosen` with its series."""

    DEFAULT_CSS = """
    SloTable {
        height: auto;
        max-height: 100%;
        scrollbar-gutter: stable;
    }
    """

    BINDINGS = LIST_BINDINGS

    class Chosen(Message):
        """The operator chose a series (enter)."""

        def __init__(self, table: SloTable, series: str) -> None:
            super().__init__()
            self.table = table
            self.series = series

        @property
        def control(self) -> SloTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._rows: list[SloRow] = []
        self._shown: dict[str, SloRow] = {}
        self._layout: tuple[list[str], dict[str, int]] | None = None

    def set_rows(self, rows: Sequence[SloRow]) -> None:
        """Show `rows` in order; updates cells in place when the series are unchanged."""
        self._rows = list(rows)
        self._render_rows()

    def current_series(self) -> str | None:
        """The series under the cursor, or None on an empty table."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def _widths(self) -> dict[str, int]:
        """Column widths for the current size, narrowing the trend and the title first."""

        def longest(values: list[str], cap: int, least: int) -> int:
            return min(max([least, *(len(v) for v in values)]), cap)

        natural = {
            "status": longest([status_text(row.status).plain for row in self._rows], 10, len("status")),
            "series": longest([row.title or row.series for row in self._rows], 30, len("series")),
            "value": longest([row.value for row in self._rows], 12, len("value")),
            "limit": longest([row.limit for row in self._rows], 12, len("limit")),
            "trend": SPARK_WIDTH,
            "timer": longest([row.timer or (f"base {row.base}" if row.base else "") for row in self._rows], 24, 5),
        }
        if any(row.base for row in self._rows):
            natural["base"] = longest([row.base for row in self._rows], 12, len("base"))
        return fit_widths(natural, self.scrollable_content_region.width, 2 * self.cell_padding, NARROWING)

    def _render_rows(self) -> None:
        layout = ([row.series for row in self._rows], self._widths())
        spark_width, base_shown = layout[1].get("trend", 0), "base" in layout[1]
        if layout == self._layout:
            for row in self._rows:
                if self._shown.get(row.series) != row:
                    cells = _cells(row, spark_width, base_shown)
                    for column in layout[1]:
                        self.update_cell(row.series, column, cells[column])
            self._shown = {row.series: row for row in self._rows}
            return
        current, index = self.current_series(), self.cursor_row
        self.clear(columns=True)
        columns = [key for key in COLUMNS if key in layout[1]]
        for key in columns:
            label = Text(key, justify="right") if key in ("value", "base") else key
            self.add_column(label, width=layout[1][key], key=key)
        for row in self._rows:
            cells = _cells(row, spark_width, base_shown)
            self.add_row(*(cells[key] for key in columns), key=row.series)
        self._layout = layout
        self._shown = {row.series: row for row in self._rows}
        row = layout[0].index(current) if current in layout[0] else min(index, len(layout[0]) - 1)
        self.move_cursor(row=max(row, 0), animate=False)

    def on_resize(self, event: events.Resize) -> None:
        if self._rows:
            self._render_rows()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self and event.row_key.value is not None:
            self.post_message(self.Chosen(self, event.row_key.value))

    def action_first(self) -> None:
        self.move_cursor(row=0, animate=False)

    def action_last(self) -> None:
        self.move_cursor(row=self.row_count - 1, animate=False)
