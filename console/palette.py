"""The command palette (ctrl+p): what the operator can do on the main screen now."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class SessionCommands(Provider):
    """Promote, roll back, attest or waive open items, jump to a pane: only what is allowed now."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        from console.screen import MainScreen

        screen = self.app.screen_stack[1] if len(self.app.screen_stack) > 1 else None
        if not isinstance(screen, MainScreen):
            return []
        out: list[tuple[str, Callable[[], object], str]] = []
        s = screen.state
        if screen.check_action("promote", ()) is True and s.next_weight:
            out.append((f"promote {s.weight}% → {s.next_weight}%", screen.action_promote, "ask, then promote"))
        if screen.check_action("rollback", ()) is True:
            out.append(("roll back", screen.action_rollback, "ask for a reason, then roll back to 0%"))
        if not screen.readonly:
            for item in s.plan.items:
                status = s.items[item.id].status
                if item.handling == "manual" and status in ("open", "failed"):
                    out.append((f"attest {item.id}", partial(screen.attest, item.id), item.text))
                if item.handling in ("manual", "ops") and status in ("open", "failed", "running"):
                    out.append((f"waive {item.id}", partial(screen.waive, item.id), item.text))
        for n, name in enumerate(("checklist", "SLOs", "stages", "events")):
            out.append((f"go to {name}", partial(screen.action_pane, n), f"pane {n + 1}"))
        return out

    async def discover(self) -> Hits:
        for name, run, help_text in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
