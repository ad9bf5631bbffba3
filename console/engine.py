"""The conductor: a pure function from (state, event, now) to (state, decisions, commands).

`evolve` folds one event into the state; it is all a view, a resume or a replay needs.
`decide` evolves the input event, then applies the rollout policy: it emits decision
events (each with its evidence) and the commands the runner must carry out. No I/O, no
wall clock: time is the events' `at`.

Phases: preflight → promoting → baking(stage) → awaiting → promoting → … → validating →
succeeded | rolled_back | aborted; rolling_back from any live phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from console import events as ev
from console.plan import Item, Plan, format_duration
from console.rules import Tracker, Verdict, describe, evidence, new_stage, observe

FINAL = ("succeeded", "rolled_back", "aborted")
LIVE = ("baking", "awaiting", "promoting", "validating")
DONE_ITEM = ("ok", "attested", "waived")


@dataclass(frozen=True)
class ItemState:
    status: str = "open"  # open | running | ok | failed | attested | waived
    by: str = ""
    note: str = ""
    at: float | None = None
    targets: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class RollbackIntent:
    reason: str
    detail: str
    key: str
    by: str
    evidence: dict[str, Any]
    failures: int = 0


@dataclass(frozen=True)
class State:
    plan: Plan
    session: str = ""
    operator: str = ""
    roles: tuple[str, ...] = ()
    auto_promote: bool = False
    phase: str = "preflight"
    stage: int = -1
    weight: int = 0
    pending: int | None = None
    served: float = 0.0
    last_tick: float | None = None
    healthy: bool = False
    pods_ready: bool = False
    paused: str | None = None
    rollback: RollbackIntent | None = None
    outcome: str | None = None
    trackers: dict[str, Tracker] = field(default_factory=dict)
    items: dict[str, ItemState] = field(default_factory=dict)

    @property
    def next_weight(self) -> int | None:
        nxt = self.stage + 1
        return self.plan.stages[nxt].weight if nxt < len(self.plan.stages) else None

    @property
    def target(self) -> float:
        """Seconds of healthy observation the current phase needs."""
        if self.phase == "validating":
            return self.plan.validation
        return self.plan.stages[self.stage].bake if self.stage >= 0 else 0.0


def initial(plan: Plan) -> State:
    return State(
        plan=plan, trackers={s: Tracker(s) for s in plan.series()}, items={i.id: ItemState() for i in plan.items}
    )


# -- evolve: fold one event into the state --------------------------------------------


def evolve(s: State, e: ev.Event) -> State:
    match e:
        case ev.SessionStarted():
            return replace(s, session=e.session, operator=e.operator, roles=tuple(e.roles), auto_promote=e.auto_promote)
        case ev.Samples():
            return _samples(s, e)
        case ev.StatusRead():
            return replace(s, pods_ready=e.desired > 0 and e.ready >= e.desired)
        case ev.CheckResult():
            return _check(s, e)
        case ev.ItemAttested():
            return _item(s, e.item, ItemState("attested", e.operator, e.note, e.at))
        case ev.ItemWaived():
            return _item(s, e.item, ItemState("waived", e.operator, e.reason, e.at))
        case ev.PromotionDecided():
            return replace(s, phase="promoting", pending=e.to_weight)
        case ev.PromoteFailed():
            return replace(s, phase="preflight" if s.stage < 0 else "awaiting", pending=None)
        case ev.Promoted():
            return s if s.rollback else replace(s, weight=e.weight, pending=None)
        case ev.StageStarted():
            trackers = {k: new_stage(t) for k, t in s.trackers.items()}
            if s.stage < 0:  # first canary traffic: no-data clocks start now
                trackers = {
                    k: replace(t, unknown_since=e.at if t.unknown_since is not None else None)
                    for k, t in trackers.items()
                }
            # the poll before the promotion must not count toward the new weight
            return replace(s, phase="baking", stage=e.stage, served=0.0, trackers=trackers, healthy=False)
        case ev.BakeServed():
            return replace(s, phase="awaiting")
        case ev.ValidationStarted():
            return replace(s, phase="validating", served=0.0, healthy=False)
        case ev.RollbackDecided():
            intent = RollbackIntent(e.reason, e.detail, e.key, e.by, e.evidence)
            return replace(s, phase="rolling_back", rollback=intent, pending=None)
        case ev.RollbackFailed():
            return replace(s, rollback=replace(s.rollback, failures=s.rollback.failures + 1)) if s.rollback else s
        case ev.RolledBack():
            return replace(s, weight=e.weight)
        case ev.Paused():
            return replace(s, paused=e.reason)
        case ev.Resumed():
            return replace(s, paused=None)
        case ev.Finished():
            return replace(s, phase=e.outcome, outcome=e.outcome)
    return s


def _item(s: State, item_id: str, it: ItemState) -> State:
    return replace(s, items={**s.items, item_id: it})


def _check(s: State, e: ev.CheckResult) -> State:
    """An item is ok once every one of its targets answered ok; failed if any did not."""
    it = s.items.get(e.item, ItemState())
    targets = {**it.targets, e.target: e.ok}
    wanted = [t.strip() for t in (s.plan.item(e.item).target or "").split(",")]
    done = all(t in targets for t in wanted)
    status = "failed" if not all(targets.values()) else "ok" if done else "running"
    note = e.detail if not e.ok else it.note if status == "running" else e.detail
    return _item(s, e.item, ItemState(status, "ops", note, e.at, targets))


def _samples(s: State, e: ev.Samples) -> State:
    plan = s.plan
    max_gap = 2 * plan.poll_interval
    rules = plan.series()
    trackers = dict(s.trackers)
    for name, rule in rules.items():
        trackers[name] = observe(
            rule,
            trackers[name],
            e.at,
            e.values.get(name),
            max_gap=max_gap,
            cap=plan.cumulative_cap,
            poll=plan.poll_interval,
        )
    served = s.served
    healthy = s.pods_ready and all(t.verdict == Verdict.OK for t in trackers.values())
    if s.phase in ("baking", "validating") and s.last_tick is not None and s.healthy and healthy:
        dt = e.at - s.last_tick
        if 0 < dt <= max_gap:  # only time observed healthy at both ends counts
            served += dt
    return replace(s, trackers=trackers, served=served, last_tick=e.at, healthy=healthy)


# -- what the operator may do now -------------------------------------------------------


def is_admin(roles: tuple[str, ...] | list[str]) -> bool:
    return "admin" in roles


def open_items(s: State, phase: str) -> list[Item]:
    """Items of `phase` that still need a check, an attestation or a waiver."""
    wanted = ("ops", "manual")
    return [
        i
        for i in s.plan.items
        if i.phase == phase and i.handling in wanted and i.required and s.items[i.id].status not in DONE_ITEM
    ]


def promotion_blockers(s: State) -> list[str]:
    """Why promotion is not allowed now; empty when it is."""
    if s.phase in FINAL:
        return [f"session {s.phase.replace('_', ' ')}"]
    if s.rollback:
        return ["rollback in progress"]
    if s.phase == "promoting":
        return [f"promotion to {s.pending}% in flight"]
    if s.phase == "validating":
        return [f"at 100%: validating, {format_duration(max(0.0, s.target - s.served))} left"]
    out: list[str] = []
    if s.phase == "preflight":
        left = open_items(s, "preflight")
        if left:
            out.append(
                f"pre-flight: {len(left)} open ({', '.join(i.id for i in left[:3])}{', …' if len(left) > 3 else ''})"
            )
        return out
    if s.phase == "baking":
        out.append(f"bake: {format_duration(max(0.0, s.target - s.served))} of {format_duration(s.target)} left")
    left = open_items(s, "rollout")
    if left:
        out.append(f"attest first: {', '.join(i.id for i in left[:3])}")
    if not s.pods_ready:
        out.append("canary pods not ready")
    if s.paused:
        out.append(f"paused: {s.paused}")
    bad = [t for t in s.trackers.values() if t.verdict != Verdict.OK]
    if bad:
        out.append(
            "SLOs not green: " + ", ".join(f"{t.series} {t.verdict}" for t in bad[:3]) + (", …" if len(bad) > 3 else "")
        )
    return out


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


def _promotion(s: State, at: float, by: str) -> ev.PromotionDecided:
    to = s.next_weight
    healthy = {k: t.value for k, t in s.trackers.items()}
    return ev.PromotionDecided(
        at=at,
        from_weight=s.weight,
        to_weight=to,
        key=f"{s.session}:promote:{to}",
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
    """Why `operator` may not `action` in this session, or "" when they may."""
    if operator != s.operator:
        return f"{operator} does not drive this session: only {s.operator} may {action}"
    if not is_admin(s.roles):
        return f"{action} needs the admin role from whoami (has: {', '.join(s.roles) or 'none'})"
    return ""


def _rollback(s: State, at: float, reason: str, detail: str, by: str, evid: dict[str, Any]) -> ev.RollbackDecided:
    return ev.RollbackDecided(at=at, reason=reason, detail=detail, key=f"{s.session}:rollback", by=by, evidence=evid)


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
    stale = [t for t in s.trackers.values() if t.verdict == Verdict.UNKNOWN and t.unknown_for(at) >= limit]
    if stale and not s.paused:
        emit(ev.Paused(at=at, reason=f"no data for {stale[0].series} for {format_duration(stale[0].unknown_for(at))}"))
    elif s.paused and all(t.verdict != Verdict.UNKNOWN for t in s.trackers.values()):
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
