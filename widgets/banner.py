"""A full-width banner for errors and warnings; hidden until shown."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

LEVELS = ("error", "warning")


class Banner(Static):
    """One bold full-width message on an error or warning background."""

    DEFAULT_CSS = """
    Banner {
        display: none;
        width: 1fr;
        height: auto;
        padding: 0 1;
        text-style: bold;
    }
    Banner.-error {
        background: $error;
        color: $text;
    }
    Banner.-warning {
        background: $warning;
        color: $text;
    }
    """

    def show(self, text: str, level: str = "error") -> None:
        """Show `text` (plain, never markup) at `level` ("error" or "warning")."""
        self.update(Text(text))
        level = level if level in LEVELS else "error"
        for name in LEVELS:
            self.set_class(name == level, f"-{name}")
        self.display = True

    def hide(self) -> None:
        """Hide the banner."""
        self.display = False
