"""The guard outlives the terminal: SIGHUP, attach, one driver per session."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from console import events as ev
from console.app import CanaryApp
from console.attach import live_driver
from console.attached import AttachedSession
from console.clock import ManualClock
from console.guard import Guard, me
from console.metrics import SimulatorSource
from console.ops import LocalOps
from console.ops_models import Unreachable
from console.plan import default_plan
from console.runner import Runner
from console.sim import SimModel
from sessions.control import Control
from sessions.store import EventStore

PLAN = default_plan()
CLI = Path(sys.executable).parent / "canary-console"
OPERATOR = "ana@bastion-1"


def wait_for(predicate, timeout: float = 60.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def outcome(db: Path) -> str | None:
    if not db.exists():
        return None
    store = EventStore(db)
    try:
        rows = store.sessions()
        return rows[0].outcome if rows else None
    finally:
        store.close()


def test_the_guard_rolls_back_after_the_terminal_is_gone(tmp_path):
    """A real pseudo-terminal: the console starts on it, the terminal hangs up, the breach still rolls back."""
    db = tmp_path / "s.db"
    cmd = [str(CLI), "--db", str(db), "demo", "--auto-promote", "--attest-all", "t", "--scenario", "error-spike"]
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}

    def controlling_terminal() -> None:  # a new session whose controlling terminal is the pty, as sshd sets up
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(
        [*cmd, "--speed", "300"], stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal, env=env
    )
    os.close(slave)
    try:
        screen = b""
        deadline = time.monotonic() + 30
        while b"Checklist" not in screen and time.monotonic() < deadline:
            screen += os.read(master, 65536)
        assert b"Checklist" in screen, "the console never drew its screen"
        os.close(master)  # the terminal is gone: the kernel hangs up the session (SIGHUP)
        master = -1
        time.sleep(1)
        assert child.poll() is None, "the process died with its terminal"
        assert wait_for(lambda: child.poll() is not None, timeout=90), "the guard never finished"
    finally:
        if master >= 0:
            os.close(master)
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1  # rolled back
    store = EventStore(db)
    (info,) = store.sessions()
    kinds = [k for k, _, _ in store.records(info.id)]
    store.close()
    assert info.outcome == "rolled_back"
    assert "rollback_decided" in kinds and kinds[-2:] == ["rolled_back", "finished"]


def started(session: str, auto: bool = False) -> ev.SessionStarted:
    return ev.SessionStarted(
        at=0.0,
        session=session,
        deployment=PLAN.deployment,
        plan=PLAN.name,
        operator=OPERATOR,
        roles=["admin"],
        auto_promote=auto,
        scenario="healthy",
    )


@pytest.fixture
def store(tmp_path):
    s = EventStore(tmp_path / "s.db")
    yield s
    s.close()


def make_runner(store, session, ops, model, clock) -> Runner:
    metrics = SimulatorSource(model, PLAN)
    return Runner(plan=PLAN, store=store, ops=ops, metrics=metrics, clock=clock, session=session)


def new_session(store: EventStore) -> str:
    return store.open_session(deployment=PLAN.deployment, scenario="healthy", plan=PLAN.name, operator=OPERATOR)


def test_a_fresh_lock_is_never_taken_and_a_stale_one_only_when_asked(store):
    control = Control(store)
    session = new_session(store)
    assert control.acquire(session, "ana", "host-a", 1) is None
    holder = control.acquire(session, "bob", "host-b", 2, take_over=True)
    assert holder is not None and holder.owner == "ana"  # fresh: never taken
    with store._write("age the lock") as conn:
        conn.exec_driver_sql("UPDATE driver SET heartbeat = heartbeat - 120")
    assert control.acquire(session, "bob", "host-b", 2) is not None  # stale, but not asked
    assert control.acquire(session, "bob", "host-b", 2, take_over=True) is None
    assert not control.heartbeat(session, "host-a", 1)  # the old driver learns it lost the lock
    assert control.holds(session, "host-b", 2)


def test_two_drivers_never_both_act(store):
    """The first driver loses its lock to a takeover: it carries out no ops call after that."""
    control = Control(store)
    session = new_session(store)
    model, clock = SimModel("healthy", 7), ManualClock()
    calls: list[str] = []

    class Ops(LocalOps):
        async def promote(self, weight: int, key: str):
            calls.append(f"promote {weight}")
            return await super().promote(weight, key)

    async def go() -> Runner:
        runner = make_runner(store, session, Ops(model, clock), model, clock)
        control.acquire(session, OPERATOR, *me())
        async with Guard(control, runner, session) as guard:
            await runner.start(started(session), [])
            with store._write("steal the lock") as conn:
                conn.exec_driver_sql("UPDATE driver SET host = 'elsewhere', pid = 99")
            for item in PLAN.manual_items():
                runner.submit(ev.ItemAttested(at=0.0, item=item.id, operator=OPERATOR))
            runner.submit(ev.PromoteRequested(at=0.0, operator=OPERATOR))
            await runner._drain_intents()
            assert guard.lost
        return runner

    runner = asyncio.run(go())
    assert calls == []
    assert runner.stopped and "taken over" in runner.stopped
    kinds = [k for k, _, _ in store.records(session)]
    assert "promotion_decided" in kinds and "promoted" not in kinds  # decided, logged, never carried out


def test_intents_posted_by_an_attached_console_reach_the_runner(store):
    control = Control(store)
    session = new_session(store)
    model, clock = SimModel("healthy", 7), ManualClock()

    async def go() -> Runner:
        runner = make_runner(store, session, LocalOps(model, clock), model, clock)
        control.acquire(session, OPERATOR, *me())
        async with Guard(control, runner, session):
            await runner.start(started(session, auto=True), [])
            for item in PLAN.manual_items():
                await runner.feed(ev.ItemAttested(at=0.0, item=item.id, operator=OPERATOR))
            await runner.tick()  # auto-promotes to 10%
            joined = ev.OperatorJoined(at=0.0, operator="bob@bastion-2", roles=["admin"])
            control.post(session, joined.kind, joined.payload())
            intent = ev.RollbackRequested(at=0.0, operator="bob@bastion-2", reason="MANUAL", detail="from attach")
            control.post(session, intent.kind, intent.payload())
            for _ in range(40):
                await asyncio.sleep(0.05)
                await runner._drain_intents()
                if runner.state.outcome:
                    break
        return runner

    runner = asyncio.run(go())
    assert runner.state.outcome == "rolled_back"
    assert runner.state.rollback.by == "bob@bastion-2"
    kinds = [k for k, _, _ in store.records(session)]
    assert kinds.index("operator_joined") < kinds.index("rollback_requested") < kinds.index("rolled_back")


def test_a_viewer_who_attaches_cannot_roll_back(store):
    session = new_session(store)
    model, clock = SimModel("healthy", 7), ManualClock()

    async def go() -> Runner:
        runner = make_runner(store, session, LocalOps(model, clock), model, clock)
        await runner.start(started(session), [])
        await runner.feed(ev.OperatorJoined(at=1.0, operator="eve@bastion-3", roles=["viewer"]))
        await runner.feed(ev.RollbackRequested(at=2.0, operator="eve@bastion-3"))
        await runner.feed(ev.PromoteRequested(at=3.0, operator="mallory@x"))  # never joined
        return runner

    runner = asyncio.run(go())
    kinds = [k for k, _, _ in store.records(session)]
    assert "rollback_decided" not in kinds and "promotion_decided" not in kinds
    assert kinds.count("rollback_refused") == 1 and kinds.count("promote_refused") == 1
    assert runner.state.rollback is None


def test_a_pending_rollback_is_retried_while_the_ops_api_is_down(store):
    session = new_session(store)
    model, clock = SimModel("p1-alert", 7), ManualClock()
    down = {"left": 3}

    class Flaky(LocalOps):
        async def rollback(self, reason: str, detail: str, key: str):
            if down["left"]:
                down["left"] -= 1
                raise Unreachable("ops API unreachable at http://ops: connection refused")
            return await super().rollback(reason, detail, key)

    async def go() -> Runner:
        runner = make_runner(store, session, Flaky(model, clock), model, clock)
        await runner.start(started(session, auto=True), [])
        for item in PLAN.manual_items():
            await runner.feed(ev.ItemAttested(at=0.0, item=item.id, operator=OPERATOR))
        while runner.state.outcome is None and clock.now() < 20000:
            await runner.tick()
            clock.advance(PLAN.poll_interval)
        return runner

    runner = asyncio.run(go())
    assert runner.state.outcome == "rolled_back"
    records = store.records(session)
    failed = [p for k, _, p in records if k == "rollback_failed"]
    keys = {p["key"] for k, _, p in records if k in ("rollback_failed", "rolled_back", "rollback_decided")}
    assert len(failed) == 3 and "unreachable" in failed[0]["error"] and len(keys) == 1


def test_a_second_console_on_a_driven_deployment_watches(tmp_path):
    db = tmp_path / "s.db"
    store = EventStore(db)
    control = Control(store)
    session = store.open_session(deployment=PLAN.deployment, scenario="healthy", plan=PLAN.name, operator=OPERATOR)
    control.acquire(session, OPERATOR, __import__("socket").gethostname(), os.getpid())
    store.close()
    assert live_driver(db, PLAN, "healthy")[0] == session
    assert live_driver(db, PLAN, "error-spike") is None  # another simulated world


async def test_attach_shows_the_current_state_and_sends_intents_to_the_inbox(tmp_path):
    db = tmp_path / "s.db"
    store = EventStore(db)
    session = new_session(store)
    model, clock = SimModel("healthy", 7), ManualClock()
    runner = make_runner(store, session, LocalOps(model, clock), model, clock)
    await runner.start(started(session, auto=True), [])
    for item in PLAN.manual_items():
        await runner.feed(ev.ItemAttested(at=0.0, item=item.id, operator=OPERATOR))
    await runner.tick()
    source = AttachedSession(db, session, PLAN, operator="bob@bastion-2", roles=["admin"], readonly=False)
    app = CanaryApp(source, PLAN)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(50):
            await pilot.pause(0.05)
            if app.main.state.weight == 10:
                break
        assert app.main.state.weight == 10 and app.main.state.phase == "baking"
        await pilot.press("R")
        await pilot.pause(0.1)
        await pilot.press("y")
        taken: list[tuple[str, dict]] = []
        for _ in range(40):
            await pilot.pause(0.05)
            taken += Control(store).take(session)
            if any(kind == "rollback_requested" for kind, _ in taken):
                break
        kinds = [kind for kind, _ in taken]
        assert kinds == ["operator_joined", "rollback_requested"], kinds
    source.stop()
    store.close()


def test_sessions_shows_the_guard_of_open_sessions(tmp_path, capsys):
    from console.cli import main

    db = tmp_path / "s.db"
    store = EventStore(db)
    control = Control(store)
    live = store.open_session(deployment=PLAN.deployment, scenario="a", plan=PLAN.name, operator=OPERATOR)
    dead = store.open_session(deployment=PLAN.deployment, scenario="b", plan=PLAN.name, operator=OPERATOR)
    host = __import__("socket").gethostname()
    control.acquire(live, OPERATOR, host, os.getpid())
    control.acquire(dead, OPERATOR, host, 2**22 + 7)  # no such process
    store.close()
    assert main(["--db", str(db), "sessions", "--json"]) == 0
    rows = {r["id"]: r for r in __import__("json").loads(capsys.readouterr().out)}
    assert rows[live]["guard"] == "live" and rows[live]["driver"]["pid"] == os.getpid()
    assert rows[dead]["guard"] == "gone"
