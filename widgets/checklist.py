"""The checklist: items grouped under their section headings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from widgets.status import LABEL_WIDTH, status_text

HEADING = "§"
COLUMNS = ("status", "id", "text", "who")
TEXT_MIN = 24
# How the table gives way when narrow: (column, narrowest width), or (column, None) to drop it.
NARROWING: tuple[tuple[str, int | None], ...] = (("who", 12), ("id", 12), ("id", None), ("who", 8), ("who", None))

LIST_BINDINGS = [
    Binding("j", "cursor_down", "Down", show=False, id="list.down"),
    Binding("k", "cursor_up", "Up", show=False, id="list.up"),
    Binding("g", "first", "First", show=False, id="list.first"),
    Binding("G", "last", "Last", show=False, id="list.last"),
]


def fit_widths(
    natural: dict[str, int], room: int, padding: int, narrowing: tuple[tuple[str, int | None], ...]
) -> dict[str, int]:
    """Column widths that fit `room` cells (each column also takes `padding`), narrowing step by step."""
    widths = dict(natural)
    for key, least in narrowing:
        if sum(widths.values()) + padding * len(widths) <= room:
            break
        if key not in widths:
            continue
        if least is None:
            del widths[key]
        else:
            over = sum(widths.values()) + padding * len(widths) - room
            widths[key] = max(widths[key] - over, min(least, widths[key]))
    return widths


@dataclass(frozen=True)
class ChecklistRow:
    """One checklist item as the table shows it."""

    id: str
    section: str
    text: str
    handling: str
    status: str
    by: str = ""
    note: str = ""
    blocking: bool = True


def _who(row: ChecklistRow) -> Text:
    who = " · ".join(part for part in (row.by, row.note) if part)
    return Text(who, style="dim", no_wrap=True, overflow="ellipsis")


def _cells(row: ChecklistRow) -> dict[str, Text]:
    return {
        "status": status_text(row.status),
        "id": Text(row.id, style="" if row.blocking else "dim", no_wrap=True, overflow="ellipsis"),
        "text": Text(row.text, no_wrap=True, overflow="ellipsis"),
        "who": _who(row),
    }


def _heading_cells(section: str) -> dict[str, Text]:
    title = Text(section, style="bold", no_wrap=True, overflow="ellipsis")
    return {"status": Text(HEADING, style="dim"), "id": Text(""), "text": title, "who": Text("")}


class ChecklistTable(DataTable):
    """Checklist items under bold section headings; space ticks and w waives the item under the cursor."""

    DEFAULT_CSS = """
    ChecklistTable {
        height: 1fr;
        scrollbar-gutter: stable;
    }
    """

    BINDINGS = [
        Binding("space", "tick", "Tick", id="checklist.tick"),
        Binding("w", "waive", "Waive", id="checklist.waive"),
        *LIST_BINDINGS,
    ]

    class Tick(Message):
        """The operator asked to tick an item."""

        def __init__(self, table: ChecklistTable, item_id: str) -> None:
            super().__init__()
            self.table = table
            self.item_id = item_id

        @property
        def control(self) -> ChecklistTable:
            return self.table

    class Waive(Message):
        """The operator asked to waive an item."""

        def __init__(self, table: ChecklistTable, item_id: str) -> None:
            super().__init__()
            self.table = table
            self.item_id = item_id

        @property
        def control(self) -> ChecklistTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False, show_header=False)
        self._rows: list[ChecklistRow] = []
        self._layout: tuple[list[str], dict[str, int]] | None = None
        self._shown: dict[str, ChecklistRow] = {}

    def set_rows(self, rows: Sequence[ChecklistRow]) -> None:
        """Show `rows`, grouped by section in first-seen order; keeps the cursor on the same item."""
        sections: dict[str, list[ChecklistRow]] = {}
        for row in rows:
            sections.setdefault(row.section, []).append(row)
        self._rows = [row for group in sections.values() for row in group]
        self._render_rows()

    def current_item(self) -> str | None:
        """The id of the item under the cursor, or None on a heading or an empty table."""
        key = self._cursor_key()
        return None if key is None or key.startswith(HEADING) else key

    def _keys(self) -> list[str]:
        keys: list[str] = []
        section = None
        for row in self._rows:
            if row.section != section:
                section = row.section
                keys.append(HEADING + section)
            keys.append(row.id)
        return keys

    def _widths(self) -> dict[str, int]:
        """Column widths for the current size; the item text takes whatever is left."""
        natural = {
            "status": LABEL_WIDTH,
            "id": min(max((len(row.id) for row in self._rows), default=2), 22),
            "text": TEXT_MIN,
            "who": min(max((len(_who(row)) for row in self._rows), default=0), 18),
        }
        if not natural["who"]:
            del natural["who"]
        room = self.scrollable_content_region.width
        padding = 2 * self.cell_padding
        widths = fit_widths(natural, room, padding, NARROWING)
        widths["text"] += max(room - sum(widths.values()) - padding * len(widths), 0)
        return widths

    def _render_rows(self) -> None:
        layout = (self._keys(), self._widths())
        if layout == self._layout:
            for row in self._rows:
                if self._shown.get(row.id) != row:
                    cells = _cells(row)
                    for column in layout[1]:
                        self.update_cell(row.id, column, cells[column])
            self._shown = {row.id: row for row in self._rows}
            return
        current, index = self._cursor_key(), self.cursor_row
        self.clear(columns=True)
        columns = [key for key in COLUMNS if key in layout[1]]
        for key in columns:
            self.add_column(key, width=layout[1][key], key=key)
        section = None
        for row in self._rows:
            if row.section != section:
                section = row.section
                heading = _heading_cells(section)
                self.add_row(*(heading[key] for key in columns), key=HEADING + section)
            cells = _cells(row)
            self.add_row(*(cells[key] for key in columns), key=row.id)
        self._layout = layout
        self._shown = {row.id: row for row in self._rows}
        row = layout[0].index(current) if current in layout[0] else min(index, len(layout[0]) - 1)
        self.move_cursor(row=max(row, 0), animate=False)
        self.refresh_bindings()

    def _cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def on_resize(self, event: events.Resize) -> None:
        if self._rows:
            self._render_rows()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("tick", "waive") and self.current_item() is None:
            return None
        return True

    def action_tick(self) -> None:
        item = self.current_item()
        if item is not None:
            self.post_message(self.Tick(self, item))

    def action_waive(self) -> None:
        item = self.current_item()
        if item is not None:
            self.post_message(self.Waive(self, item))

    def action_first(self) -> None:
        self.move_cursor(row=0, animate=False)

    def action_last(self) -> None:
        self.move_cursor(row=self.row_count - 1, animate=False)
