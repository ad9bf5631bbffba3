"""Read-only looks at the store with the plain sqlite3 module: who drives a deployment's
open session, and a whole session's log for replay.

Used before a screen's first frame: importing SQLModel (sessions.store) costs more than
reading a 2-hour log, so this must not import SQLAlchemy or SQLModel. The table and
column names are those of sessions/tables.py.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

from sessions.errors import StoreError


def open_driver(db: Path, deployment: str, scenario: str) -> tuple[str, str, str, int, float] | None:
    """(session, owner, host, pid, heartbeat epoch) of the newest open session's driver, if any."""
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            return conn.execute(
                "SELECT s.id, d.owner, d.host, d.pid, d.heartbeat FROM session s JOIN driver d ON d.session_id = s.id"
                " WHERE s.outcome IS NULL AND s.deployment = ? AND s.scenario = ? ORDER BY s.started DESC LIMIT 1",
                (deployment, scenario),
            ).fetchone()
    except sqlite3.Error:
        return None


def read_log(db: Path, id_or_prefix: str) -> tuple[sqlite3.Row, list[tuple[str, float, str, str]]]:
    """The session row and its events' (wall, at, kind, payload), read-only with the standard library:
    importing sqlmodel (sessions.store) costs more than reading a 2-hour log."""
    if not db.is_file():
        raise StoreError(f"no session store at {db}")
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute(
                "SELECT id, plan, meta FROM session WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id != ? LIMIT 2",
                (id_or_prefix, re.sub(r"([%_\\])", r"\\\1", id_or_prefix) + "%", id_or_prefix),
            ).fetchall()
            if not id_or_prefix or not found:
                raise StoreError(f"no session matches {id_or_prefix}")
            if len(found) > 1 and found[0]["id"] != id_or_prefix:
                raise StoreError(f"{id_or_prefix} is ambiguous")
            rows = conn.execute(
                "SELECT wall, at, kind, payload FROM event WHERE session_id = ? ORDER BY seq", (found[0]["id"],)
            ).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read sessions from {db}: {exc}") from None
    return found[0], [tuple(r) for r in rows]
