"""A session played from recorded events: the screen's source for replay and for tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from console import events as ev
from console.engine import State, evolve, initial
from console.plan import Plan


class RecordedSession:
    """Delivers a fixed list of events on start; intents are kept, not carried out."""

    def __init__(self, plan: Plan, events: Iterable[ev.Event], *, now: float | None = None) -> None:
        self.plan = plan
        self.events = list(events)
        self.submitted: list[ev.Event] = []
        self.in_flight: str | None = None
        self._now = now if now is not None else (self.events[-1].at if self.events else 0.0)

    def now(self) -> float:
        return self._now

    def start(
        self, on_event: Callable[[ev.Event, State], None], on_ready: Callable[[Any], None], on_error: Any
    ) -> None:
        state = initial(self.plan)
        on_ready(self)
        for e in self.events:
            state = evolve(state, e)
            on_event(e, state)

    def submit(self, event: ev.Event) -> None:
        self.submitted.append(event)

    def stop(self) -> None:
        return None
