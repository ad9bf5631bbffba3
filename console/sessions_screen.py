"""`canary-console sessions --tui`: the session list as a screen; enter opens the session's replay."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from widgets.checklist import LIST_BINDINGS

OUTCOMES = {  # glyph + word + colour, never colour alone
    "succeeded": Text("✔ succeeded", style="green"),
    "rolled_back": Text("✖ rolled back", style="bold red"),
    "aborted": Text("⊘ aborted", style="dim"),
    None: Text("… open", style="cyan"),
}


class SessionList(DataTable):
    BINDINGS = LIST_BINDINGS


class SessionsApp(App[str | None]):
    """Lists sessions (already filtered); returns the id to replay, or None."""

    TITLE = "canary-console sessions"
    BINDINGS = [Binding("q,escape", "quit_list", "Quit"), Binding("enter", "open", "Replay", priority=True)]
    CSS = "SessionList { height: 1fr; } #hint { color: $text-muted; padding: 0 1; }"

    def __init__(self, rows: list[Any], guards: dict[str, str], reviews: dict[str, list[str]]) -> None:
        super().__init__()
        self.rows, self.guards, self.reviews = rows, guards, reviews

    def compose(self) -> ComposeResult:
        yield Static(f"{len(self.rows)} session(s) — enter: replay, q: quit", id="hint")
        yield SessionList(cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(SessionList)
        for key in ("session", "deployment / scenario", "outcome", "max", "started", "review", "guard"):
            table.add_column(key, key=key)
        for s in self.rows:
            what = f"{s.deployment} / {s.scenario}" if s.scenario else s.deployment
            outcome = OUTCOMES.get(s.outcome, OUTCOMES[None])
            review = "yes" if self.reviews.get(s.id) else ""
            cells = (s.id, what, outcome, f"{s.highest_weight}%", s.started[:19].replace("T", " "), review)
            table.add_row(*cells, self.guards.get(s.id, ""), key=s.id)
        table.focus()

    def action_open(self) -> None:
        table = self.query_one(SessionList)
        if table.row_count:
            self.exit(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_quit_list(self) -> None:
        self.exit(None)
