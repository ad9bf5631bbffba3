"""EventStore: the append-only, hash-chained log of canary sessions in SQLite.

One writer at a time: every append is one `BEGIN IMMEDIATE` transaction that reads the
session's head, inserts the batch with one executemany and moves the head. WAL and
`synchronous=FULL` make a committed intent survive a crash; the file is mode 0600.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import URL, Connection, create_engine, event, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import SQLModel

from sessions.anchor import Anchor, AnchorLine
from sessions.baseline import BASELINE, write_baseline
from sessions.chain import ChainRow, VerifyResult, canonical_json, genesis_hash, link, verify_rows
from sessions.errors import StoreError
from sessions.retention import PRUNED, pruned_results
from sessions.tables import EVENT, SESSION

OUTCOMES = ("succeeded", "rolled_back", "aborted")
WEIGHT_KINDS = ("promoted", "status")
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON")


@dataclass(frozen=True)
class SessionInfo:
    id: str
    deployment: str
    scenario: str
    plan: str
    operator: str
    started: str
    ended: str | None
    outcome: str | None
    highest_weight: int
    head_seq: int
    head_hash: str
    meta: dict[str, Any]

    @property
    def is_open(self) -> bool:
        return self.outcome is None


class StoredEvent(NamedTuple):
    seq: int
    at: float
    wall: str
    kind: str
    payload: dict[str, Any]


class EventStore:
    """`anchor`, when given, records each new chain head outside the file (sessions/anchor.py)."""

    def __init__(self, path: Path, anchor: Anchor | None = None) -> None:
        self.path = Path(path)
        self.anchor = anchor
        _create_private_file(self.path)
        self.engine = create_engine(URL.create("sqlite", database=str(self.path)))
        event.listen(self.engine, "connect", _on_connect)
        event.listen(self.engine, "begin", _on_begin)
        try:
            # BEGIN IMMEDIATE: two processes creating a fresh store wait for each other instead of failing
            with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
                SQLModel.metadata.create_all(conn, tables=[SESSION, EVENT, PRUNED, BASELINE])
        except SQLAlchemyError as exc:
            self.engine.dispose()
            reason = _db_reason(exc)
            if "not a database" in reason:
                raise StoreError(f"{self.path} is not a SQLite database") from exc
            raise StoreError(f"cannot open store {self.path}: {reason}") from exc
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def close(self) -> None:
        self.engine.dispose()
        if self.anchor is not None:
            self.anchor.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------

    def open_session(
        self, *, deployment: str, scenario: str, plan: str, operator: str, meta: dict[str, Any] | None = None
    ) -> str:
        """Create an open session and return its id, e.g. 20261128-085301-3fa2."""
        try:
            meta_text = canonical_json(meta or {})
        except (TypeError, ValueError) as exc:
            raise StoreError(f"session meta is not JSON: {exc}") from None
        for _ in range(8):
            now = datetime.now(UTC)
            session_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            row = {
                "id": session_id,
                "deployment": deployment,
                "scenario": scenario,
                "plan": plan,
                "operator": operator,
                "started": now.isoformat(timespec="microseconds"),
                "highest_weight": 0,
                "head_seq": 0,
                "head_hash": genesis_hash(session_id),
                "meta": meta_text,
            }
            try:
                with self._write("open session") as conn:
                    conn.execute(insert(SESSION), row)
            except StoreError as exc:
                if isinstance(exc.__cause__, IntegrityError):
                    continue  # same second, same random suffix: draw again
                raise
            return session_id
        raise StoreError("cannot open session: no free session id")

    def append(self, session_id: str, records: list[tuple[str, float, dict[str, Any]]]) -> int:
        """Append (kind, at, payload) records in one transaction; returns the last seq."""
        wall = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._write("append") as conn:
            head = conn.execute(
                select(SESSION.c.head_seq, SESSION.c.head_hash, SESSION.c.outcome, SESSION.c.highest_weight).where(
                    SESSION.c.id == session_id
                )
            ).one_or_none()
            if head is None:
                raise StoreError(f"no session {session_id}")
            if head.outcome is not None:
                raise StoreError(f"session {session_id} is closed ({head.outcome})")
            try:
                rows = link(session_id, head.head_seq, head.head_hash, records, wall)
            except ValueError as exc:
                raise StoreError(f"cannot append to {session_id}: {exc}") from None
            if not rows:
                return head.head_seq
            highest = max([head.highest_weight, *(_weight(kind, payload) for kind, _, payload in records)])
            conn.execute(insert(EVENT), [{"session_id": session_id, **row._asdict()} for row in rows])
            conn.execute(
                update(SESSION)
                .where(SESSION.c.id == session_id)
                .values(head_seq=rows[-1].seq, head_hash=rows[-1].hash, highest_weight=highest)
            )
        if self.anchor is not None:  # after the commit: an anchor is never ahead of the file
            self.anchor.record(session_id, rows[-1].seq, rows[-1].hash)
        return rows[-1].seq

    def close_session(self, session_id: str, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise StoreError(f"unknown outcome {outcome!r} (expected one of {', '.join(OUTCOMES)})")
        ended = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._write("close session") as conn:
            current = conn.execute(
                select(SESSION.c.outcome, SESSION.c.head_seq, SESSION.c.head_hash, SESSION.c.deployment).where(
                    SESSION.c.id == session_id
                )
            ).one_or_none()
            if current is None:
                raise StoreError(f"no session {session_id}")
            if current.outcome is not None:
                raise StoreError(f"session {session_id} is already closed ({current.outcome})")
            conn.execute(update(SESSION).where(SESSION.c.id == session_id).values(ended=ended, outcome=outcome))
            if outcome == "succeeded":  # with the close: a succeeded session always leaves its baseline
                write_baseline(conn, session_id, current.deployment)
        if self.anchor is not None:
            self.anchor.record(session_id, current.head_seq, current.head_hash)

    # -- reading -----------------------------------------------------------------

    def events(self, session_id: str, since_seq: int = 0) -> list[StoredEvent]:
        """Events after `since_seq`, in order."""
        query = (
            select(EVENT.c.seq, EVENT.c.at, EVENT.c.wall, EVENT.c.kind, EVENT.c.payload)
            .where(EVENT.c.session_id == session_id, EVENT.c.seq > since_seq)
            .order_by(EVENT.c.seq)
        )
        with self._read("read events") as conn:
            return [StoredEvent(r.seq, r.at, r.wall, r.kind, json.loads(r.payload)) for r in conn.execute(query)]

    def records(self, session_id: str) -> list[tuple[str, float, dict[str, Any]]]:
        """The session's (kind, at, payload) triples, for folding into a view."""
        return [(e.kind, e.at, e.payload) for e in self.events(session_id)]

    def sessions(self) -> list[SessionInfo]:
        """Every session, newest first."""
        with self._read("list sessions") as conn:
            rows = conn.execute(select(SESSION).order_by(SESSION.c.started.desc(), SESSION.c.id.desc()))
            return [_session_info(r) for r in rows]

    def session(self, session_id: str) -> SessionInfo | None:
        with self._read("read session") as conn:
            row = conn.execute(select(SESSION).where(SESSION.c.id == session_id)).one_or_none()
        return _session_info(row) if row else None

    def latest_session_id(self) -> str | None:
        query = select(SESSION.c.id).order_by(SESSION.c.started.desc(), SESSION.c.id.desc()).limit(1)
        with self._read("read sessions") as conn:
            return conn.execute(query).scalar_one_or_none()

    def resolve(self, id_or_prefix: str) -> str:
        """The session id that is `id_or_prefix` or uniquely starts with it."""
        if not id_or_prefix:
            raise StoreError("no session matches ''")
        with self._read("find session") as conn:
            exact = conn.execute(select(SESSION.c.id).where(SESSION.c.id == id_or_prefix)).scalar_one_or_none()
            if exact:
                return exact
            query = select(SESSION.c.id).where(SESSION.c.id.startswith(id_or_prefix, autoescape=True)).limit(2)
            found = conn.execute(query).scalars().all()
        if not found:
            raise StoreError(f"no session matches {id_or_prefix}")
        if len(found) > 1:
            raise StoreError(f"{id_or_prefix} is ambiguous")
        return found[0]

    def verify(self, session_id: str | None = None) -> list[VerifyResult]:
        """Check the hash chain of one session, or of every session (oldest first)."""
        with self._read("verify") as conn:
            query = select(SESSION.c.id, SESSION.c.head_seq, SESSION.c.head_hash)
            if session_id is None:
                heads = conn.execute(query.order_by(SESSION.c.started, SESSION.c.id)).all()
            else:
                heads = conn.execute(query.where(SESSION.c.id == session_id)).all()
                if not heads:
                    raise StoreError(f"no session {session_id}")
            results = []
            try:
                anchors = self.anchor.by_session(session_id) if self.anchor is not None else None
            except OSError as exc:
                raise StoreError(f"cannot read the chain anchors: {exc.strerror or exc}") from None
            for head in heads:
                rows = conn.execute(
                    select(*(EVENT.c[name] for name in ChainRow._fields))
                    .where(EVENT.c.session_id == head.id)
                    .order_by(EVENT.c.seq)
                ).all()
                result = verify_rows(head.id, rows, head.head_seq, head.head_hash)
                results.append(_anchored(result, rows, anchors))
            if session_id is None:
                known = select(SESSION.c.id)
                orphans = conn.execute(
                    select(EVENT.c.session_id).where(EVENT.c.session_id.not_in(known)).distinct()
                ).scalars()
                results += [VerifyResult(orphan, False, None, "events without a session row") for orphan in orphans]
                results += pruned_results(conn, anchors)
            return results

    # -- transactions ------------------------------------------------------------

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        """One BEGIN IMMEDIATE transaction: the write lock is taken before the head is read."""
        with self._guard(action), self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        with self._guard(action), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {action} in {self.path}: {_db_reason(exc)}") from exc


def _anchored(result: VerifyResult, rows: list[Any], anchors: dict[str, list[AnchorLine]] | None) -> VerifyResult:
    """A chain that verifies, checked against the anchors of its head (truncation, rebuild)."""
    if not result.ok or anchors is None:
        return result
    hashes = {0: genesis_hash(result.session), **{row.seq: row.hash for row in rows}}
    found = Anchor.check(anchors.get(result.session, []), hashes)
    if not found.ok:
        return VerifyResult(result.session, False, found.bad_seq, found.reason)
    return VerifyResult(result.session, True, None, "ok" if found.anchored else f"ok ({found.reason})")


def _create_private_file(path: Path) -> None:
    """Create the database file as 0600 before SQLite does, so it is never world-readable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise StoreError(f"cannot open store {path}: {reason}") from None


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
    cursor = dbapi_connection.cursor()
    try:
        for pragma in PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")


def _weight(kind: str, payload: dict[str, Any]) -> int:
    weight = payload.get("weight") if kind in WEIGHT_KINDS else None
    return int(weight) if isinstance(weight, int | float) and not isinstance(weight, bool) else 0


def _db_reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _session_info(row: Any) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        deployment=row.deployment,
        scenario=row.scenario,
        plan=row.plan,
        operator=row.operator,
        started=row.started,
        ended=row.ended,
        outcome=row.outcome,
        highest_weight=row.highest_weight,
        head_seq=row.head_seq,
        head_hash=row.head_hash,
        meta=json.loads(row.meta),
    )
