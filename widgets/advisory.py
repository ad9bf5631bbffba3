"""Advisory metrics: shown to the operator, no automatic action."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

TITLE_MAX = 22


@dataclass(frozen=True)
class AdvisoryRow:
    """One advisory metric."""

    title: str
    value: str
    trend: str
    advice: str
    alert: bool


def advisory_text(rows: Sequence[AdvisoryRow]) -> Text:
    """One aligned line per row; alert rows start with ⚠ and carry their advice."""
    title_width = min(max((len(row.title) for row in rows), default=0), TITLE_MAX)
    value_width = max((len(row.value) for row in rows), default=0)
    lines = []
    for row in rows:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("⚠ " if row.alert else "  ", style="bold yellow")
        title = row.title if len(row.title) <= title_width else row.title[: title_width - 1] + "…"
        line.append(title.ljust(title_width), style="yellow" if row.alert else "")
        line.append("  " + row.value.rjust(value_width), style="bold yellow" if row.alert else "bold")
        line.append(f" {row.trend}" if row.trend else "", style="dim")
        if row.alert and row.advice:
            line.append(f"  {row.advice}", style="yellow")
        lines.append(line)
    return Text("\n").join(lines)


class AdvisoryPanel(Static):
    """Advisory metrics, one line each; alert rows marked ⚠ in the warning colour."""

    DEFAULT_CSS = """
    AdvisoryPanel {
        height: auto;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, rows: Sequence[AdvisoryRow]) -> None:
        """Show `rows`."""
        self.update(advisory_text(rows))
