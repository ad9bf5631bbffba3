"""Who drives a session, and the operator intents waiting for the driver.

One driver per session: a lock row (owner, host, pid, heartbeat). The driver heartbeats;
a lock whose heartbeat is older than `stale_after` can be taken over (audited by the
caller). Consoles that attach to a session do not call the ops API: they post intents
to the session's inbox, and the driver's runner logs and decides on them.

Lives in the same SQLite file as the event log, in tables of its own; it reuses the
store's engine and its one-line StoreError.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlmodel import Field, SQLModel

from sessions.errors import StoreError

STALE_AFTER = 30.0  # seconds without a heartbeat before a driver's lock may be taken over


class DriverTable(SQLModel, table=True):
    __tablename__ = "driver"

    session_id: str = Field(primary_key=True)
    owner: str
    host: str
    pid: int
    since: float  # epoch seconds
    heartbeat: float  # epoch seconds


class InboxTable(SQLModel, table=True):
    __tablename__ = "inbox"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True)
    posted: float  # epoch seconds
    kind: str
    payload: str  # JSON
    taken: bool = False


DRIVER = DriverTable.__table__
INBOX = InboxTable.__table__


@dataclass(frozen=True)
class Driver:
    session: str
    owner: str
    host: str
    pid: int
    since: float
    heartbeat: float

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.heartbeat)

    def stale(self, stale_after: float = STALE_AFTER, now: float | None = None) -> bool:
        return self.age(now) > stale_after

    def gone(self) -> bool:
        """The holder was a process on this host that no longer exists (killed, crashed)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self, now: float | None = None) -> str:
        return f"{self.owner} on {self.host} (pid {self.pid}), heartbeat {self.age(now):.0f}s ago"


class Control:
    """The driver lock and the inbox of one store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        with store._write("create the driver tables") as conn:
            SQLModel.metadata.create_all(conn, tables=[DRIVER, INBOX])

    def driver(self, session: str) -> Driver | None:
        with self.store._read("read the driver") as conn:
            row = conn.execute(select(DRIVER).where(DRIVER.c.session_id == session)).first()
        return _driver(row) if row else None

    def drivers(self) -> dict[str, Driver]:
        with self.store._read("read the drivers") as conn:
            return {r.session_id: _driver(r) for r in conn.execute(select(DRIVER))}

    def acquire(self, session: str, owner: str, host: str, pid: int, *, take_over: bool = False) -> Driver | None:
        """Take the lock; return None when taken, else the current holder (left in place).

        A fresh lock held by another process is never taken; a stale one only with `take_over`.
        """
        now = time.time()
        row = {"session_id": session, "owner": owner, "host": host, "pid": pid, "since": now, "heartbeat": now}
        with self.store._write("take the driver lock") as conn:
            held = conn.execute(select(DRIVER).where(DRIVER.c.session_id == session)).first()
            if held is not None:
                holder = _driver(held)
                mine = holder.host == host and holder.pid == pid
                if not mine and not holder.gone() and not (take_over and holder.stale(now=now)):
                    return holder
                conn.execute(delete(DRIVER).where(DRIVER.c.session_id == session))
            conn.execute(insert(DRIVER).values(row))
        return None

    def heartbeat(self, session: str, host: str, pid: int) -> bool:
        """Refresh the lock; False when this process no longer holds it (taken over)."""
        with self.store._write("heartbeat") as conn:
            done = conn.execute(
                update(DRIVER)
                .where(DRIVER.c.session_id == session, DRIVER.c.host == host, DRIVER.c.pid == pid)
                .values(heartbeat=time.time())
            )
        return done.rowcount == 1

    def holds(self, session: str, host: str, pid: int) -> bool:
        d = self.driver(session)
        return d is not None and d.host == host and d.pid == pid

    def release(self, session: str, host: str, pid: int) -> None:
        with self.store._write("release the driver lock") as conn:
            conn.execute(
                delete(DRIVER).where(DRIVER.c.session_id == session, DRIVER.c.host == host, DRIVER.c.pid == pid)
            )

    def post(self, session: str, kind: str, payload: dict[str, Any]) -> None:
        """Queue an operator intent for the session's driver."""
        try:
            text = json.dumps(payload, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"intent is not JSON: {exc}") from None
        row = {"session_id": session, "posted": time.time(), "kind": kind, "payload": text, "taken": False}
        with self.store._write("post an intent") as conn:
            conn.execute(insert(INBOX).values(row))

    def take(self, session: str) -> list[tuple[str, dict[str, Any]]]:
        """The intents waiting for this session, oldest first; each is handed out once."""
        with self.store._write("take intents") as conn:
            rows = conn.execute(
                select(INBOX.c.id, INBOX.c.kind, INBOX.c.payload)
                .where(INBOX.c.session_id == session, INBOX.c.taken.is_(False))
                .order_by(INBOX.c.id)
            ).all()
            if rows:
                conn.execute(update(INBOX).where(INBOX.c.id.in_([r.id for r in rows])).values(taken=True))
        return [(r.kind, json.loads(r.payload)) for r in rows]


def _driver(row: Any) -> Driver:
    return Driver(row.session_id, row.owner, row.host, row.pid, row.since, row.heartbeat)
