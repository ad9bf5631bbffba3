"""The state of a canary session, and `evolve`: the fold of one event into it.

Everything a view, a resume or a replay needs is `evolve` over the log. Pure: no I/O,
no wall clock; time is the events' `at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from console import events as ev
from console.plan import Item, Plan, format_duration
from console.rules import Tracker, Verdict, interrupt, new_stage, observe

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
    operators: dict[str, tuple[str, ...]] = field(default_factory=dict)  # who joined, with whoami roles
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
            who = {e.operator: tuple(e.roles)}
            return replace(
                s,
                session=e.session,
                operator=e.operator,
                roles=tuple(e.roles),
                auto_promote=e.auto_promote,
                operators=who,
            )
        case ev.OperatorJoined():
            return replace(s, operators={**s.operators, e.operator: tuple(e.roles)})
        case ev.Samples():
            return _samples(s, e)
        case ev.SessionResumed():
            # time the console did not observe is never healthy, and never completes a breach
            trackers = {k: interrupt(t) for k, t in s.trackers.items()}
            who = {"operator": e.operator, "roles": tuple(e.roles)}  # whoever resumes drives from now on
            joined = {**s.operators, e.operator: tuple(e.roles)}
            return replace(s, healthy=False, last_tick=None, trackers=trackers, operators=joined, **who)
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
        case ev.Paused() if e.auto_only:
            return replace(s, auto_promote=False)
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


def promote_key(session: str, weight: int) -> str:
    """The idempotency key of a promotion: one per (session, stage, action)."""
    return f"{session}:promote:{weight}"


def rollback_key(session: str) -> str:
    return f"{session}:rollback"


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
