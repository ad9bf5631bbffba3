"""Emergency contacts: who to reach, and which one to call now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

NAME_MAX = 20


@dataclass(frozen=True)
class ContactRow:
    """One contact; `call` says why to call them now ("" when not now)."""

    name: str
    role: str
    channel: str
    when: str
    call: str = ""


def contacts_text(rows: Sequence[ContactRow]) -> Text:
    """One line per contact; the ones to call now start with ☎ CALL in bold, with the reason."""
    width = min(max((len(r.name) for r in rows), default=0), NAME_MAX)
    lines = []
    for row in rows:
        line = Text(no_wrap=True, overflow="ellipsis")
        name = row.name if len(row.name) <= width else row.name[: width - 1] + "…"
        if row.call:
            line.append("☎ CALL ", style="bold reverse red")
            line.append(name.ljust(width), style="bold")
            line.append(f"  {row.channel}", style="bold")
            line.append(f"  {row.call}", style="red")
        else:
            line.append("       ")
            line.append(name.ljust(width))
            line.append(f"  {row.channel}", style="dim")
            line.append(f"  {row.when}" if row.when else "", style="dim")
        lines.append(line)
    return Text("\n").join(lines) if lines else Text("no contacts in the plan", style="dim")


class ContactsPanel(Static):
    """The plan's emergency contacts, one line each; the ones to call now marked ☎ CALL."""

    DEFAULT_CSS = """
    ContactsPanel {
        height: auto;
        max-height: 8;
        padding: 0 1;
        border: round $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Contacts"

    def show(self, rows: Sequence[ContactRow]) -> None:
        """Show `rows`."""
        self.update(contacts_text(rows))
