"""The post-deployment record of a session, as a report dict (schema: docs/export.md).

Pure: `build(info, events, plan)` reads the stored events (with their wall times) and the
plan the session ran; `sessions.export_render` turns the report into Markdown or JSON.
The checklist comes from the same fold (`engine.evolve`) as the screen, so it says what
the operator saw.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from console import engine
from console import events as ev
from console.eventtext import clock_text, describe
from console.plan import Item, Plan
from console.rules import Verdict, fmt_value
from sessions.review import review_reasons
from sessions.store import SessionInfo, StoredEvent

SCHEMA_VERSION = 1
SEVERITY = {Verdict.OK: 0, Verdict.UNKNOWN: 1, Verdict.PENDING: 2, Verdict.BREACHED: 3}
DECISIONS = (ev.PromotionDecided, ev.RollbackDecided, ev.PromoteRefused, ev.RollbackRefused, ev.Paused, ev.Resumed)
ITEM_EVENTS = (ev.CheckResult, ev.ItemAttested, ev.ItemWaived)

Poll = tuple[float, dict[str, float | None]]


def when(at: float | None, wall: str | None) -> dict[str, Any]:
    """A moment three ways: session seconds, "+hh:mm:ss" and the ISO wall time."""
    return {"at": at, "time": None if at is None else clock_text(at), "wall": wall}


@dataclass
class _Segment:
    name: str
    stage: int | None
    weight: int
    start: dict[str, Any]
    polls: list[Poll] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Operator:
    drove: bool = False
    roles: list[str] = field(default_factory=list)
    attested: int = 0
    waived: int = 0
    requests: int = 0


@dataclass
class _Fold:
    """What one pass over the events collects."""

    state: engine.State
    timeline: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    segments: list[_Segment] = field(default_factory=list)
    checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    item_wall: dict[str, str] = field(default_factory=dict)
    worst: dict[str, tuple[Verdict, dict[str, Any]]] = field(default_factory=dict)
    operators: dict[str, _Operator] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=lambda: {"stable": "", "canary": ""})
    rollback: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    events: list[ev.Event] = field(default_factory=list)  # everything but the polls, for the review reasons
    messages: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=lambda: when(0.0, None))


def build(info: SessionInfo, events: list[StoredEvent], plan: Plan) -> dict[str, Any]:
    """The report of one session; `plan` is the plan it ran."""
    f = _Fold(engine.initial(plan), segments=[_Segment("pre-flight", None, 0, when(0.0, info.started))])
    known_items = {i.id for i in plan.items}
    for stored in events:
        if stored.kind not in ev.EVENT_TYPES:
            continue  # written by a newer version: not ours to interpret
        e = ev.from_record(stored.kind, stored.at, stored.payload)
        if isinstance(e, ITEM_EVENTS) and e.item not in known_items:
            continue  # an item of another version of the plan: nothing to fold it into
        _fold(f, e, when(e.at, stored.wall), stored.seq)
    outcome = f.outcome or {"outcome": info.outcome or "open", "detail": "", **when(None, info.ended)}
    ends = [s.start for s in f.segments[1:]] + [f.last]
    polls = [p for s in f.segments for p in s.polls]
    reasons = review_reasons(f.events)
    return {
        "schema_version": SCHEMA_VERSION,
        "session": {
            "id": info.id,
            "deployment": info.deployment,
            "scenario": info.scenario,
            "plan": info.plan,
            "stable_version": f.versions["stable"],
            "canary_version": f.versions["canary"],
            "operators": list(f.operators),
            "started": info.started,
            "ended": info.ended,
            "duration": f.last["at"],
            "outcome": outcome["outcome"],
            "highest_weight": info.highest_weight,
        },
        "outcome": outcome,
        "rollback": f.rollback,
        "review": {"required": bool(reasons), "reasons": reasons},
        "decisions": f.decisions,
        "stages": [_stage(plan, seg, end) for seg, end in zip(f.segments, ends, strict=True) if seg.polls],
        "checklist": [_item(plan, f, i, polls) for i in plan.items],
        "operators": [{"name": name, **vars(op)} for name, op in f.operators.items()],
        "communication": f.messages,
        "timeline": f.timeline,
    }


def _fold(f: _Fold, e: ev.Event, moment: dict[str, Any], seq: int) -> None:
    weight_before = f.state.weight
    f.state = s = engine.evolve(f.state, e)
    if not isinstance(e, ev.Samples):
        f.events.append(e)
    f.last = moment if moment["at"] >= f.last["at"] else f.last
    match e:
        case ev.Samples():
            f.segments[-1].polls.append((e.at, e.values))
            return  # the polls are summarised per stage, not listed
        case ev.NotificationSent() | ev.NotificationFailed():
            sent = isinstance(e, ev.NotificationSent)
            error = "" if sent else e.error
            f.messages.append(
                {
                    "channel": e.channel,
                    "milestone": e.milestone,
                    "status": "sent" if sent else "failed",
                    "attempts": e.attempts,
                    "error": error,
                    **moment,
                }
            )
        case ev.StatusRead():
            f.versions["stable"] = e.stable_version or f.versions["stable"]
            f.versions["canary"] = e.canary_version or f.versions["canary"]
        case ev.StageStarted():
            f.segments.append(_Segment(f"{e.weight}%", e.stage, e.weight, moment))
        case ev.ValidationStarted():
            f.segments.append(_Segment(f"{s.weight}% validation", s.stage, s.weight, moment))
        case ev.RuleChanged():
            change = {**moment, "previous": e.previous, "verdict": e.verdict, "value": e.value, "detail": e.detail}
            f.segments[-1].changes.append({"series": e.series, **change})
            verdict = Verdict(e.verdict)
            if e.series not in f.worst or SEVERITY[verdict] > SEVERITY[f.worst[e.series][0]]:
                f.worst[e.series] = (verdict, moment)
        case ev.CheckResult():
            check = {"target": e.target, "ok": e.ok, "detail": e.detail, "latency_ms": e.latency_ms, **moment}
            f.checks.setdefault(e.item, []).append(check)
        case ev.RollbackDecided():
            f.rollback = {
                "reason": e.reason,
                "detail": e.detail,
                "by": e.by,
                **moment,
                "weight": weight_before,
                "evidence": e.evidence,
                "failed_attempts": 0,
                "confirmed": None,
            }
        case ev.RollbackFailed() if f.rollback:
            f.rollback["failed_attempts"] += 1
        case ev.RolledBack() if f.rollback:
            f.rollback["confirmed"] = moment
        case ev.Finished():
            f.outcome = {"outcome": e.outcome, "detail": e.detail, **moment}
    if isinstance(e, ITEM_EVENTS):
        f.item_wall[e.item] = moment["wall"]
    _count_operator(f.operators, e)
    text = describe(e, s)
    f.timeline.append({"seq": seq, **moment, "weight": s.weight, "kind": e.kind, "summary": text})
    if isinstance(e, DECISIONS):
        by = getattr(e, "by", None) or getattr(e, "operator", None) or "conductor"
        evidence = e.evidence if isinstance(e, ev.PromotionDecided | ev.RollbackDecided) else {}
        f.decisions.append(
            {
                "seq": seq,
                "kind": e.kind,
                **moment,
                "weight": weight_before,
                "by": by,
                "summary": text,
                "evidence": evidence,
            }
        )


def _count_operator(operators: dict[str, _Operator], e: ev.Event) -> None:
    match e:
        case ev.SessionStarted():
            op = operators.setdefault(e.operator, _Operator())
            op.drove, op.roles = True, list(e.roles)
        case ev.SessionResumed():
            op = operators.setdefault(e.operator, _Operator())
            op.drove, op.roles = True, list(e.roles)
        case ev.ItemAttested():
            operators.setdefault(e.operator, _Operator()).attested += 1
        case ev.ItemWaived():
            operators.setdefault(e.operator, _Operator()).waived += 1
        case ev.PromoteRequested() | ev.RollbackRequested() | ev.AbortRequested():
            operators.setdefault(e.operator, _Operator()).requests += 1


def _stage(plan: Plan, seg: _Segment, end: dict[str, Any]) -> dict[str, Any]:
    series = []
    for name, rule in plan.series().items():
        values = [v.get(name) for _, v in seg.polls]
        known = [v for v in values if v is not None]
        breaching = sum(1 for v in values if (rule.breaches(v) if v is not None else rule.on_no_data == "breach"))
        series.append(
            {
                "series": name,
                "rule": rule.name,
                "unit": rule.unit,
                "breach_when": f"{rule.comparator} {fmt_value(rule, rule.threshold)}",
                "samples": len(values),
                "no_data": len(values) - len(known),
                "min": min(known) if known else None,
                "p50": statistics.median(known) if known else None,
                "max": max(known) if known else None,
                "breaching": breaching,
                "breach_seconds": breaching * plan.poll_interval,
                "verdicts": [{k: v for k, v in c.items() if k != "series"} for c in seg.changes if c["series"] == name],
            }
        )
    return {
        "name": seg.name,
        "stage": seg.stage,
        "weight": seg.weight,
        "start": seg.start,
        "end": end,
        "duration": end["at"] - seg.start["at"],
        "polls": len(seg.polls),
        "series": series,
    }


def _item(plan: Plan, f: _Fold, item: Item, polls: list[Poll]) -> dict[str, Any]:
    it = f.state.items[item.id]
    status, by, moment, note = item.handling, "", when(None, None), item.how
    if item.handling in ("ops", "manual"):
        status, by, note = it.status, it.by, it.note
        moment = when(it.at, f.item_wall.get(item.id))
    elif item.handling == "rule":
        seen = {s: f.worst[s] for s in plan.rule(item.rule).series_names() if s in f.worst}
        status, by = "unknown", "rules"
        if seen:
            name = max(seen, key=lambda s: SEVERITY[seen[s][0]])
            status, moment = str(seen[name][0]), seen[name][1]
            note = "; ".join(f"{s} {v}" for s, (v, _) in seen.items()) if len(seen) > 1 else ""
        else:
            note = "no sample"
    elif item.handling == "shown":
        known = [v[item.shown] for _, v in polls if v.get(item.shown) is not None]
        note = f"{item.shown} from {min(known):g} to {max(known):g}" if known else f"{item.shown}: no sample"
    return {
        "id": item.id,
        "section": item.section,
        "text": item.text,
        "phase": item.phase,
        "handling": item.handling,
        "required": item.required,
        "status": status,
        "by": by,
        **moment,
        "note": note,
        "checks": f.checks.get(item.id, []),
    }
