"""Items 7 and 8: a store that cannot write (locked, I/O error, disk full) at any write of a whole rollout.

Each rollout is the quick plan to its end on a real EventStore (with anchors), LocalOps on the
simulator and a ManualClock. The failure is injected at write step N (BEGIN IMMEDIATE, INSERT,
UPDATE or COMMIT), for every N of a healthy and of a rolled-back rollout, once and for eight
session seconds on end; and for real: a second connection holding the write lock, and SQLite's
own page limit filling the file. Every run must keep the guarantees in `assert_guarantees`.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import (
    ERRORS,
    OPERATOR,
    QUICK,
    FailingWrites,
    Outcome,
    RecordingSource,
    WitnessOps,
    anchored_store,
    rollout,
    started,
)

from console import events as ev
from console.clock import ManualClock
from console.headless import Printer
from console.runner import Runner
from console.sim import SimModel
from sessions.anchor import Anchor
from sessions.errors import StoreError
from sessions.store import EventStore

WEIGHTS = [10, 25, 50, 75, 100]


@pytest.fixture
def where(tmp_path: Path) -> Iterator[Path]:
    """A directory for the store: on tmpfs when there is one (the same SQLite, without the fsync wait)."""
    shm = Path("/dev/shm")
    if shm.is_dir():
        with tempfile.TemporaryDirectory(dir=shm) as d:
            yield Path(d)
    else:
        yield tmp_path


def assert_guarantees(store: EventStore, run: Outcome, *, breach: bool) -> None:
    # no ops call without its committed intent
    for action, key, committed in run.ops.calls:
        assert key in committed, f"{action} {key} was called before its decision was committed"
    promotes = [key for action, key, _ in run.ops.calls if action == "promote"]
    rollbacks = [key for action, key, _ in run.ops.calls if action == "rollback"]
    # the rollout completes, promoting each weight once, rolling back only on the breach
    assert run.outcome == ("rolled_back" if breach else "succeeded")
    weights = [f"{run.session}:promote:{w}" for w in WEIGHTS]
    if breach:  # how far it got before the breach depends on the delays; each weight once, then one rollback
        assert promotes == weights[: len(promotes)] and promotes
        assert rollbacks == [f"{run.session}:rollback"] and run.ops.calls[-1][0] == "rollback"
    else:
        assert promotes == weights and rollbacks == []
    # nothing lost: every sample fed up to the end is in the log, once, in order (a poll made while the
    # end itself waited to be saved comes after the session and is not part of it)
    events = store.events(run.session)
    kinds = [e.kind for e in events]
    assert kinds.count("finished") == 1 and kinds[-1] == "finished"
    stored = [(e.at, e.payload["values"]) for e in events if e.kind == "samples"]
    assert stored == [(at, values) for at, values in run.source.fed if at <= events[-1].at]
    assert len(run.source.fed) - len(stored) <= run.failures
    assert store.session(run.session).outcome == run.outcome
    # the chain and its anchors verify
    (result,) = store.verify(run.session)
    assert result.ok and result.reason == "ok", result
    # the operator was told, then told it is over
    if run.failures:
        assert run.troubles and run.troubles[-1] is None
        told = [t for t in run.troubles if t]
        assert told and all(t.startswith("store unavailable, ") and "no ops call until saved" in t for t in told)
    else:
        assert run.troubles == []


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as raw:
        (answer,) = raw.execute("PRAGMA integrity_check").fetchone()
    raw.close()
    return answer


def once_at(n: int):
    def arm(writes: FailingWrites, clock: ManualClock) -> None:
        writes.fail = lambda step: step == n

    return arm


def for_seconds_from(n: int, seconds: float = 8.0):
    """Every write step from step n fails, for `seconds` of session time."""

    def arm(writes: FailingWrites, clock: ManualClock) -> None:
        since: list[float] = []

        def fail(step: int) -> bool:
            if step < n:
                return False
            if not since:
                since.append(clock.now())
            return clock.now() < since[0] + seconds

        writes.fail = fail

    return arm


@pytest.mark.parametrize("breach", [False, True], ids=["healthy", "rolled-back"])
def test_a_write_failing_once_at_every_step_of_a_rollout(where, breach):
    store, writes = anchored_store(where / "s.db", where / "anchor.key")
    with store:
        clean = rollout(store, writes, breach=breach)
        assert_guarantees(store, clean, breach=breach)
        for n in range(1, clean.steps + 1):
            writes.error = ERRORS[n % len(ERRORS)]
            run = rollout(store, writes, breach=breach, arm=once_at(n))
            assert run.failures == 1, n
            assert any(writes.error in (t or "") for t in run.troubles), n
            assert_guarantees(store, run, breach=breach)
    assert integrity(where / "s.db") == "ok"


@pytest.mark.parametrize("breach", [False, True], ids=["healthy", "rolled-back"])
def test_writes_failing_for_eight_seconds_from_every_step_of_a_rollout(where, breach):
    store, writes = anchored_store(where / "s.db", where / "anchor.key")
    with store:
        clean = rollout(store, writes, breach=breach)
        for n in range(1, clean.steps + 1, 3):
            writes.error = ERRORS[n % len(ERRORS)]
            run = rollout(store, writes, breach=breach, arm=for_seconds_from(n))
            assert run.failures > 1, n
            assert_guarantees(store, run, breach=breach)
    assert integrity(where / "s.db") == "ok"


def test_audit_verify_passes_after_the_failures(where, monkeypatch, capsys):
    from console.cli import main

    store, writes = anchored_store(where / "s.db", where / "anchor.key")
    with store:
        for n in (1, 7, 40, 120):
            rollout(store, writes, breach=n % 2 == 0, arm=for_seconds_from(n, 3.0))
    monkeypatch.setenv("CANARY_ANCHOR_KEY", str(where / "anchor.key"))
    assert main(["audit", "verify", "--db", str(where / "s.db")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.endswith(": ok") for line in out)


# -- real SQLite failures, not injected ones ------------------------------------------------------------


class HookedSource(RecordingSource):
    """Runs `hooks[at]()` just before the poll at session time `at`."""

    def __init__(self, model: SimModel, hooks: dict[float, object], breach: bool = False) -> None:
        super().__init__(model, QUICK, breach)
        self.hooks = hooks

    async def sample(self, now: float) -> dict[str, float | None]:
        hook = self.hooks.pop(now, None)
        if hook is not None:
            hook()
        return await super().sample(now)


def hooked_rollout(store: EventStore, hooks: dict[float, object], breach: bool = False) -> Outcome:
    async def go() -> Outcome:
        clock = ManualClock()
        model = SimModel("healthy", 7, poll_interval=QUICK.poll_interval)
        session = store.open_session(deployment=QUICK.deployment, scenario="", plan=QUICK.name, operator=OPERATOR)
        ops = WitnessOps(model, clock, store.path)
        source = HookedSource(model, hooks, breach)
        runner = Runner(plan=QUICK, store=store, ops=ops, metrics=source, clock=clock, session=session)
        result = Outcome("", session, ops, source)
        runner.on_trouble.append(result.troubles.append)
        marks = [ev.ItemAttested(at=0.0, item=i.id, operator=OPERATOR) for i in QUICK.manual_items()]
        await runner.start(started(session), marks)
        result.outcome = await asyncio.wait_for(runner.run(), timeout=60)
        result.failures = sum(1 for t in result.troubles if t)
        return result

    return asyncio.run(go())


@pytest.mark.parametrize("breach", [False, True], ids=["healthy", "rolled-back"])
def test_another_writer_holding_the_lock_past_busy_timeout(tmp_path, monkeypatch, breach):
    import sessions.store

    pragmas = tuple(p.replace("busy_timeout=5000", "busy_timeout=50") for p in sessions.store.PRAGMAS)
    monkeypatch.setattr(sessions.store, "PRAGMAS", pragmas)
    db = tmp_path / "s.db"
    holder = sqlite3.connect(db, isolation_level=None)
    # the lock is held for 8 s: on the breach, over the rollback decision at 10 s (breach from 5 s, sustain 5 s)
    at = 7.0 if breach else 12.0
    hooks = {at: lambda: holder.execute("BEGIN IMMEDIATE"), at + 8: lambda: holder.execute("ROLLBACK")}
    with EventStore(db, Anchor(tmp_path / "anchor.key")) as store:
        run = hooked_rollout(store, hooks, breach)
        assert run.failures >= 8
        assert all("database is locked" in t for t in run.troubles if t)
        assert_guarantees(store, run, breach=breach)
        if breach:  # the rollback waited for its intent to be saved, then went out
            decided = next(e for e in store.events(run.session) if e.kind == "rollback_decided")
            assert decided.at == 10.0 and run.ops.calls[-1][0] == "rollback"
    holder.close()
    assert integrity(db) == "ok"


def test_disk_full_then_space_again(tmp_path):
    db = tmp_path / "s.db"
    limit = {"pages": 1_000_000}
    with EventStore(db, Anchor(tmp_path / "anchor.key")) as store:
        from sqlalchemy import event

        @event.listens_for(store.engine, "connect")
        def _limit(dbapi_connection, _record):
            dbapi_connection.execute(f"PRAGMA max_page_count={limit['pages']}")

        def fill() -> None:
            with sqlite3.connect(db) as raw:
                (pages,) = raw.execute("PRAGMA page_count").fetchone()
            raw.close()
            limit["pages"] = pages  # no room for one more page
            store.engine.dispose()

        def free() -> None:
            limit["pages"] = 1_000_000
            store.engine.dispose()

        run = hooked_rollout(store, {15.0: fill, 24.0: free})
        assert run.failures >= 1
        assert all("database or disk is full" in t for t in run.troubles if t)
        assert_guarantees(store, run, breach=False)
    assert integrity(db) == "ok"


# -- the store's errors are StoreError, one line --------------------------------------------------------


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("step", [1, 2, 3, 4], ids=["begin", "insert", "update", "commit"])
def test_a_failed_append_is_one_store_error_line_and_leaves_nothing(tmp_path, error, step):
    store, writes = anchored_store(tmp_path / "s.db", tmp_path / "anchor.key")
    with store:
        session = store.open_session(deployment="d", scenario="", plan="p", operator="o")
        store.append(session, [("status", 0.0, {"weight": 0})])
        writes.error, writes.steps = error, 0
        writes.fail = lambda n: n == step
        with pytest.raises(StoreError) as caught:
            store.append(session, [("status", 1.0, {"weight": 10})])
        message = str(caught.value)
        assert "\n" not in message and message == f"cannot append in {tmp_path / 's.db'}: {error}"
        assert [e.seq for e in store.events(session)] == [1]
        assert store.session(session).head_seq == 1
        store.append(session, [("status", 2.0, {"weight": 25})])  # and the next one works
        assert [e.seq for e in store.events(session)] == [1, 2]
        assert store.verify(session)[0].ok


def test_a_session_whose_close_failed_is_closed_on_the_retry_without_a_second_copy(where):
    """The last batch is saved but closing the session fails: the retry only closes it."""
    store, writes = anchored_store(where / "s.db", where / "anchor.key")
    with store:
        clean = rollout(store, writes)
        closing = clean.steps  # the last write step: the close's COMMIT
        for n in range(closing - 3, closing + 1):
            run = rollout(store, writes, arm=for_seconds_from(n, 3.0))
            assert_guarantees(store, run, breach=False)


# -- the operator is told: headless lines -----------------------------------------------------------------


def test_printer_prints_one_line_when_trouble_starts_and_one_when_it_ends():
    out = io.StringIO()
    printer = Printer(out)
    printer.trouble("store unavailable, 1 event(s) waiting, no ops call until saved: database is locked")
    printer.trouble("store unavailable, 2 event(s) waiting, no ops call until saved: database is locked")
    printer.trouble("store unavailable, 3 event(s) waiting, no ops call until saved: disk I/O error\x1b[2J\r\nx")
    printer.trouble(None)
    printer.trouble(None)
    lines = out.getvalue().splitlines()
    assert lines == [
        "STORE TROUBLE: store unavailable, 1 event(s) waiting, no ops call until saved: database is locked; retrying",
        "store available again: the waiting events are saved",
    ]


def test_headless_demo_says_when_the_store_fails_and_when_it_is_back(tmp_path, monkeypatch, capsys):
    from console.cli import main

    monkeypatch.setenv("CANARY_ANCHOR_KEY", str(tmp_path / "anchor.key"))
    real_append = EventStore.append
    calls = {"n": 0}

    def flaky(self, session, records):
        calls["n"] += 1
        if 20 <= calls["n"] < 26:
            raise StoreError(f"cannot append in {self.path}: database is locked")
        return real_append(self, session, records)

    monkeypatch.setattr(EventStore, "append", flaky)
    db = tmp_path / "s.db"
    args = ["demo", "--db", str(db), "--headless", "--auto-promote", "--speed", "100000", "--seed", "7"]
    assert main([*args, "--plan", str(Path(__file__).parents[1] / "docs" / "examples" / "quick.toml")]) == 0
    out = capsys.readouterr().out.splitlines()
    trouble = [line for line in out if line.startswith("STORE TROUBLE")]
    back = [line for line in out if line.startswith("store available again")]
    assert len(trouble) == 1 and len(back) == 1
    assert "database is locked" in trouble[0]
    assert out.index(trouble[0]) < out.index(back[0])
    assert out[-1].endswith("all SLOs met") and "finished: succeeded" in out[-1]
    monkeypatch.undo()
    monkeypatch.setenv("CANARY_ANCHOR_KEY", str(tmp_path / "anchor.key"))
    assert main(["audit", "verify", "--db", str(db)]) == 0
