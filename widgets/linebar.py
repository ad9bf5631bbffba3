"""A one-line bar (the session header, the replay bar): shows the last info it was given."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


class LineBar(Static):
    DEFAULT_CSS = """
    LineBar {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.info: Any = None

    def show(self, info: Any) -> None:
        """Show `info`."""
        self.info = info
        self.refresh()

    def line(self, info: Any, width: int) -> Text:
        raise NotImplementedError

    def render(self) -> Text:
        return self.line(self.info, self.content_size.width)
