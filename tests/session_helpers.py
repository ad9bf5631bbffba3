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


def record(db: Path, scenario: str, plan: Plan, before: list[ev.Event] = (), seed: int = 7) -> str:
    """Run `scenario` to its end with auto-promote; every manual item attested unless `before` handles it."""

    async def go() -> str:
        clock = ManualClock()
        model = SimModel(scenario, seed, poll_interval=plan.poll_interval)
        with EventStore(db) as store:
            session = store.open_session(
                deployment=plan.deployment, scenario=scenario, plan=plan.name, operator=OPERATOR
            )
            runner = Runner(
                plan=plan,
                store=store,
                ops=LocalOps(model, clock),
                metrics=SimulatorSource(model, plan),
                clock=clock,
                session=session,
            )
            started = ev.SessionStarted(
                at=0.0,
                session=session,
                deployment=plan.deployment,
                plan=plan.name,
                operator=OPERATOR,
                roles=["admin"],
                auto_promote=True,
                scenario=scenario,
            )
            handled = {e.item for e in before if isinstance(e, ev.ItemAttested | ev.ItemWaived)}
            marks = [ev.ItemAttested(at=0.0, item=i.id, operator=OPERATOR) for i in plan.manual_items()]
            await runner.start(started, [*before, *(m for m in marks if m.item not in handled)])
            await runner.run()
            return session

    return asyncio.run(go())
