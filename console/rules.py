"""SLO rule evaluation: a pure function over timestamped samples.

Prometheus `for:` semantics. A series is BREACHED only when every sample across its
sustain window breaches and the window is fully covered: an unbroken run of breaching
samples, none further apart than `max_gap`, spanning at least `sustain` seconds.
A missing sample (None: NaN, empty result, error) is UNKNOWN: it never counts as healthy
and never completes a breach; it ends the run. `sustain = 0` acts on the first breaching
sample. Real polls drift by milliseconds, so a window counts as full within a tenth of a
poll interval of the sustain. A cumulative cap also breaches: when the breaching share of the current stage's
samples reaches `cap` once at least a window's worth of samples breached, so interleaved
failures cannot go on forever.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from console.plan import Rule, format_duration

_EPS = 1e-6
JITTER = 0.1  # share of a poll interval by which real polls may drift
RECENT = 10


class Verdict(StrEnum):
    OK = "ok"
    PENDING = "pending"  # breaching, window not yet full
    BREACHED = "breached"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Tracker:
    series: str
    verdict: Verdict = Verdict.UNKNOWN
    value: float | None = None
    last_at: float | None = None
    run_start: float | None = None
    run_min: float = math.inf
    run_max: float = -math.inf
    run_count: int = 0
    recent: tuple[float, ...] = ()
    unknown_since: float | None = None
    stage_bad: int = 0
    stage_total: int = 0
    capped: bool = False

    def breach_for(self, at: float) -> float:
        """How long the current breaching run has lasted at `at`."""
        return 0.0 if self.run_start is None else max(0.0, at - self.run_start)

    def unknown_for(self, at: float) -> float:
        return 0.0 if self.unknown_since is None else max(0.0, at - self.unknown_since)


def observe(
    rule: Rule, tr: Tracker, at: float, value: float | None, *, max_gap: float, cap: float, poll: float
) -> Tracker:
    """The tracker after one more sample of its series at time `at`."""
    if value is not None and math.isnan(value):
        value = None
    gap = tr.last_at is not None and at - tr.last_at > max_gap + _EPS
    if value is None and rule.on_no_data == "unknown":
        since = tr.unknown_since if tr.unknown_since is not None and not gap else at
        return replace(tr, verdict=Verdict.UNKNOWN, value=None, last_at=at, unknown_since=since, **_no_run())
    breaching = rule.breaches(value) if value is not None else rule.on_no_data == "breach"
    total, bad = tr.stage_total + 1, tr.stage_bad + (1 if breaching else 0)
    if not breaching:
        return replace(
            tr,
            verdict=Verdict.OK,
            value=value,
            last_at=at,
            unknown_since=None,
            stage_total=total,
            stage_bad=bad,
            **_no_run(),
        )
    continuing = tr.run_start is not None and not gap
    start = tr.run_start if continuing else at
    shown = value if value is not None else math.nan
    lo, hi = (tr.run_min, tr.run_max) if continuing else (math.inf, -math.inf)
    run_min, run_max = (lo, hi) if value is None else (min(lo, value), max(hi, value))
    recent = ((*tr.recent, shown) if continuing else (shown,))[-RECENT:]
    window_samples = math.floor(rule.sustain / poll + _EPS) + 1
    capped = bad >= window_samples and bad / total >= cap - _EPS
    sustained = at - start >= rule.sustain - JITTER * poll  # polls a few ms late still fill the window
    return replace(
        tr,
        verdict=Verdict.BREACHED if sustained or capped else Verdict.PENDING,
        value=value,
        last_at=at,
        run_start=start,
        run_min=run_min,
        run_max=run_max,
        run_count=(tr.run_count + 1) if continuing else 1,
        recent=recent,
        unknown_since=None,
        stage_total=total,
        stage_bad=bad,
        capped=capped and not sustained,
    )


def _no_run() -> dict[str, Any]:
    return {"run_start": None, "run_min": math.inf, "run_max": -math.inf, "run_count": 0, "recent": ()}


def interrupt(tr: Tracker) -> Tracker:
    """Observation stopped (the console was down): a breaching run must start again."""
    return replace(tr, last_at=None, **_no_run())


def new_stage(tr: Tracker) -> Tracker:
    """Start counting the cumulative cap afresh (a breaching run carries on)."""
    return replace(tr, stage_bad=0, stage_total=0)


def evidence(rule: Rule, tr: Tracker, at: float) -> dict[str, Any]:
    """What a decision about this series rests on, for the log and the screen."""
    return {
        "rule": rule.name,
        "series": tr.series,
        "comparator": rule.comparator,
        "threshold": rule.threshold,
        "sustain": rule.sustain,
        "window_start": tr.run_start,
        "window_end": at,
        "samples": tr.run_count,
        "min": _finite(tr.run_min),
        "max": _finite(tr.run_max),
        "recent": [_finite(v) for v in tr.recent],
        "cumulative": {"breaching": tr.stage_bad, "total": tr.stage_total} if tr.capped else None,
    }


def _finite(v: float) -> float | None:
    return None if math.isnan(v) or math.isinf(v) else v


def fmt_value(rule: Rule, value: float | None) -> str:
    if value is None:
        return "no data"
    if rule.unit == "s":
        return f"{value:g} s" if float(value).is_integer() else f"{value:.1f} s"
    if rule.unit == "ratio":
        return f"{value * 100:.2f}%".replace(".00%", "%")
    return f"{value:g}"


def describe(rule: Rule, tr: Tracker, at: float) -> str:
    """One line: "p95_latency 12.3 s > 10 s — breaching 3m12s of 5m"."""
    head = f"{tr.series} {fmt_value(rule, tr.value)}"
    limit = f"{rule.comparator} {fmt_value(rule, rule.threshold)}"
    match tr.verdict:
        case Verdict.OK:
            return f"{head} ok (breach {limit})"
        case Verdict.UNKNOWN:
            return f"{tr.series} no data for {format_duration(tr.unknown_for(at))}"
        case Verdict.PENDING:
            return f"{head} {limit} — breaching {format_duration(tr.breach_for(at))} of {format_duration(rule.sustain)}"
        case _:
            if tr.capped:
                return f"{head} {limit} — {tr.stage_bad} of {tr.stage_total} samples this stage breached"
            if rule.sustain == 0:
                return f"{head} {limit} — acts at once"
            lasted, window = format_duration(tr.breach_for(at)), format_duration(rule.sustain)
            return f"{head} {limit} — breached for {lasted} (window {window})"
