"""What the screen shows, computed from the conductor's state and the samples seen so far.

Pure functions: the same events give the same view, live or in replay.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from console import events as ev
from console.contacts import calls
from console.engine import FINAL, State, is_admin, promotion_blockers
from console.plan import Item, format_duration
from console.rules import Verdict, fmt_value
from widgets.advisory import AdvisoryRow
from widgets.checklist import ChecklistRow
from widgets.contacts import ContactRow
from widgets.slo import SloRow

HISTORY = 120
TREND_POINTS = 30
RISING = 0.05  # an advisory metric growing more than 5% of its value per 10 minutes


@dataclass
class History:
    """The recent samples of every series, for sparklines, trends and charts."""

    times: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    values: dict[str, deque] = field(default_factory=dict)
    versions: tuple[str, str] = ("", "")
    stage_at: float = 0.0
    baseline: dict[str, float] = field(default_factory=dict)  # from the last BaselineLoaded

    def add(self, e: ev.Event) -> None:
        if isinstance(e, ev.BaselineLoaded):
            self.baseline = dict(e.values)
        if isinstance(e, ev.StatusRead):
            self.versions = (e.stable_version, e.canary_version)
        if isinstance(e, ev.StageStarted | ev.ValidationStarted):
            self.stage_at = e.at
        if not isinstance(e, ev.Samples):
            return
        self.times.append(e.at)
        for name, value in e.values.items():
            self.values.setdefault(name, deque([None] * (len(self.times) - 1), maxlen=HISTORY)).append(value)
        for name, series in self.values.items():
            if name not in e.values:
                series.append(None)

    def series(self, name: str) -> list[float | None]:
        return list(self.values.get(name, ()))

    def since_stage(self, name: str) -> tuple[list[float], list[float | None]]:
        """Times and values of a series since the current stage began (traffic changes at a promotion)."""
        pairs = [(t, v) for t, v in zip(self.times, self.values.get(name, ()), strict=False) if t >= self.stage_at]
        return [t for t, _ in pairs], [v for _, v in pairs]


def checklist_rows(s: State) -> list[ChecklistRow]:
    return [
        ChecklistRow(
            id=i.id,
            section=i.section,
            text=i.text,
            handling=i.handling,
            status=item_status(s, i),
            by=s.items[i.id].by if i.id in s.items else "",
            note=s.items[i.id].note if i.id in s.items else "",
            blocking=i.required and i.phase in ("preflight", "rollout", "post"),
        )
        for i in s.plan.items
    ]


def item_status(s: State, i: Item) -> str:
    if i.handling in ("ops", "manual"):
        return s.items[i.id].status
    if i.handling == "rule" and i.rule:
        verdicts = [t.verdict for k, t in s.trackers.items() if k == i.rule or k.startswith(i.rule + ":")]
        for worst in (Verdict.BREACHED, Verdict.PENDING, Verdict.UNKNOWN):
            if worst in verdicts:
                return str(worst)
        return "ok"
    if i.handling == "auto":
        return "ok"
    return "shown" if i.handling == "shown" else "gate"


def slo_rows(s: State, h: History, now: float, baseline: dict[str, float] | None = None) -> list[SloRow]:
    """One row per rule series; `baseline` (default: the one the history loaded) fills the base column."""
    baseline = h.baseline if baseline is None else baseline
    rows = []
    for name, rule in s.plan.series().items():
        tr = s.trackers[name]
        timer = ""
        if tr.verdict == Verdict.PENDING:
            timer = f"{format_duration(tr.breach_for(now))} of {format_duration(rule.sustain)}"
        elif tr.verdict == Verdict.BREACHED:
            timer = f"breached {format_duration(tr.breach_for(now))}" + (" (cap)" if tr.capped else "")
        elif tr.verdict == Verdict.UNKNOWN and tr.unknown_since is not None:
            timer = f"no data {format_duration(tr.unknown_for(now))}"
        title = rule.title if not rule.by else f"{name.split(':', 1)[1].capitalize()} · {rule.title}"
        rows.append(
            SloRow(
                series=name,
                title=title,
                status=str(tr.verdict),
                value=fmt_value(rule, tr.value),
                limit=f"{rule.comparator} {fmt_value(rule, rule.threshold)}",
                timer=timer,
                history=tuple(h.series(name)),
                threshold=rule.threshold,
                base=fmt_value(rule, baseline[name]) if name in baseline else "",
            )
        )
    return rows


def advisory_rows(s: State, h: History) -> list[AdvisoryRow]:
    rows = []
    for shown in s.plan.shown:
        value = next((v for v in reversed(h.series(shown.name)) if v is not None), None)
        slope = trend(*h.since_stage(shown.name))
        per10 = None if not slope else slope * 600
        rising = per10 is not None and value not in (None, 0) and per10 / abs(value) > RISING
        rows.append(
            AdvisoryRow(
                title=shown.title,
                value="no data" if value is None else quantity(value, shown.unit),
                trend="" if per10 is None else quantity(per10, shown.unit, signed=True) + "/10m",
                advice=shown.advice,
                alert=rising and bool(shown.advice),
            )
        )
    return rows


def contacts_rows(s: State) -> list[ContactRow]:
    """The plan's contacts; the ones that matter now (a breach of their rules, a rollback) say why."""
    now = calls(s)
    return [ContactRow(c.name, c.role, c.channel, c.when, now.get(c.name, "")) for c in s.plan.contacts]


def quantity(value: float, unit: str, *, signed: bool = False) -> str:
    """A compact reading: ratios as percent, three significant digits otherwise."""
    sign = "+" if signed else ""
    if unit == "ratio":
        return f"{value * 100:{sign}.1f}%"
    text = f"{value:{sign}.3g}" if abs(value) < 1000 else f"{value:{sign},.0f}"
    return f"{text} {unit}" if unit and not unit.startswith("/") else f"{text}{unit}"


def trend(times: list[float], values: list[float | None]) -> float | None:
    """Least-squares slope per second over the known points, or None when there are too few
    points or the slope is not clearly distinguishable from noise (t-statistic below 4)."""
    pts = [(t, v) for t, v in zip(times[-len(values) :], values, strict=False) if v is not None]
    if len(pts) < TREND_POINTS:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    sxx = sum((t - mt) ** 2 for t, _ in pts)
    if sxx == 0:
        return None
    slope = sum((t - mt) * (v - mv) for t, v in pts) / sxx
    sse = sum((v - mv - slope * (t - mt)) ** 2 for t, v in pts)
    stderr = (sse / (n - 2) / sxx) ** 0.5
    return slope if stderr == 0 or abs(slope) / stderr >= 4 else 0.0


@dataclass(frozen=True)
class Controls:
    can_promote: bool
    can_rollback: bool
    blockers: list[str]
    rollback_reason: str


def controls(s: State, readonly: bool) -> Controls:
    blockers = promotion_blockers(s)
    if readonly:
        blockers = ["read-only console", *blockers]
    elif not is_admin(s.roles):
        blockers = [f"promote needs the admin role (you have: {', '.join(s.roles) or 'none'})", *blockers]
    if readonly:
        why = "read-only console"
    elif not is_admin(s.roles):
        why = "rollback needs the admin role"
    elif s.phase in FINAL:
        why = f"session {s.phase.replace('_', ' ')}"
    elif s.rollback:
        why = "rolling back"
    elif s.weight == 0 and s.pending is None:
        why = "no canary traffic yet"
    else:
        why = ""
    return Controls(not blockers, not why, blockers, why)


def fraction(s: State) -> float | None:
    """How much of the current bake or validation is served, for the progress bar."""
    if s.phase not in ("baking", "validating") or s.target <= 0:
        return None
    return min(1.0, s.served / s.target)


def progress(s: State) -> str:
    if s.phase in ("baking", "validating"):
        left = max(0.0, s.target - s.served)
        word = "bake" if s.phase == "baking" else "validation"
        return f"{word}: {format_duration(left)} of {format_duration(s.target)} left"
    if s.phase == "awaiting":
        return f"bake served at {s.weight}%"
    if s.phase == "promoting":
        return f"promoting to {s.pending}%…"
    if s.phase == "rolling_back":
        return "rolling back…"
    if s.phase == "preflight":
        return "pre-flight checks"
    return ""  # a final phase says it all


def chart(s: State, h: History, series: str, wall_start: float) -> dict[str, Any]:
    """The arguments of the detail chart for one series: values, threshold, breach spans, dashboard link."""
    rule = s.plan.series()[series]
    times, values = list(h.times), h.series(series)
    spans: list[tuple[float, float]] = []
    for t, v in zip(times, values, strict=False):
        if v is not None and rule.breaches(v):
            if spans and spans[-1][1] >= t - 2 * s.plan.poll_interval:
                spans[-1] = (spans[-1][0], t)
            else:
                spans.append((t, t))
    link = None
    if rule.dashboard and times:
        start_ms, end_ms = int((wall_start + times[0]) * 1000), int((wall_start + times[-1]) * 1000)
        link = rule.dashboard.format(rule=rule.name, from_ms=start_ms, to_ms=end_ms)
    return {
        "title": f"{series}: {rule.title} ({rule.comparator} {fmt_value(rule, rule.threshold)})",
        "times": times,
        "values": values,
        "threshold": rule.threshold,
        "breach_spans": spans,
        "unit": rule.unit,
        "link": link,
        "link_text": "open the dashboard for this time range" if link else "",
    }
