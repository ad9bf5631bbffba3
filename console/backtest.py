"""What another plan's rules would have decided on a recorded session.

The recorded Samples go through `rules.observe` with the other plan's rules, poll spacing
and cumulative cap, exactly as the conductor folds them. The stage timeline is the recorded
one (StageStarted / ValidationStarted): it is what actually happened. A series the other
plan watches but the log never sampled stays UNKNOWN (never healthy), whatever its rule's
`on_no_data`. Nothing is written to the store.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from console import events as ev
from console.plan import Plan, Rule, format_duration, load_plan
from console.rules import Tracker, Verdict, describe, evidence, interrupt, new_stage, observe


@dataclass(frozen=True)
class Difference:
    """One place where the other plan decides differently from the recorded session."""

    kind: str  # no_samples | rollback | no_rollback | rollback_moved | promotion_blocked
    text: str
    at: float | None = None
    weight: int | None = None
    recorded_at: float | None = None
    series: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Rollback:
    at: float
    weight: int
    stage_start: float | None
    series: str
    text: str
    evidence: dict[str, Any]


def moment(at: float, weight: int, stage_start: float | None) -> str:
    """Where and when, e.g. "50% +1h17m12s (7m12s into the stage)"."""
    into = f" ({format_duration(at - stage_start)} into the stage)" if stage_start is not None else ""
    return f"{weight}% +{format_duration(at)}{into}"


def backtest(records: list[tuple[str, float, dict[str, Any]]], plan: Plan) -> list[Difference]:
    """The differences between the recorded decisions and those `plan` would have taken."""
    events = [ev.from_record(*r) for r in records if r[0] in ev.EVENT_TYPES]
    sampled = {name for e in events if isinstance(e, ev.Samples) for name in e.values}
    rules = {
        name: rule if name in sampled else rule.model_copy(update={"on_no_data": "unknown"})
        for name, rule in plan.series().items()
    }
    out = [
        Difference("no_samples", f"no recorded samples for {name}", series=[name])
        for name in rules
        if name not in sampled
    ]
    trackers = {name: Tracker(name) for name in rules}
    weight, stage_start, live, staged = 0, None, False, False
    ours: _Rollback | None = None
    recorded: ev.RollbackDecided | None = None
    recorded_weight, seen_then = 0, ""
    for e in events:
        match e:
            case ev.StageStarted():
                trackers = {k: new_stage(t) for k, t in trackers.items()}
                if not staged:  # first canary traffic: no-data clocks start now, as in the conductor
                    trackers = {k: _restart_unknown(t, e.at) for k, t in trackers.items()}
                weight, stage_start, live, staged = e.weight, e.at, True, True
            case ev.ValidationStarted():
                stage_start = e.at
            case ev.SessionResumed():  # unobserved time: a breaching run starts again, as in the conductor
                trackers = {k: interrupt(t) for k, t in trackers.items()}
            case ev.PromotionDecided():
                if staged and ours is None and recorded is None:
                    out += _gate(e, rules, trackers, weight, stage_start)
                live = True
            case ev.PromoteFailed():
                live = staged
            case ev.RollbackDecided() if recorded is None:
                recorded, recorded_weight = e, weight
                name = e.evidence.get("series")
                if name in trackers and ours is None:
                    seen_then = describe(rules[name], trackers[name], e.at)
            case ev.Samples():
                for name, rule in rules.items():
                    trackers[name] = observe(
                        rule,
                        trackers[name],
                        e.at,
                        e.values.get(name),
                        max_gap=2 * plan.poll_interval,
                        cap=plan.cumulative_cap,
                        poll=plan.poll_interval,
                    )
                if live and ours is None:
                    ours = _guard(rules, trackers, e.at, weight, stage_start)
    return out + _compare_rollbacks(ours, recorded, recorded_weight, seen_then)


def _restart_unknown(t: Tracker, at: float) -> Tracker:
    return t if t.unknown_since is None else replace(t, unknown_since=at)


def _gate(
    e: ev.PromotionDecided, rules: dict[str, Rule], trackers: dict[str, Tracker], weight: int, stage_start: float | None
) -> list[Difference]:
    bad = [t for t in trackers.values() if t.verdict != Verdict.OK]
    if not bad:
        return []
    what = ", ".join(f"{t.series} {t.verdict}" for t in bad)
    return [
        Difference(
            "promotion_blocked",
            f"would have blocked promotion to {e.to_weight}% at {moment(e.at, weight, stage_start)}: {what}",
            at=e.at,
            weight=weight,
            recorded_at=e.at,
            series=[t.series for t in bad],
            evidence={t.series: describe(rules[t.series], t, e.at) for t in bad},
        )
    ]


def _guard(
    rules: dict[str, Rule], trackers: dict[str, Tracker], at: float, weight: int, stage_start: float | None
) -> _Rollback | None:
    """The conductor's rollback rule: the first sustained breach of a rollback rule."""
    for name, tr in trackers.items():
        rule = rules[name]
        if tr.verdict == Verdict.BREACHED and rule.action == "rollback":
            return _Rollback(at, weight, stage_start, name, describe(rule, tr, at), evidence(rule, tr, at))
    return None


def _compare_rollbacks(
    ours: _Rollback | None, rec: ev.RollbackDecided | None, rec_weight: int, seen_then: str
) -> list[Difference]:
    automatic = rec is not None and rec.by == "conductor"
    if ours is None:
        if not automatic:
            return []
        then = f"; under this plan at that moment: {seen_then}" if seen_then else ""
        when = f"{rec_weight}% +{format_duration(rec.at)}"
        text = f"would NOT have rolled back; the recorded session did at {when}: {rec.detail}{then}"
        series = [rec.evidence["series"]] if rec.evidence.get("series") else []
        return [
            Difference("no_rollback", text, recorded_at=rec.at, weight=rec_weight, series=series, evidence=rec.evidence)
        ]
    said = f"would have rolled back at {moment(ours.at, ours.weight, ours.stage_start)}: {ours.text}"
    fields = {"at": ours.at, "weight": ours.weight, "series": [ours.series], "evidence": ours.evidence}
    if rec is None:
        return [Difference("rollback", f"{said}; the recorded session did not roll back", **fields)]
    if not automatic:  # an operator rolled back: the rules only matter if they would have acted first
        if ours.at >= rec.at:
            return []
        text = f"{said}; earlier than {rec.by}'s rollback at +{format_duration(rec.at)} ({rec.reason})"
        return [Difference("rollback_moved", text, recorded_at=rec.at, **fields)]
    if ours.at == rec.at and ours.series == rec.evidence.get("series"):
        return []
    order = "earlier" if ours.at < rec.at else "later" if ours.at > rec.at else "at the same moment, on another series"
    text = f"{said}; {order} than the recorded rollback at {rec_weight}% +{format_duration(rec.at)}: {rec.detail}"
    return [Difference("rollback_moved", text, recorded_at=rec.at, **fields)]


# -- the command ---------------------------------------------------------------------------


def command(args: argparse.Namespace) -> int:
    """`canary-console backtest ID --plan FILE [--json]`: print the differences; exit 0 once it ran."""
    from console.commands import open_store

    plan = load_plan(args.plan)
    store = open_store(args)
    try:
        session = store.resolve(args.id)
        info = store.session(session)
        records = store.records(session)
    finally:
        store.close()
    found = backtest(records, plan)
    if args.json:
        print(json.dumps([asdict(d) for d in found], indent=2, ensure_ascii=False))
        return 0
    recorded = f"{info.outcome or 'open'}, plan {info.plan}"
    print(f"backtest of session {session} ({recorded}) against plan {plan.name} ({args.plan}):")
    if not found:
        print(f"no differences: plan {plan.name} decides as the recorded session did")
    for d in found:
        print(f"- {_clean(d.text)}")
    return 0


def _clean(text: str) -> str:
    """Recorded details are free text: show control characters escaped, never raw."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
