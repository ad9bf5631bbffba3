"""Starting a session, or resuming the open one for the same deployment after a crash.

A session that was not finished stays open in the store. Starting the same command again
(or `canary-console resume [ID]`) folds its log, records a SessionResumed event with the
time that was not observed, reconciles with the ops API and carries on at the same stage.
`--new` closes the open session as aborted and starts afresh.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


class DrivenElsewhere(UsageError):
    """The deployment's open session has a live driver: this console may only watch."""

    def __init__(self, session: str, holder: Any) -> None:
        self.session, self.holder = session, holder
        super().__init__(
            f"session {session} is driven by {holder.describe()}; watch or help with: canary-console attach {session}"
        )


class StaleDriver(UsageError):
    """The open session's driver stopped heartbeating: taking over needs a typed confirmation."""

    def __init__(self, session: str, holder: Any) -> None:
        self.session, self.holder = session, holder
        super().__init__(
            f"session {session} was driven by {holder.describe()}; take it over with --take-over {session}"
        )


@dataclass
class Begun:
    store: Any
    control: Any
    session: str
    starter: Starter


def begin(
    r: Any,
    db: Any,
    auto_promote: bool,
    *,
    new: bool = False,
    session_id: str | None = None,
    take_over: str | None = None,
) -> Begun:
    """Open the store; resume `session_id` or the deployment's open session, else start one.

    The driver lock is taken first: a session with a live driver is never driven twice, and
    one whose driver went quiet is taken over only when `take_over` names it (audited).
    """
    from console.guard import me
    from sessions.anchor import Anchor
    from sessions.control import Control
    from sessions.store import EventStore

    store = EventStore(db or default_db(), Anchor())
    try:
        control = Control(store)
        found = (
            store.session(store.resolve(session_id))
            if session_id
            else open_session_for(store, r.plan.deployment, r.scenario)
        )
        if found is not None and not found.is_open:
            raise UsageError(f"session {found.id} is finished ({found.outcome}); nothing to resume")
        host, pid = me()
        if found is not None:
            before = control.driver(found.id)
            holder = control.acquire(found.id, r.operator, host, pid, take_over=take_over == found.id)
            if holder is not None and not holder.stale():
                raise DrivenElsewhere(found.id, holder)
            if holder is not None:
                raise StaleDriver(found.id, holder)
            note = ""
            if before is not None and (before.host, before.pid) != (host, pid):
                why = "its process is gone" if before.gone() else "it stopped heartbeating (typed --take-over)"
                note = f"took over from {before.describe()}: {why}"
        if found is not None and new:
            _supersede(store, found.id)
            control.release(found.id, host, pid)
            found = None
        if found is not None:
            return Begun(store, control, found.id, _resumer(store, found, r, note))
        session = store.open_session(
            deployment=r.plan.deployment, scenario=r.scenario, plan=r.plan.name, operator=r.operator, meta=r.meta
        )
        control.acquire(session, r.operator, host, pid)
        starter = _starter(session, r, auto_promote, store)
    except BaseException:
        store.close()
        raise
    return Begun(store, control, session, starter)


def _starter(session: str, r: Any, auto_promote: bool, store: Any) -> Starter:
    """SessionStarted, then the deployment's baseline (if a session succeeded before), then the attestations."""
    from sessions.baseline import load_baseline

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
    source, values = load_baseline(store, r.plan.deployment)
    marks: list[ev.Event] = [ev.BaselineLoaded(at=r.clock.now(), values=values, source=source)] if values else []
    marks += [ev.ItemAttested(at=r.clock.now(), item=i, operator=r.operator, note=n) for i, n in r.attestations]

    async def start(runner: Any) -> None:
        await runner.start(started, marks)

    return start


def _resumer(store: Any, info: Any, r: Any, took_over: str = "") -> Starter:
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
    changed = ev.DriverChanged(at=r.clock.now(), operator=r.operator, previous=info.operator, reason=took_over)

    done = {p["item"] for kind, _, p in records if kind in ("attested", "waived")}
    marks = [  # attestations given on this command line that the log does not have yet (killed before they landed)
        ev.ItemAttested(at=r.clock.now(), item=i, operator=r.operator, note=n)
        for i, n in r.attestations
        if i not in done
    ]

    async def resume(runner: Any) -> None:
        await runner.resume(records, resumed, [changed] if took_over else [])
        for mark in marks:
            await runner.feed(mark)

    return resume


def _supersede(store: Any, session: str) -> None:
    last = store.events(session)
    at = last[-1].at if last else 0.0
    done = ev.Finished(at=at, outcome="aborted", detail="superseded: a new session was started with --new")
    store.append(session, [ev.to_record(done)])
    store.close_session(session, "aborted")


def resume_args(store_db: Any, session_id: str | None, headless: bool, take_over: bool) -> argparse.Namespace:
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
        **{k: v for k, v in meta.items() if k not in ("command", "attest", "attest_all")},
        command=meta["command"],
        db=store_db,
        headless=headless,
        resume_id=info.id,
        take_over=info.id if take_over else None,
        new=False,
        idle_lock=15.0,
        readonly=False,
        attest=meta.get("attest") or [],
        attest_all=meta.get("attest_all"),
    )
