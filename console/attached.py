"""A console attached to a session another process drives: it reads the log, posts intents.

It never calls the ops API or the conductor. It tails the session's events from the store
(a thread of its own), and an operator's keypress becomes an intent in the session's inbox
that the driver's runner logs and decides on. Read-only when another console drives the
deployment and this one was not opened with `attach`, or with `--readonly`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from console import events as ev
from console.engine import State, evolve, initial
from console.plan import Plan

log = logging.getLogger(__name__)

TAIL = 0.3  # seconds between reads of the log


class AttachedSession:
    def __init__(
        self, db: Any, session: str, plan: Plan, *, operator: str = "", roles: list[str] = (), readonly: bool = True
    ) -> None:
        self.db = db
        self.session = session
        self.plan = plan
        self.operator = operator
        self.roles = list(roles)
        self.readonly = readonly
        self.in_flight: str | None = None
        self.banner: str | None = None
        self._at = 0.0
        self._outbox: queue.Queue[ev.Event] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return self._at

    def start(self, on_event: Callable[[ev.Event, State], None], on_ready: Any, on_error: Any) -> None:
        def main() -> None:
            try:
                self._main(on_event)
            except BaseException as exc:  # reported to the screen, which exits with one line
                on_error(exc)

        self._thread = threading.Thread(target=main, name="canary-attach", daemon=True)
        self._thread.start()
        on_ready(self)

    def submit(self, event: ev.Event) -> None:
        if not self.readonly:
            self._outbox.put(event)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _main(self, on_event: Callable[[ev.Event, State], None]) -> None:
        from sessions.control import Control
        from sessions.store import EventStore

        store = EventStore(self.db)
        control = Control(store)
        if not self.readonly:
            joined = ev.OperatorJoined(at=0.0, operator=self.operator, roles=self.roles)
            control.post(self.session, joined.kind, joined.payload())
        state, seq, checked = initial(self.plan), 0, 0.0
        try:
            while not self._stop.is_set():
                for row in store.events(self.session, since_seq=seq):
                    e = ev.from_record(row.kind, row.at, row.payload)
                    state, seq, self._at = evolve(state, e), row.seq, row.at
                    on_event(e, state)
                while not self._outbox.empty():
                    intent = self._outbox.get()
                    control.post(self.session, intent.kind, intent.payload())
                if time.monotonic() - checked > 2:
                    checked = time.monotonic()
                    self.banner = self._driver_text(control, state)
                self._stop.wait(TAIL)
        finally:
            store.close()

    def _driver_text(self, control: Any, state: State) -> str | None:
        if state.outcome is not None:
            return None
        d = control.driver(self.session)
        if d is None or d.gone() or d.stale():
            who = "nobody" if d is None else d.describe()
            return f"NO LIVE DRIVER ({who}): resume with  canary-console resume {self.session} --take-over"
        mode = "READ-ONLY" if self.readonly else f"you ({self.operator}) send intents to it"
        return f"driven by {d.describe()} — {mode}"
