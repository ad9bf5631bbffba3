"""Who to call now: the plan's emergency contacts matched against the session's state.

Pure. A contact is called on a breach (pending or breached) of one of its `rules`, and,
with `on_rollback`, on any rollback. The screen's contacts panel, the headless rollback
line and the notifications all ask here.
"""

from __future__ import annotations

from typing import Any

from console.plan import Contact, Plan
from console.rules import Verdict
from console.state import State

BREACHING = (Verdict.PENDING, Verdict.BREACHED)


def calls(s: State) -> dict[str, str]:
    """Contact name -> why to call them now, for every contact that matters at this moment."""
    out: dict[str, str] = {}
    rolled_back = s.rollback is not None or s.outcome == "rolled_back"
    for contact in s.plan.contacts:
        why = [
            f"{name} {t.verdict}"
            for name, t in s.trackers.items()
            if name.split(":", 1)[0] in contact.rules and t.verdict in BREACHING
        ]
        if contact.on_rollback and rolled_back:
            why.insert(0, "rollback")
        if why:
            out[contact.name] = ", ".join(why)
    return out


def for_rule(plan: Plan, rule: str | None, *, rollback: bool = False) -> list[Contact]:
    """The contacts for a breach of `rule` (and for a rollback when `rollback`), in plan order."""
    return [c for c in plan.contacts if (rule is not None and rule in c.rules) or (rollback and c.on_rollback)]


def for_rollback(plan: Plan, evidence: dict[str, Any]) -> list[Contact]:
    """The contacts for a rollback decision: on-call for any, plus the team of the rule that breached."""
    return for_rule(plan, evidence.get("rule"), rollback=True)


def call_text(contacts: list[Contact]) -> str:
    """`call: Name (channel), …`, or "" when nobody is to be called."""
    return "call: " + ", ".join(f"{c.name} ({c.channel})" for c in contacts) if contacts else ""
