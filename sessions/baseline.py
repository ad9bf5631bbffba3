"""The deployment's baseline: what a succeeded session saw at 100%.

When a session closes as succeeded, the median of each series' samples during validation
(at 100% of traffic) is written to the `baseline` table, in the same transaction as the
close. The next session of the deployment loads the newest baseline and shows the canary
beside it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlmodel import Field, SQLModel


class BaselineTable(SQLModel, table=True):
    __tablename__ = "baseline"

    session_id: str = Field(primary_key=True)
    series: str = Field(primary_key=True)
    deployment: str = Field(index=True)
    value: float
    recorded: str  # UTC ISO 8601


BASELINE = BaselineTable.__table__


def baseline_from(records: Iterable[tuple[str, float, dict[str, Any]]]) -> dict[str, float]:
    """Median of each series' known samples after validation started (at 100%); series never known are left out."""
    seen: dict[str, list[float]] = {}
    validating = False
    for kind, _, payload in records:
        if kind == "validation_started":
            validating = True
        elif kind == "samples" and validating:
            for name, value in payload["values"].items():
                if value is not None:
                    seen.setdefault(name, []).append(float(value))
    return {name: statistics.median(values) for name, values in sorted(seen.items())}


def write_baseline(conn: Connection, session_id: str, deployment: str) -> dict[str, float]:
    """Inside the store's write transaction: compute the session's baseline from its events and store it."""
    from sessions.tables import EVENT

    rows = conn.execute(
        select(EVENT.c.kind, EVENT.c.at, EVENT.c.payload)
        .where(EVENT.c.session_id == session_id, EVENT.c.kind.in_(("validation_started", "samples")))
        .order_by(EVENT.c.seq)
    )
    values = baseline_from((r.kind, r.at, json.loads(r.payload)) for r in rows)
    recorded = datetime.now(UTC).isoformat(timespec="microseconds")
    if values:
        conn.execute(
            insert(BASELINE),
            [
                {"session_id": session_id, "series": k, "deployment": deployment, "value": v, "recorded": recorded}
                for k, v in values.items()
            ],
        )
    return values


def record_baseline(store: Any, session_id: str) -> dict[str, float]:
    """Write the baseline of a stored session (close_session does this for a succeeded one)."""
    from sessions.tables import SESSION

    with store._write("record the baseline") as conn:
        deployment = conn.execute(select(SESSION.c.deployment).where(SESSION.c.id == session_id)).scalar_one()
        return write_baseline(conn, session_id, deployment)


def load_baseline(store: Any, deployment: str) -> tuple[str, dict[str, float]]:
    """(source session, values) of the deployment's newest baseline; ("", {}) when it has none."""
    with store._read("read the baseline") as conn:
        newest = conn.execute(
            select(BASELINE.c.session_id)
            .where(BASELINE.c.deployment == deployment)
            .order_by(BASELINE.c.recorded.desc(), BASELINE.c.session_id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if newest is None:
            return "", {}
        rows = conn.execute(select(BASELINE.c.series, BASELINE.c.value).where(BASELINE.c.session_id == newest))
        return newest, {r.series: r.value for r in rows}
