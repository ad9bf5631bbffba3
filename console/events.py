"""The typed events of a canary session, and the commands the conductor issues.

A session is an append-only log of these events. Every event carries `at`, the session
clock's monotonic seconds when it happened. `to_record` / `from_record` convert to and
from the `(kind, at, payload)` triple the store keeps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = "event"
    at: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        EVENT_TYPES[cls.kind] = cls

    def payload(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("at")
        return data


def to_record(event: Event) -> tuple[str, float, dict[str, Any]]:
    return event.kind, event.at, event.payload()


def from_record(kind: str, at: float, payload: dict[str, Any]) -> Event:
    cls = EVENT_TYPES[kind]
    return cls(at=at, **payload)


# -- inputs: what happened outside the conductor ------------------------------------


@dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    kind: ClassVar[str] = "session_started"
    session: str
    deployment: str
    plan: str
    operator: str
    roles: list[str]
    auto_promote: bool = False
    scenario: str = ""


@dataclass(frozen=True, kw_only=True)
class BaselineLoaded(Event):
    """The deployment's baseline at start: the medians a succeeded session `source` saw at 100%."""

    kind: ClassVar[str] = "baseline_loaded"
    values: dict[str, float]
    source: str


@dataclass(frozen=True, kw_only=True)
class SessionResumed(Event):
    """The console came back to an open session; `gap` session seconds were not observed."""

    kind: ClassVar[str] = "session_resumed"
    operator: str
    roles: list[str]
    gap: float


@dataclass(frozen=True, kw_only=True)
class OperatorJoined(Event):
    """An operator attached a console to the session; roles are from the ops API's whoami."""

    kind: ClassVar[str] = "operator_joined"
    operator: str
    roles: list[str]


@dataclass(frozen=True, kw_only=True)
class DriverChanged(Event):
    """Another process took over the session's driver lock (a stale heartbeat, typed confirmation)."""

    kind: ClassVar[str] = "driver_changed"
    operator: str
    previous: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class StatusRead(Event):
    """The ops API's canary status, recorded when it changes."""

    kind: ClassVar[str] = "status"
    weight: int
    ready: int
    desired: int
    state: str
    stable_version: str = ""
    canary_version: str = ""


@dataclass(frozen=True, kw_only=True)
class Samples(Event):
    """One poll of every series: value, or None when unknown (NaN, empty, error)."""

    kind: ClassVar[str] = "samples"
    values: dict[str, float | None]


@dataclass(frozen=True, kw_only=True)
class CheckResult(Event):
    kind: ClassVar[str] = "check"
    item: str
    target: str
    ok: bool
    detail: str = ""
    latency_ms: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ItemAttested(Event):
    kind: ClassVar[str] = "attested"
    item: str
    operator: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class ItemWaived(Event):
    kind: ClassVar[str] = "waived"
    item: str
    operator: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class PromoteRequested(Event):
    kind: ClassVar[str] = "promote_requested"
    operator: str
    weight: int | None = None  # None: the next stage


@dataclass(frozen=True, kw_only=True)
class RollbackRequested(Event):
    kind: ClassVar[str] = "rollback_requested"
    operator: str
    reason: str = "MANUAL"
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class AbortRequested(Event):
    kind: ClassVar[str] = "abort_requested"
    operator: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Promoted(Event):
    kind: ClassVar[str] = "promoted"
    weight: int
    key: str


@dataclass(frozen=True, kw_only=True)
class PromoteFailed(Event):
    kind: ClassVar[str] = "promote_failed"
    weight: int
    key: str
    error: str
    final: bool = False  # the ops API refused it (4xx): asking again will not help


@dataclass(frozen=True, kw_only=True)
class RolledBack(Event):
    kind: ClassVar[str] = "rolled_back"
    key: str
    weight: int = 0


@dataclass(frozen=True, kw_only=True)
class RollbackFailed(Event):
    kind: ClassVar[str] = "rollback_failed"
    key: str
    error: str


# -- decisions: what the conductor concluded, each with its evidence ----------------


@dataclass(frozen=True, kw_only=True)
class RuleChanged(Event):
    kind: ClassVar[str] = "rule_changed"
    series: str
    rule: str
    verdict: str
    previous: str
    value: float | None
    detail: str


@dataclass(frozen=True, kw_only=True)
class PromotionDecided(Event):
    """The intent to promote: committed before the ops call that carries it out."""

    kind: ClassVar[str] = "promotion_decided"
    from_weight: int
    to_weight: int
    key: str
    by: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PromoteRefused(Event):
    kind: ClassVar[str] = "promote_refused"
    operator: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RollbackDecided(Event):
    """The intent to roll back: committed before the ops call; never downgraded."""

    kind: ClassVar[str] = "rollback_decided"
    reason: str
    detail: str
    key: str
    by: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RollbackRefused(Event):
    kind: ClassVar[str] = "rollback_refused"
    operator: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class StageStarted(Event):
    kind: ClassVar[str] = "stage_started"
    stage: int
    weight: int
    bake: float


@dataclass(frozen=True, kw_only=True)
class BakeServed(Event):
    kind: ClassVar[str] = "bake_served"
    stage: int
    weight: int


@dataclass(frozen=True, kw_only=True)
class ValidationStarted(Event):
    kind: ClassVar[str] = "validation_started"
    duration: float


@dataclass(frozen=True, kw_only=True)
class Paused(Event):
    kind: ClassVar[str] = "paused"
    reason: str
    auto_only: bool = False  # only automatic promotion stops; an operator may still promote


@dataclass(frozen=True, kw_only=True)
class OpsAttempt(Event):
    """One attempt of a traffic-changing ops call, as the client made it (retries included)."""

    kind: ClassVar[str] = "ops_attempt"
    action: str
    key: str
    attempt: int
    outcome: str


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    kind: ClassVar[str] = "resumed"


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    """The session's final state: succeeded, rolled_back or aborted."""

    kind: ClassVar[str] = "finished"
    outcome: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationSent(Event):
    """A milestone message the channel accepted (the channel's name only: its URL is a secret)."""

    kind: ClassVar[str] = "notification_sent"
    channel: str
    milestone: str
    attempts: int


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(Event):
    """A milestone message finally not delivered: retries ran out, its deadline passed or the queue was full."""

    kind: ClassVar[str] = "notification_failed"
    channel: str
    milestone: str
    error: str
    attempts: int


# -- commands: what the runner carries out -------------------------------------------


@dataclass(frozen=True)
class RunCheck:
    item: str
    target: str


@dataclass(frozen=True)
class Promote:
    weight: int
    key: str


@dataclass(frozen=True)
class Rollback:
    reason: str
    detail: str
    key: str


Command = RunCheck | Promote | Rollback
