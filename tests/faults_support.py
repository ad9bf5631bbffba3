"""Builders for the fault tests: a real EventStore whose SQLite writes fail on demand, and a witnessed rollout.

`FailingWrites` raises the sqlite3 error SQLite itself raises ("database is locked", "disk I/O
error", "database or disk is full") at chosen write steps of the store: each BEGIN IMMEDIATE,
INSERT, UPDATE and COMMIT of a write transaction is one step, counted from 1. `rollout` drives
the quick plan to its end in-process (ManualClock, LocalOps on the simulator) and records every
ops call with what the log held at that moment.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

from console import events as ev
from console.clock import ManualClock
from console.metrics import SimulatorSource
from console.ops import LocalOps
from console.plan import Plan, load_plan, parse_plan
from console.runner import Runner
from console.sim import SimModel
from sessions.anchor import Anchor
from sessions.store import EventStore

QUICK_TOML = Path(__file__).parents[1] / "docs" / "examples" / "quick.toml"
QUICK = load_plan(QUICK_TOML)
OPERATOR = "ana@bastion-1"
ERRORS = ("database is locked", "disk I/O error", "database or disk is full")
BREACH_AT = 5.0  # session seconds: the "breach" rollout's p95 goes bad from here (a sustain of 5 s later: rollback)

# quick.toml with bakes of 2 s and a validation of 3 s: a whole rollout in about 15 polls
_TINY = QUICK_TOML.read_text().replace('"10s" }', '"2s" }').replace('"5s" }', '"2s" }')
TINY = parse_plan(_TINY.replace('validation = "15s"', 'validation = "3s"'), "tiny")


class FailingWrites:
    """Make the store's write steps fail where `fail(step)` says so, with `sqlite3.OperationalError(error)`."""

    def __init__(self, store: EventStore, error: str = ERRORS[0]) -> None:
        self.error = error
        self.fail: Callable[[int], bool] = lambda step: False
        self.steps = 0
        self.failures = 0
        self._writing = False
        event.listen(store.engine, "do_execute", self._execute)
        event.listen(store.engine, "do_executemany", self._execute)
        dialect = store.engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            if self._writing:
                self._writing = False
                self._step()
            commit(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            self._writing = False
            rollback(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    def _execute(self, cursor: Any, statement: str, parameters: Any, context: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if statement.upper().startswith("BEGIN IMMEDIATE"):
            self._writing = True
        if verb in ("BEGIN", "INSERT", "UPDATE", "DELETE") and self._writing:
            self._step()

    def _step(self) -> None:
        self.steps += 1
        if self.fail(self.steps):
            self.failures += 1
            self._writing = False
            raise sqlite3.OperationalError(self.error)


class WitnessOps(LocalOps):
    """LocalOps that records each promote/rollback call with the decisions committed in the file at that moment."""

    def __init__(self, model: SimModel, clock: ManualClock, db: Path) -> None:
        super().__init__(model, clock)
        self.db = db
        self.calls: list[tuple[str, str, set[str]]] = []  # (action, key, keys of committed decisions)

    def _committed(self) -> set[str]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as raw:
            rows = raw.execute(
                "SELECT json_extract(payload, '$.key') FROM event"
                " WHERE kind IN ('promotion_decided', 'rollback_decided')"
            ).fetchall()
        raw.close()
        return {key for (key,) in rows}

    async def promote(self, weight: int, key: str):
        self.calls.append(("promote", key, self._committed()))
        return await super().promote(weight, key)

    async def rollback(self, reason: str, detail: str, key: str):
        self.calls.append(("rollback", key, self._committed()))
        return await super().rollback(reason, detail, key)


class RecordingSource(SimulatorSource):
    """The simulator's samples, each remembered as fed; from BREACH_AT p95 breaches when `breach`."""

    def __init__(self, model: SimModel, plan: Plan, breach: bool) -> None:
        super().__init__(model, plan)
        self.breach = breach
        self.fed: list[tuple[float, dict[str, float | None]]] = []

    async def sample(self, now: float) -> dict[str, float | None]:
        values = await super().sample(now)
        if self.breach and now >= BREACH_AT:
            values["p95_latency"] = 20.0
        self.fed.append((now, values))
        return values


@dataclass
class Outcome:
    outcome: str
    session: str
    ops: WitnessOps
    source: RecordingSource
    troubles: list[str | None] = field(default_factory=list)
    steps: int = 0  # write steps the store took
    failures: int = 0  # of which failed


def started(session: str, plan: Plan = QUICK) -> ev.SessionStarted:
    return ev.SessionStarted(
        at=0.0,
        session=session,
        deployment=plan.deployment,
        plan=plan.name,
        operator=OPERATOR,
        roles=["admin"],
        auto_promote=True,
    )


def rollout(
    store: EventStore,
    writes: FailingWrites,
    *,
    breach: bool = False,
    arm: Callable[[FailingWrites, ManualClock], None] | None = None,
    plan: Plan = TINY,
) -> Outcome:
    """A new session on the quick plan to its end, auto-promoted; `arm(writes, clock)` sets the failures."""

    async def go() -> Outcome:
        clock = ManualClock()
        model = SimModel("healthy", 7, poll_interval=plan.poll_interval)
        session = store.open_session(deployment=plan.deployment, scenario="", plan=plan.name, operator=OPERATOR)
        writes.steps = writes.failures = 0
        writes.fail = lambda step: False
        if arm is not None:
            arm(writes, clock)
        ops = WitnessOps(model, clock, store.path)
        source = RecordingSource(model, plan, breach)
        runner = Runner(plan=plan, store=store, ops=ops, metrics=source, clock=clock, session=session)
        result = Outcome("", session, ops, source)
        runner.on_trouble.append(result.troubles.append)
        marks = [ev.ItemAttested(at=0.0, item=i.id, operator=OPERATOR) for i in plan.manual_items()]
        await runner.start(started(session, plan), marks)
        result.outcome = await asyncio.wait_for(runner.run(), timeout=60)
        result.steps, result.failures = writes.steps, writes.failures
        writes.fail = lambda step: False
        return result

    return asyncio.run(go())


def anchored_store(db: Path, key: Path) -> tuple[EventStore, FailingWrites]:
    store = EventStore(db, Anchor(key))
    return store, FailingWrites(store)
