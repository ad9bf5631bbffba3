"""The post-deployment review flag: why a session needs a review, from its events alone.

Pure. A session needs a review when it rolled back, when an item was waived, when a rule
breached (pending or breached) without being the cause of a rollback (a `hold` rule, or
one that recovered), or when a notification was finally not delivered.
"""

from __future__ import annotations

from collections.abc import Iterable

from console import events as ev

_WORSE = {"pending": 1, "breached": 2}


def review_reasons(events: Iterable[ev.Event]) -> list[str]:
    """One line per reason, grouped: rollback, breaches without rollback, waivers, failed notifications."""
    rollback: list[str] = []
    breaches: dict[str, str] = {}  # series -> worst breaching verdict
    cause: str | None = None
    waivers: list[str] = []
    failed: list[str] = []
    for e in events:
        match e:
            case ev.RollbackDecided():
                who = "automatic" if e.by == "conductor" else f"by {e.by}"
                rollback.append(f"rolled back ({e.reason}, {who}): {e.detail}")
                cause = e.evidence.get("series")
            case ev.RuleChanged() if e.verdict in _WORSE:
                if _WORSE[e.verdict] > _WORSE.get(breaches.get(e.series, ""), 0):
                    breaches[e.series] = e.verdict
            case ev.ItemWaived():
                waivers.append(f"waived {e.item} ({e.operator}): {e.reason}")
            case ev.NotificationFailed():
                failed.append(
                    f"notification {e.milestone} to {e.channel} not delivered after {e.attempts} attempt(s): {e.error}"
                )
    held = [f"{name} went {verdict} without causing a rollback" for name, verdict in breaches.items() if name != cause]
    return [*rollback, *held, *waivers, *failed]


def stored_reasons(rows: Iterable[tuple]) -> list[str]:
    """`review_reasons` of stored rows (seq, at, wall, kind, payload); kinds of a newer version are skipped."""
    kinds = ("rollback_decided", "rule_changed", "waived", "notification_failed")
    return review_reasons(ev.from_record(r[3], r[1], r[4]) for r in rows if r[3] in kinds)
