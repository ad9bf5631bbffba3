"""SQLModel tables of the event store: one `session` row per canary session, its `event` rows."""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class SessionTable(SQLModel, table=True):
    __tablename__ = "session"

    id: str = Field(primary_key=True)
    deployment: str
    scenario: str
    plan: str
    operator: str
    started: str  # UTC ISO 8601
    ended: str | None = None
    outcome: str | None = None  # "succeeded" | "rolled_back" | "aborted"; None while open
    highest_weight: int = 0
    head_seq: int = 0
    head_hash: str
    meta: str = "{}"  # canonical JSON


class EventTable(SQLModel, table=True):
    __tablename__ = "event"
    __table_args__ = (Index("ix_event_session_at", "session_id", "at"),)

    session_id: str = Field(foreign_key="session.id", primary_key=True)
    seq: int = Field(primary_key=True)  # 1-based per session
    at: float  # session clock seconds, rounded to microseconds
    wall: str  # UTC ISO 8601 with microseconds
    kind: str
    payload: str  # canonical JSON
    prev_hash: str
    hash: str


SESSION = SessionTable.__table__
EVENT = EventTable.__table__
