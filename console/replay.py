"""Replay a recorded session, read-only, and filter the session list.

The screen is a fold of events. A `Timeline` folds the log once and keeps the state after
every event with a timestamp index (dolphie's ReplayManager: append-only rows, seek by
timestamp), so any moment is a lookup. `Playback` is the clock: position, speed, playing or
paused. `ReplaySession` is what the screen reads from; it never carries out an intent.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console import events as ev
from console.cli import UsageError, default_db
from console.engine import State, evolve, initial
from console.plan import Plan, default_plan, load_plan
from console.view import HISTORY

log = logging.getLogger(__name__)

MIN_SPEED, MAX_SPEED = 0.25, 16384.0
_TIME = re.compile(r"([+-]?)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


class Timeline:
    """The events of one session, the state after each, and the indexes to show any moment fast.

    States are folded on demand (`fold`), so the first moment shows before the whole log is
    folded; a worker folds the rest in the background. `fold` is thread-safe.
    """

    def __init__(self, plan: Plan, events: list[ev.Event]) -> None:
        self.events = events
        self.ats = [e.at for e in events]
        self.first = initial(plan)
        self.states: list[State] = []
        self._lock = threading.Lock()
        self.samples = [i for i, e in enumerate(events) if isinstance(e, ev.Samples)]
        self.others = [i for i, e in enumerate(events) if not isinstance(e, ev.Samples)]
        self.times = sorted(set(self.ats))
        self.start = self.times[0] if self.times else 0.0
        self.end = self.times[-1] if self.times else 0.0

    def fold(self, n: int) -> None:
        """Fold the first `n` events, if not done yet."""
        if n <= len(self.states):
            return
        with self._lock:
            s = self.states[-1] if self.states else self.first
            for e in self.events[len(self.states) : n]:
                s = evolve(s, e)
                self.states.append(s)

    def count(self, t: float) -> int:
        """How many events happened at or before `t`."""
        return bisect_right(self.ats, t)

    def state(self, n: int) -> State:
        """The state after the first `n` events."""
        self.fold(n)
        return self.states[n - 1] if n else self.first

    def rebuild(self, n: int) -> list[int]:
        """The events (indexes) that rebuild the view after the first `n`: every event that is not
        a sample, and the samples the view's history keeps (the newest HISTORY); folded up to `n`."""
        self.fold(n)
        k = bisect_left(self.samples, n)
        first = self.samples[max(0, k - HISTORY)] if k else n
        return self.others[: bisect_left(self.others, first)] + list(range(first, n))

    def step(self, t: float, direction: int) -> float:
        """The time one event later (or one earlier: the time before the newest one shown)."""
        if direction > 0:
            i = bisect_right(self.times, t)
            return self.times[i] if i < len(self.times) else self.end
        i = bisect_right(self.times, t) - 1  # the newest time shown
        return self.times[i - 1] if i >= 1 else self.start

    def target(self, raw: str) -> float:
        """A `goto` target: `50%` of the log, `+1h12m` or `1h12m` on the session clock, `-10m` before the end."""
        if raw.endswith("%"):
            return self.start + (self.end - self.start) * min(100, int(raw[:-1])) / 100
        match = _TIME.fullmatch(raw)
        if match is None or not any(match.groups()[1:]):
            raise ValueError(f"goto: not a time: {raw!r}")
        sign, h, m, s = match.groups()
        seconds = int(h or 0) * 3600 + int(m or 0) * 60 + int(s or 0)
        return self.end - seconds if sign == "-" else float(seconds)


class Playback:
    """The replay clock: session time moves at `speed` × real time while playing, within [start, end]."""

    def __init__(self, speed: float, *, playing: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self.playing = playing
        self.start = self.end = 0.0
        self._clock = clock
        self._t = 0.0
        self._real = clock()

    def position(self) -> float:
        if not self.playing:
            return self._t
        return min(self.end, self._t + (self._clock() - self._real) * self.speed)

    def span(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.seek(start)

    def seek(self, t: float) -> None:
        self._t, self._real = max(self.start, min(self.end, t)), self._clock()

    def toggle(self) -> None:
        """Play or pause; playing from the end starts again from the beginning."""
        t = self.position()
        self.playing = not self.playing
        self.seek(self.start if self.playing and t >= self.end else t)

    def pause(self) -> None:
        self.seek(self.position())
        self.playing = False

    def scale(self, factor: float) -> None:
        self.seek(self.position())
        self.speed = max(MIN_SPEED, min(MAX_SPEED, self.speed * factor))

    @property
    def at_end(self) -> bool:
        return self.position() >= self.end


@dataclass(frozen=True)
class Loaded:
    """A session read from the store, ready to show."""

    session: str
    plan: Plan
    timeline: Timeline
    wall_start: float
    note: str  # one line for the operator, or ""


class ReplaySession:
    """The screen's session source for a replay: a recorded log and a playback clock. Read-only."""

    def __init__(self, db: Path, id_or_prefix: str, *, plan_path: Path | None, speed: float, playing: bool = True):
        self.db = Path(db)
        self.id_or_prefix = id_or_prefix
        self.plan_path = plan_path
        self.playback = Playback(speed, playing=playing)
        self.submitted: list[ev.Event] = []  # intents the screen tried to send: none are carried out
        self.in_flight: str | None = None

    def now(self) -> float:
        return self.playback.position()

    def start(self, on_event: Any, on_ready: Any, on_error: Any) -> None:
        """Nothing runs: the screen loads the log in a worker (`load`) and plays it itself."""

    def submit(self, event: ev.Event) -> None:
        log.warning("replay is read-only: %s dropped", event.kind)
        self.submitted.append(event)

    def stop(self) -> None:
        return None

    def load(self) -> Loaded:
        from sessions.fastread import read_log

        """Read and fold the session (run it in a thread, after the first frame)."""
        info, rows = read_log(self.db, self.id_or_prefix)
        events = [
            ev.from_record(kind, at, json.loads(payload)) for _, at, kind, payload in rows if kind in ev.EVENT_TYPES
        ]
        skipped = len(rows) - len(events)
        plan, note = pick_plan(info["plan"], json.loads(info["meta"]), self.plan_path)
        if skipped:
            note = "; ".join(filter(None, [note, f"{skipped} events of unknown kinds not shown"]))
        wall = datetime.fromisoformat(rows[0][0]).timestamp() - rows[0][1] if rows else time.time()
        return Loaded(info["id"], plan, Timeline(plan, events), wall, note)


def pick_plan(name: str, meta: dict[str, Any], plan_path: Path | None) -> tuple[Plan, str]:
    """The plan to fold with: --plan, else the plan file the session recorded, else the default plan."""
    if plan_path is not None:
        plan = load_plan(plan_path)
        return plan, f"the session used plan {name!r}; shown with {plan.name!r}" if plan.name != name else ""
    if name == default_plan().name:
        return default_plan(), ""
    recorded = meta.get("plan") or meta.get("plan_path")
    if recorded and Path(recorded).is_file():
        return load_plan(recorded), ""
    return default_plan(), f"plan {name!r} not found: shown with the default plan (give --plan FILE)"


def replay(args: argparse.Namespace) -> int:
    from console.app import CanaryApp
    from console.replay_screen import ReplayScreen

    plan = load_plan(args.plan)
    session = ReplaySession(args.db or default_db(), args.id, plan_path=args.plan, speed=args.speed)
    app = CanaryApp(session, plan, readonly=True, speed=args.speed, screen=ReplayScreen)
    app.run(mouse=False)
    return app.return_code or 0


# -- the session list's filters ---------------------------------------------------------------

_AGO = re.compile(r"(\d+)([dhm])")


def since_time(text: str | None, now: datetime | None = None) -> datetime | None:
    """`--since 7d`, `24h`, `90m` (before now) or a UTC date/time such as `2026-11-01`."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    match = _AGO.fullmatch(text.strip())
    if match:
        n, unit = int(match[1]), match[2]
        return now - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: n})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--since {text}: give an age like 7d, 24h or 90m, or a date like 2026-11-01") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def filter_sessions(rows: list[Any], outcome: str | None, since: datetime | None) -> list[Any]:
    """The sessions with this outcome (`open`: not closed yet) that started at or after `since`."""
    if outcome is not None:
        rows = [s for s in rows if (s.outcome or "open") == outcome]
    if since is not None:
        rows = [s for s in rows if datetime.fromisoformat(s.started) >= since]
    return rows
