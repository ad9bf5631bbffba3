"""The conductor: a pure function from (state, event, now) to (state, decisions, commands).

`decide` evolves the input event (console/state.py), then applies the rollout policy: it
emits decision events (each with its evidence) and the commands the runner must carry
out. No I/O, no wall clock: time is the events' `at`.

Phases: preflight → promoting → baking(stage) → awaiting → promoting → … → validating →
succeeded | rolled_back | aborted; rolling_back from any live phase.
"""

from __future__ import annotations

from typing import Any

from console import events as ev
from console.plan import format_duration
from console.rules import Verdict, describe, evidence
from console.state import (  # noqa: F401 - re-exported: the engine is the core's entry point
    DONE_ITEM,
    FINAL,
    LIVE,
    ItemState,
    RollbackIntent,
    State,
    evolve,
    initial,
    is_admin,
    open_items,
    promote_key,
    promotion_blockers,
    rollback_key,
)

# -- decide: the rollout policy ---------------------------------------------------------


class _Step:
    """The state as decisions are taken, with the decisions and commands so far."""

    def __init__(self, s: State) -> None:
        self.s = s
        self.events: list[ev.Event] = []
        self.cmds: list[ev.Command] = []

    def emit(self, d: ev.Event) -> None:
        self.events.append(d)
        self.s = evolve(self.s, d)


def decide(s: State, e: ev.Event, now: float | None = None) -> tuple[State, list[ev.Event], list[ev.Command]]:
    """Evolve `e`, then return the new state, the decisions taken and the commands to run."""
    at = e.at if now is None else now
    step = _Step(evolve(s, e))
    if step.s.phase in FINAL:
        return step.s, [], []
    match e:
        case ev.SessionStarted():
            step.cmds += _checks(step.s, "preflight")
        case ev.PromoteRequested():
            _on_promote_request(step, e, at)
        case ev.RollbackRequested():
            _on_rollback_request(step, e, at)
        case ev.AbortRequested():
            if step.s.phase == "preflight":
                step.emit(ev.Finished(at=at, outcome="aborted", detail=f"{e.reason} ({e.operator})"))
        case ev.Promoted() if not step.s.rollback:
            stage = next(n for n, st in enumerate(step.s.plan.stages) if st.weight == e.weight)
            step.emit(ev.StageStarted(at=at, stage=stage, weight=e.weight, bake=step.s.plan.stages[stage].bake))
        case ev.RolledBack():
            r = step.s.rollback
            step.emit(
                ev.Finished(at=at, outcome="rolled_back", detail=f"{r.reason}: {r.detail}" if r else "rolled back")
            )
        case ev.PromoteFailed() if e.final and step.s.auto_promote:
            reason = f"promotion to {e.weight}% refused by the ops API: {e.error}; automatic promotion stops"
            step.emit(ev.Paused(at=at, reason=reason, auto_only=True))
        case ev.RollbackFailed() if step.s.rollback:
            r = step.s.rollback
            step.cmds.append(ev.Rollback(r.reason, r.detail, r.key))
    if step.s.phase in FINAL:
        return step.s, step.events, step.cmds
    _rule_changes(s, step, at)
    _guard(step, at)
    if not step.s.rollback:
        _progress(step, at)
        st = step.s
        auto = st.auto_promote and isinstance(e, ev.Samples) and is_admin(st.roles)  # at most once a poll
        if auto and st.phase in ("preflight", "awaiting") and not promotion_blockers(st):
            step.emit(_promotion(st, at, "auto"))
    for d in step.events:
        if isinstance(d, ev.PromotionDecided):
            step.cmds.append(ev.Promote(d.to_weight, d.key))
        elif isinstance(d, ev.RollbackDecided):
            step.cmds.append(ev.Rollback(d.reason, d.detail, d.key))
    return step.s, step.events, step.cmds


def _checks(s: State, phase: str) -> list[ev.Command]:
    items = [i for i in s.plan.items if i.phase == phase and i.handling == "ops"]
    return [ev.RunCheck(i.id, t.strip()) for i in items for t in (i.target or "").split(",")]


def unanswered_checks(s: State) -> list[ev.RunCheck]:
    """Checks of the current phase that were asked for but never answered (the console stopped)."""
    phase = {"preflight": "preflight", "validating": "post"}.get(s.phase)
    if phase is None:
        return []
    return [c for c in _checks(s, phase) if c.target not in s.items[c.item].targets]


def _promotion(s: State, at: float, by: str) -> ev.PromotionDecided:
    to = s.next_weight
    healthy = {k: t.value for k, t in s.trackers.items()}
    return ev.PromotionDecided(
        at=at,
        from_weight=s.weight,
        to_weight=to,
        key=promote_key(s.session, to),
        by=by,
        evidence={"served": round(s.served, 3), "values": healthy},
    )


def _on_promote_request(step: _Step, e: ev.PromoteRequested, at: float) -> None:
    s, emit = step.s, step.emit
    denied = _denied(s, e.operator, "promote")
    if denied:
        emit(ev.PromoteRefused(at=at, operator=e.operator, reason=denied))
        return
    if e.weight is not None and e.weight != s.next_weight:
        nxt = f"{s.next_weight}%" if s.next_weight else "none"
        emit(ev.PromoteRefused(at=at, operator=e.operator, reason=f"next stage is {nxt}, not {e.weight}%"))
        return
    blockers = promotion_blockers(s)
    if blockers:
        emit(ev.PromoteRefused(at=at, operator=e.operator, reason="; ".join(blockers)))
        return
    emit(_promotion(s, at, e.operator))


def _on_rollback_request(step: _Step, e: ev.RollbackRequested, at: float) -> None:
    s, emit = step.s, step.emit
    denied = _denied(s, e.operator, "rollback")
    if denied:
        reason = denied
    elif s.rollback:
        reason = f"already rolling back ({s.rollback.reason})"
    elif s.weight == 0 and s.pending is None:
        reason = "no canary traffic to roll back"
    else:
        emit(_rollback(s, at, e.reason, e.detail or "requested by operator", e.operator, {}))
        return
    emit(ev.RollbackRefused(at=at, operator=e.operator, reason=reason))


def _denied(s: State, operator: str, action: str) -> str:
    """Why `operator` may not `action` in this session, or "" when they may.

    Roles are only ever those the ops API's whoami gave when the operator started,
    resumed or attached to the session: never the environment or the command line.
    """
    if operator not in s.operators:
        return f"{operator} has not joined this session (driven by {s.operator}): attach first"
    roles = s.operators[operator]
    if not is_admin(roles):
        return f"{action} needs the admin role from whoami ({operator} has: {', '.join(roles) or 'none'})"
    return ""


def _rollback(s: State, at: float, reason: str, detail: str, by: str, evid: dict[str, Any]) -> ev.RollbackDecided:
    return ev.RollbackDecided(at=at, reason=reason, detail=detail, key=rollback_key(s.session), by=by, evidence=evid)


def _rule_changes(before: State, step: _Step, at: float) -> None:
    rules = before.plan.series()
    for name, tr in step.s.trackers.items():
        old = before.trackers[name].verdict
        if tr.verdict != old:
            rule = rules[name]
            step.emit(
                ev.RuleChanged(
                    at=at,
                    series=name,
                    rule=rule.name,
                    verdict=str(tr.verdict),
                    previous=str(old),
                    value=tr.value,
                    detail=describe(rule, tr, at),
                )
            )


def _guard(step: _Step, at: float) -> None:
    """Roll back on a sustained breach (once); pause on prolonged missing data."""
    s, emit = step.s, step.emit
    if s.phase not in LIVE:
        return
    rules = s.plan.series()
    if not s.rollback:
        for name, tr in s.trackers.items():
            rule = rules[name]
            if tr.verdict == Verdict.BREACHED and rule.action == "rollback":
                emit(_rollback(s, at, "SLO_VIOLATION", describe(rule, tr, at), "conductor", evidence(rule, tr, at)))
                return
    limit = s.plan.no_data_limit
    if s.stage < 0:  # no canary traffic yet: nothing to have data about
        return
    stale = [t for t in s.trackers.values() if t.verdict == Verdict.UNKNOWN and t.unknown_for(at) >= limit]
    if stale and not s.paused:
        emit(ev.Paused(at=at, reason=f"no data for {stale[0].series} for {format_duration(stale[0].unknown_for(at))}"))
    elif s.paused and all(t.verdict != Verdict.UNKNOWN for t in s.trackers.values()):  # data is back
        emit(ev.Resumed(at=at))


def _progress(step: _Step, at: float) -> None:
    """Bake served → awaiting promotion or validation; validation served, post items done → succeeded."""
    s = step.s
    if s.phase == "baking" and s.served >= s.target - 1e-6:
        if s.stage == len(s.plan.stages) - 1:
            step.emit(ev.ValidationStarted(at=at, duration=s.plan.validation))
            step.cmds += _checks(step.s, "post")
            return
        step.emit(ev.BakeServed(at=at, stage=s.stage, weight=s.weight))
    if s.phase == "validating" and s.served >= s.target - 1e-6 and not open_items(s, "post"):
        step.emit(ev.Finished(at=at, outcome="succeeded", detail=f"100% for {format_duration(s.served)}, all SLOs met"))
