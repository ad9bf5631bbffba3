"""Record a small simulated session in-process (runner, LocalOps, ManualClock) for export and backtest tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from console import events as ev
from console.clock import ManualClock
from console.metrics import SimulatorSource
from console.ops import LocalOps
from console.plan import Plan
from console.runner import Runner
from console.sim import SimModel
from sessions.store import EventStore

OPERATOR = "ana@bastion"


def simulated(
    plan: Plan, scenario: str, store, session: str, clock: ManualClock, seed: int = 7
) -> tuple[Runner, SimModel]:
    """A runner on the embedded simulator: LocalOps and SimulatorSource on one seeded model."""
    model = SimModel(scenario, seed, poll_interval=plan.poll_interval)
    metrics = SimulatorSource(model, plan)
    runner = Runner(plan=plan, store=store, ops=LocalOps(model, clock), metrics=metrics, clock=clock, session=session)
    return runner, model


def start_events(plan: Plan, session: str, scenario: str, operator: str = OPERATOR) -> tuple[ev.SessionStarted, list]:
    """The session's start (admin, auto-promote) and an attestation of every manual item that gates it."""
    started = ev.SessionStarted(
        at=0.0,
        session=session,
        deployment=plan.deployment,
        plan=plan.name,
        operator=operator,
        roles=["admin"],
        auto_promote=True,
        scenario=scenario,
    )
    return started, [ev.ItemAttested(at=0.0, item=i.id, operator=operator) for i in plan.manual_items()]


def record(db: Path, scenario: str, plan: Plan, before: list[ev.Event] = (), seed: int = 7) -> str:
    """Run `scenario` to its end with auto-promote; every manual item attested unless `before` handles it."""

    async def go() -> str:
        with EventStore(db) as store:
            session = store.open_session(
                deployment=plan.deployment, scenario=scenario, plan=plan.name, operator=OPERATOR
            )
            runner, _ = simulated(plan, scenario, store, session, ManualClock(), seed)
            started, marks = start_events(plan, session, scenario)
            handled = {e.item for e in before if isinstance(e, ev.ItemAttested | ev.ItemWaived)}
            await runner.start(started, [*before, *(m for m in marks if m.item not in handled)])
            await runner.run()
            return session

    return asyncio.run(go())
