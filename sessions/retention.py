"""Retention: delete finished sessions older than an age, keeping each one's chain head.

An open session is never touched. A pruned session's events and session row are deleted
in one transaction with the insert of its head (seq and hash) into `pruned`, so
`audit verify` can still name it and check the head against the anchors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlmodel import Field, SQLModel

from sessions.chain import VerifyResult
from sessions.control import DRIVER, INBOX

AGE = re.compile(r"(\d+)([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class PrunedTable(SQLModel, table=True):
    __tablename__ = "pruned"

    id: str = Field(primary_key=True)
    deployment: str
    started: str
    ended: str
    outcome: str
    head_seq: int
    head_hash: str
    pruned: str  # UTC ISO 8601, when it was pruned


PRUNED = PrunedTable.__table__


@dataclass(frozen=True)
class Pruned:
    id: str
    deployment: str
    started: str
    ended: str
    outcome: str
    head_seq: int
    head_hash: str


def parse_age(text: str) -> timedelta:
    """90d, 12h or 30m; raises ValueError otherwise."""
    found = AGE.fullmatch(text.strip())
    if not found or int(found.group(1)) <= 0:
        raise ValueError(f"not an age like 90d, 12h or 30m: {text!r}")
    return timedelta(**{UNITS[found.group(2)]: int(found.group(1))})


def prune(store: Any, older_than: timedelta, *, dry_run: bool = False) -> list[Pruned]:
    """Finished sessions whose end is older than `older_than`, oldest first; deleted unless `dry_run`."""
    from sessions.tables import EVENT, SESSION

    now = datetime.now(UTC)
    cutoff = (now - older_than).isoformat(timespec="microseconds")
    query = (
        select(*(SESSION.c[name] for name in Pruned.__dataclass_fields__))
        .where(SESSION.c.outcome.is_not(None), SESSION.c.ended < cutoff)
        .order_by(SESSION.c.ended, SESSION.c.id)
    )
    if dry_run:
        with store._read("find sessions to prune") as conn:
            return [Pruned(**row._asdict()) for row in conn.execute(query)]
    with store._write("prune sessions") as conn:
        found = [Pruned(**row._asdict()) for row in conn.execute(query)]
        if not found:
            return []
        ids = [p.id for p in found]
        stamp = now.isoformat(timespec="microseconds")
        conn.execute(insert(PRUNED), [{**p.__dict__, "pruned": stamp} for p in found])
        conn.execute(delete(EVENT).where(EVENT.c.session_id.in_(ids)))
        for table in _present(conn, (DRIVER, INBOX)):  # the control tables exist once a console drove
            conn.execute(delete(table).where(table.c.session_id.in_(ids)))
        conn.execute(delete(SESSION).where(SESSION.c.id.in_(ids)))
    return found


def pruned_results(conn: Any, anchors: dict[str, list[Any]] | None) -> list[VerifyResult]:
    """What `audit verify` says of each pruned session: its kept head, checked against its anchors."""
    results = []
    for row in conn.execute(select(PRUNED).order_by(PRUNED.c.started, PRUNED.c.id)):
        kept = f"pruned (head seq {row.head_seq} hash {row.head_hash} kept)"
        lines = (anchors or {}).get(row.id, [])
        if any(not a.ok for a in lines):
            results.append(VerifyResult(row.id, False, None, f"{kept}, but anchors.log was forged"))
        elif lines and (row.head_seq, row.head_hash) != max((a.seq, a.hash) for a in lines):
            results.append(VerifyResult(row.id, False, None, f"{kept}, but its anchor disagrees"))
        else:
            results.append(VerifyResult(row.id, True, None, kept))
    return results


def _present(conn: Any, tables: tuple[Any, ...]) -> list[Any]:
    found = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    return [table for table in tables if table.name in found]
