"""Builders for screen tests: recorded sessions from the simulator, and a live demo session."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from console import events as ev
from console.app import CanaryApp
from console.clock import ManualClock
from console.commands import Rollout
from console.live import LiveSession
from console.metrics import SimulatorSource
from console.ops import LocalOps
from console.plan import default_plan
from console.recorded import RecordedSession
from console.runner import Runner
from console.sim import SimModel

SESSION = "20261128-090000-demo"


class MemoryStore:
    """Keeps nothing: the recorded events are collected by a listener."""

    def append(self, session: str, records: list) -> int:
        return len(records)

    def close_session(self, session: str, outcome: str) -> None:
        return None


def record(
    scenario: str = "healthy",
    *,
    until: float,
    seed: int = 7,
    roles: tuple[str, ...] = ("admin",),
    attest: bool = True,
    auto: bool = True,
) -> list[ev.Event]:
    """The events of a simulated rollout up to `until` session seconds (auto-promoted)."""
    plan = default_plan()
    clock = ManualClock()
    model = SimModel(scenario, seed, poll_interval=plan.poll_interval)
    events: list[ev.Event] = []
    runner = Runner(
        plan=plan,
        store=MemoryStore(),
        ops=LocalOps(model, clock),
        metrics=SimulatorSource(model, plan),
        clock=clock,
        session=SESSION,
        listeners=[lambda e, s: events.append(e)],
    )
    started = ev.SessionStarted(
        at=0.0,
        session=SESSION,
        deployment=plan.deployment,
        plan=plan.name,
        operator="ana@bastion-1",
        roles=list(roles),
        auto_promote=auto,
        scenario=scenario,
    )
    marks = [ev.ItemAttested(at=0.0, item=i.id, operator="ana@bastion-1", note="") for i in plan.manual_items()]

    async def go() -> None:
        await runner.start(started, marks if attest else [])
        while clock.now() <= until and runner.state.outcome is None:
            await runner.tick()
            clock.advance(plan.poll_interval)

    with ThreadPoolExecutor(1) as pool:  # callable from inside a running event loop too
        pool.submit(asyncio.run, go()).result()
    return events


def recorded_app(events: list[ev.Event], *, readonly: bool = False, in_flight: str | None = None) -> CanaryApp:
    session = RecordedSession(default_plan(), events)
    session.in_flight = in_flight
    return CanaryApp(session, default_plan(), readonly=readonly, speed=60.0)


QUICK = Path(__file__).parents[1] / "docs" / "examples" / "quick.toml"


def live_app(tmp_path: Path, scenario: str = "healthy", *, speed: float = 10.0, **kwargs: Any) -> CanaryApp:
    """A real session: the runner in its thread, the embedded simulator, the quick plan, a store in tmp_path."""
    from console.clock import SteppedClock
    from console.plan import load_plan

    plan = load_plan(QUICK)
    marks = [(i.id, "test") for i in plan.manual_items()]

    async def prepare() -> Rollout:
        clock = SteppedClock(speed)
        model = SimModel(scenario, 7, poll_interval=plan.poll_interval)
        ops, metrics = LocalOps(model, clock), SimulatorSource(model, plan)
        return Rollout(plan, ops, metrics, clock, "ana@bastion-1", ["admin"], marks, scenario)

    session = LiveSession(prepare, db=tmp_path / "s.db", auto_promote=False)
    return CanaryApp(session, plan, speed=speed, **kwargs)
