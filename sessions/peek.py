"""A quick look at who drives a deployment's open session, with the plain sqlite3 module.

Used before the screen's first frame, so it must not import SQLAlchemy or SQLModel.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
