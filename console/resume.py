"""Starting a session, or resuming the open one for the same deployment after a crash.

A session that was not finished stays open in the store. Starting the same command again
(or `canary-console resume [ID]`) folds its log, records a SessionResumed event with the
time that was not observed, reconciles with the ops API and carries on at the same stage.
`--new` closes the open session as aborted and starts afresh.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from console import events as ev
from console.cli import UsageError, default_db

Starter = Callable[[Any], Awaitable[None]]


def open_session_for(store: Any, deployment: str, scenario: str = "") -> Any:
    """The newest open session of `deployment`, or None. Each demo scenario is its own simulated world."""
    return next(
        (s for s in store.sessions() if s.is_open and s.deployment == deployment and s.scenario == scenario), None
    )


def begin(r: Any, db: Any, auto_promote: bool, *, new: bool = False, session_id: str | None = None) -> tuple:
    """Open the store; resume `session_id` or the deployment's open session, else start one.

    Returns (store, session id, starter) where `await starter(runner)` starts or resumes it.
    """
    from sessions.store import EventStore

    store = EventStore(db or default_db())
    try:
        found = (
            store.session(store.resolve(session_id))
            if session_id
            else open_session_for(store, r.plan.deployment, r.scenario)
        )
        if found is not None and not found.is_open:
            raise UsageError(f"session {found.id} is finished ({found.outcome}); nothing to resume")
        if found is not None and new:
            _supersede(store, found.id)
            found = None
        if found is not None:
            return store, found.id, _resumer(store, found, r)
        session = store.open_session(
            deployment=r.plan.deployment, scenario=r.scenario, plan=r.plan.name, operator=r.operator, meta=r.meta
        )
    except BaseException:
        store.close()
        raise
    return store, session, _starter(session, r, auto_promote)


def _starter(session: str, r: Any, auto_promote: bool) -> Starter:
    started = ev.SessionStarted(
        at=r.clock.now(),
        session=session,
        deployment=r.plan.deployment,
        plan=r.plan.name,
        operator=r.operator,
        roles=r.roles,
        auto_promote=auto_promote,
        scenario=r.scenario,
    )
    marks: list[ev.Event] = [
        ev.ItemAttested(at=r.clock.now(), item=i, operator=r.operator, note=n) for i, n in r.attestations
    ]

    async def start(runner: Any) -> None:
        await runner.start(started, marks)

    return start


def _resumer(store: Any, info: Any, r: Any) -> Starter:
    rows = store.events(info.id)
    records = [(row.kind, row.at, row.payload) for row in rows]
    last_at = rows[-1].at if rows else 0.0
    wall_gap = (datetime.now(UTC) - datetime.fromisoformat(rows[-1].wall)).total_seconds() if rows else 0.0
    gap = max(0.0, wall_gap) * r.clock.speed
    r.clock.jump(last_at + gap)
    if r.sim is not None:  # the embedded simulator restarts empty: give it back its traffic history
        for kind, at, payload in records:
            if kind == "promoted":
                r.sim.promote(payload["weight"], at)
            elif kind == "rolled_back":
                r.sim.rollback("resume", "", at)
    resumed = ev.SessionResumed(at=r.clock.now(), operator=r.operator, roles=r.roles, gap=round(gap, 3))

    async def resume(runner: Any) -> None:
        await runner.resume(records, resumed)

    return resume


def _supersede(store: Any, session: str) -> None:
    last = store.events(session)
    at = last[-1].at if last else 0.0
    done = ev.Finished(at=at, outcome="aborted", detail="superseded: a new session was started with --new")
    store.append(session, [ev.to_record(done)])
    store.close_session(session, "aborted")


def resume_args(store_db: Any, session_id: str | None, headless: bool) -> argparse.Namespace:
    """The command line a session was started with, from its stored meta."""
    from sessions.store import EventStore

    store = EventStore(store_db or default_db())
    try:
        if session_id:
            info = store.session(store.resolve(session_id))
        else:
            info = next((s for s in store.sessions() if s.is_open), None)
            if info is None:
                raise UsageError("no open session to resume")
    finally:
        store.close()
    meta = dict(info.meta)
    if not info.is_open:
        raise UsageError(f"session {info.id} is finished ({info.outcome}); nothing to resume")
    if meta.get("command") not in ("demo", "run"):
        raise UsageError(f"session {info.id} does not say how it was started; start it again with the same command")
    return argparse.Namespace(
        **{k: v for k, v in meta.items() if k != "command"},
        command=meta["command"],
        db=store_db,
        headless=headless,
        resume_id=info.id,
        new=False,
        readonly=False,
        attest=[],
        attest_all=None,
    )
