"""The event log pane: plain text lines, never interpreted as markup."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual import events
from textual.widgets import RichLog

LEVEL_STYLES = {"decision": "bold cyan", "alert": "bold red", "info": ""}
MAX_LINES = 500


class EventLog(RichLog):
    """The newest 500 log lines, wrapped to the pane (again after a resize); `decision` and `alert` coloured."""

    DEFAULT_CSS = """
    EventLog {
        height: 1fr;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, min_width=1, id=id, classes=classes
        )
        self._entries: deque[tuple[str, str]] = deque(maxlen=MAX_LINES)
        self._wrap_width = 0

    def add(self, line: str, level: str = "info") -> None:
        """Append `line` as plain text, coloured by `level` ("decision", "alert" or "info")."""
        self._entries.append((line, level))
        self._write(line, level)

    def clear_log(self) -> None:
        """Remove every line."""
        self._entries.clear()
        self.clear()

    def _write(self, line: str, level: str) -> None:
        width = self._wrap_width if self._wrap_width > 0 else None
        self.write(Text(line, style=LEVEL_STYLES.get(level, "")), width=width)

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width != self._wrap_width:
            self._wrap_width = width
            self.clear()
            for line, level in self._entries:
                self._write(line, level)
