"""Resume after a crash: fold the log, reconcile with the ops API, carry out pending work first."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console import events as ev
from console.clock import ManualClock
from console.metrics import SimulatorSource
from console.ops import LocalOps
from console.plan import default_plan
from console.runner import Runner
from console.sim import SimModel
from sessions.store import EventStore

PLAN = default_plan()
OPERATOR = "ana@bastion-1"
CLI = Path(sys.executable).parent / "canary-console"


class Crash(BaseException):
    """The process dies here (kill -9): nothing after this point runs."""


class CountingOps(LocalOps):
    """LocalOps that counts applied weights and can die before or after applying a call."""

    def __init__(self, model: SimModel, clock: ManualClock, *, die: str = "") -> None:
        super().__init__(model, clock)
        self.die = die
        self.applied: list[tuple[str, int]] = []

    async def promote(self, weight: int, key: str):
        if self.die == "before-promote":
            raise Crash
        before = self.model.status()["weight"]
        status = await super().promote(weight, key)
        if before != weight:
            self.applied.append(("promote", weight))
        if self.die == "after-promote":
            raise Crash
        return status

    async def rollback(self, reason: str, detail: str, key: str):
        if self.die == "before-rollback":
            raise Crash
        self.applied.append(("rollback", 0))
        return await super().rollback(reason, detail, key)


def runner_for(store: EventStore, session: str, ops: LocalOps, model: SimModel, clock: ManualClock) -> Runner:
    return Runner(
        plan=PLAN,
        store=store,
        ops=ops,
        metrics=SimulatorSource(model, PLAN),
        clock=clock,
        session=session,
    )


def started(session: str) -> ev.SessionStarted:
    return ev.SessionStarted(
        at=0.0,
        session=session,
        deployment=PLAN.deployment,
        plan=PLAN.name,
        operator=OPERATOR,
        roles=["admin"],
        auto_promote=True,
    )


def marks() -> list[ev.Event]:
    return [ev.ItemAttested(at=0.0, item=i.id, operator=OPERATOR) for i in PLAN.manual_items()]


async def run_until_crash(runner: Runner, clock: ManualClock, until: float = 1e9) -> None:
    try:
        while clock.now() < until and runner.state.outcome is None:
            await runner.tick()
            clock.advance(PLAN.poll_interval)
    except Crash:
        pass


async def resume(store: EventStore, session: str, model: SimModel, clock: ManualClock, ops: LocalOps) -> Runner:
    runner = runner_for(store, session, ops, model, clock)
    resumed = ev.SessionResumed(at=clock.now(), operator=OPERATOR, roles=["admin"], gap=0.0)
    await runner.resume(store.records(session), resumed)
    return runner


@pytest.fixture
def store(tmp_path):
    s = EventStore(tmp_path / "s.db")
    yield s
    s.close()


def new_session(store: EventStore) -> str:
    return store.open_session(deployment=PLAN.deployment, scenario="healthy", plan=PLAN.name, operator=OPERATOR)


@pytest.mark.parametrize("die", ["before-promote", "after-promote"])
def test_a_promotion_interrupted_at_the_ops_call_is_applied_exactly_once(store, die):
    session = new_session(store)
    model, clock = SimModel("healthy", 7), ManualClock()
    ops = CountingOps(model, clock, die=die)

    async def go() -> Runner:
        first = runner_for(store, session, ops, model, clock)
        await first.start(started(session), marks())
        await run_until_crash(first, clock)  # dies at the first promote (0 → 10)
        kinds = [k for k, _, _ in store.records(session)]
        assert kinds[-1] == "promotion_decided"  # the intent was committed before the call
        ops.die = ""
        clock.advance(PLAN.poll_interval)
        second = await resume(store, session, model, clock, ops)
        return second

    second = asyncio.run(go())
    assert second.state.weight == 10 and second.state.phase == "baking"
    assert ops.applied == [("promote", 10)]
    kinds = [k for k, _, _ in store.records(session)]
    assert kinds.count("promoted") == 1 and "session_resumed" in kinds


def test_a_pending_rollback_goes_first_after_a_restart(store):
    session = new_session(store)
    model, clock = SimModel("p1-alert", 7), ManualClock()
    ops = CountingOps(model, clock, die="before-rollback")

    async def go() -> Runner:
        first = runner_for(store, session, ops, model, clock)
        await first.start(started(session), marks())
        await run_until_crash(first, clock)
        assert first.state.rollback is not None and first.state.outcome is None
        ops.die = ""
        clock.advance(5 * PLAN.poll_interval)
        return await resume(store, session, model, clock, ops)

    second = asyncio.run(go())
    assert second.state.outcome == "rolled_back"
    assert ops.applied[-1] == ("rollback", 0) and ops.applied.count(("rollback", 0)) == 1
    assert model.status()["weight"] == 0
    kinds = [k for k, _, _ in store.records(session)]
    assert kinds[kinds.index("session_resumed") :][-2:] == ["rolled_back", "finished"]


def test_time_not_observed_is_never_counted_as_bake(store):
    session = new_session(store)
    model, clock = SimModel("healthy", 7), ManualClock()
    ops = CountingOps(model, clock)

    async def go() -> tuple[float, Runner]:
        first = runner_for(store, session, ops, model, clock)
        await first.start(started(session), marks())
        await run_until_crash(first, clock, until=600.0)  # 10 minutes into the 30-minute bake
        served = first.state.served
        clock.advance(3600.0)  # down for an hour
        second = await resume(store, session, model, clock, ops)
        await second.tick()
        clock.advance(PLAN.poll_interval)
        await second.tick()
        return served, second

    served, second = asyncio.run(go())
    assert 500 <= served < 600
    assert second.state.phase == "baking" and second.state.weight == 10
    assert second.state.served == pytest.approx(served + PLAN.poll_interval)  # only the poll observed healthy


def test_kill_9_then_the_same_command_resumes_the_open_session(tmp_path):
    db = tmp_path / "s.db"
    cmd = [str(CLI), "--db", str(db), "demo", "--headless", "--auto-promote", "--speed", "600", "--seed", "7"]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 30
    while "stage 2/5" not in seen and time.monotonic() < deadline:
        seen += child.stdout.readline()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert "stage 2/5" in seen
    again = subprocess.run([*cmd[:-4], "--speed", "100000"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "session resumed by" in again.stdout and "finished: succeeded" in again.stdout
    assert "stage 1/5" not in again.stdout  # it went on from where it was
    listing = subprocess.run([str(CLI), "--db", str(db), "sessions", "--json"], capture_output=True, text=True)
    assert listing.stdout.count('"id"') == 1
    verify = subprocess.run([str(CLI), "--db", str(db), "audit", "verify"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout
