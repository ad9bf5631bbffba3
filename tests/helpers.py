"""Shared builders for the core tests: small rules, healthy samples and a hand-fed conductor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from console import engine
from console import events as ev
from console.plan import Plan, Rule
from console.rules import Tracker, observe

POLL = 10.0
MAX_GAP = 20.0
NO_CAP = 2.0  # a breaching share that can never be reached: the cumulative cap is off

# A healthy value for every rule series of the default plan.
HEALTHY: dict[str, float] = {
    "p95_latency": 2.0,
    "error_rate": 0.002,
    "success_rate": 0.99,
    "webhook_signatures": 1.0,
    "db_connection_failures": 0.0,
    "critical_alerts": 0.0,
    "publish_success:instagram": 0.98,
    "publish_success:tiktok": 0.98,
    "publish_success:reddit": 0.98,
}


def rule(comparator: str = ">", threshold: float = 10.0, sustain: float = 60.0, **fields: Any) -> Rule:
    """A small rule; `fields` override anything else (on_no_data, unit, name...)."""
    data = {"name": "r", "title": "R", "query": "q", "comparator": comparator, "threshold": threshold}
    return Rule(**{**data, "sustain": sustain, **fields})


def observe_all(
    r: Rule,
    samples: Iterable[tuple[float, float | None]],
    *,
    cap: float = NO_CAP,
    max_gap: float = MAX_GAP,
    poll: float = POLL,
) -> list[Tracker]:
    """The tracker after each (at, value) sample, starting from a fresh one."""
    tr = Tracker(r.name)
    out = []
    for at, value in samples:
        tr = observe(r, tr, at, value, max_gap=max_gap, cap=cap, poll=poll)
        out.append(tr)
    return out


def every(start: float, end: float, value: float | None, step: float = POLL) -> list[tuple[float, float | None]]:
    """(at, value) every `step` seconds from `start` up to and including `end`."""
    n = round((end - start) / step)
    return [(start + k * step, value) for k in range(n + 1)]


class Driver:
    """Feeds hand-built events to `engine.decide` as the runner does, keeping the logged events."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.state = engine.initial(plan)
        self.log: list[ev.Event] = []
        self.checks: list[ev.RunCheck] = []  # RunCheck commands not answered yet

    def feed(self, e: ev.Event) -> tuple[list[ev.Event], list[ev.Command]]:
        state, decisions, commands = engine.decide(self.state, e)
        self.log += [e, *decisions]
        self.state = state
        self.checks += [c for c in commands if isinstance(c, ev.RunCheck)]
        return decisions, commands

    def start(
        self,
        at: float = 0.0,
        *,
        operator: str = "ana",
        roles: tuple[str, ...] = ("admin",),
        auto: bool = False,
        session: str = "s1",
    ) -> tuple[list[ev.Event], list[ev.Command]]:
        started = ev.SessionStarted(
            at=at,
            session=session,
            deployment=self.plan.deployment,
            plan=self.plan.name,
            operator=operator,
            roles=list(roles),
            auto_promote=auto,
        )
        return self.feed(started)

    def pass_checks(self, at: float) -> None:
        """Answer every RunCheck command issued so far with an ok result."""
        checks, self.checks = self.checks, []
        for c in checks:
            self.feed(ev.CheckResult(at=at, item=c.item, target=c.target, ok=True, detail="ok"))

    def attest_all(self, at: float, operator: str = "ana") -> None:
        for item in self.plan.manual_items():
            self.feed(ev.ItemAttested(at=at, item=item.id, operator=operator))

    def ready(self, at: float, operator: str = "ana") -> None:
        """Pre-flight done: every check passed and every manual item attested."""
        self.pass_checks(at)
        self.attest_all(at, operator)

    def promoted(self, weight: int, at: float) -> tuple[list[ev.Event], list[ev.Command]]:
        """The ops API confirmed `weight`, with every pod ready."""
        decisions, commands = self.feed(ev.Promoted(at=at, weight=weight, key=f"{self.state.session}:promote:{weight}"))
        self.feed(ev.StatusRead(at=at, weight=weight, ready=10, desired=10, state="progressing"))
        return decisions, commands

    def sample(self, at: float, **overrides: float | None) -> tuple[list[ev.Event], list[ev.Command]]:
        """A poll with every rule series healthy except `overrides` (use `__` for `:`)."""
        values: dict[str, float | None] = dict(HEALTHY)
        values.update({k.replace("__", ":"): v for k, v in overrides.items()})
        return self.feed(ev.Samples(at=at, values=values))

    def samples_until(self, start: float, end: float, **overrides: float | None) -> list[ev.Event]:
        """Polls every 10 s from `start` to `end` inclusive; the decisions they produced."""
        out: list[ev.Event] = []
        for at, _ in every(start, end, None):
            out += self.sample(at, **overrides)[0]
        return out


def of(kind: type, events: Iterable[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]
