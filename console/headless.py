"""Line mode: one line per event that matters (checks, stages, rule verdict changes, decisions)."""

from __future__ import annotations

import sys
from typing import TextIO

from console import events as ev
from console.engine import State
from console.eventtext import clock_text, describe

QUIET = ("samples", "status", "promote_requested", "rollback_requested")  # shown through their decisions


def line(e: ev.Event, s: State) -> str | None:
    """The line for one event, or None for events that only feed the screen (samples, status, requests)."""
    if e.kind in QUIET or (isinstance(e, ev.OpsAttempt) and e.outcome == "ok"):
        return None
    return f"{clock_text(e.at)} {s.weight:>3}%  {_clean(describe(e, s))}"


def _clean(text: str) -> str:
    """Escape control characters so a reason or note can never forge a line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class Printer:
    """A runner listener printing one line per event, and one when store trouble starts and ends."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self._trouble = False

    def __call__(self, e: ev.Event, s: State) -> None:
        text = line(e, s)
        if text is not None:
            self._print(text)

    def trouble(self, message: str | None) -> None:
        """A `Runner.on_trouble` listener: the retries in between (same trouble) print nothing."""
        if message and not self._trouble:
            self._print(f"STORE TROUBLE: {_clean(message)}; retrying")
        elif not message and self._trouble:
            self._print("store available again: the waiting events are saved")
        self._trouble = bool(message)

    def _print(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)
