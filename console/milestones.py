"""What to tell the team: the session's events turned into one short message per milestone.

Pure (no I/O): `Milestones` is fed every logged event with the state after its batch and
returns the messages to send. Milestones: the session started (who, from where, versions),
each confirmed promotion, a rule starting to breach (once per breach episode, not every
poll), a rollback decision (reason, evidence, who or automatic, whom to call), and the end:
rolled back, succeeded after validation, or aborted, with the post-deployment review flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console import events as ev
from console.contacts import call_text, for_rollback, for_rule
from console.plan import Plan, format_duration
from console.rules import fmt_value
from console.state import State
from sessions.review import review_reasons

BREACHING = ("pending", "breached")
UNSEEN = (ev.Samples, ev.StatusRead, ev.NotificationSent)  # never a review reason: not kept


@dataclass(frozen=True)
class Message:
    milestone: str  # started | promoted | breach | rollback | rolled_back | succeeded | aborted
    text: str
    fields: dict[str, Any]  # the generic webhook's JSON object

    @property
    def slack(self) -> dict[str, Any]:
        return {"text": self.text}


class Milestones:
    """Feed it every logged event (`__call__`); it keeps what a message needs from earlier ones."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.kept: list[ev.Event] = []  # events that may give a review reason
        self.announced = False
        self.scenario = ""
        self.versions = ("", "")
        self.promoted_by = ""
        self.episodes: dict[str, float | None] = {}  # series in a breach episode -> when it turned ok, or None

    def prime(self, events: list[ev.Event]) -> None:
        """A resumed session: what happened before this process (its start was announced then)."""
        self.kept = [e for e in events if not isinstance(e, UNSEEN)]
        self.announced = True

    def __call__(self, e: ev.Event, s: State) -> list[Message]:
        if not isinstance(e, UNSEEN):
            self.kept.append(e)
        out: list[Message] = []
        match e:
            case ev.SessionStarted():
                self.scenario = e.scenario
            case ev.SessionResumed():
                self.announced = True
            case ev.StatusRead():
                self.versions = (e.stable_version or self.versions[0], e.canary_version or self.versions[1])
                self._announce(out, s, e.at)
            case ev.Samples():
                self._announce(out, s, e.at)  # no status answered before the first poll: announce without versions
            case ev.PromotionDecided():
                self.promoted_by = e.by
            case ev.StageStarted():
                n = len(s.plan.stages)
                then = (
                    f"bake {format_duration(e.bake)}"
                    if e.bake
                    else f"validation {format_duration(self.plan.validation)}"
                )
                by = self.promoted_by or "?"
                self._say(
                    out, s, e.at, "promoted", f"promoted to {e.weight}% (stage {e.stage + 1}/{n}, by {by}); {then}"
                )
            case ev.RuleChanged() if e.verdict in BREACHING and self._new_episode(e, s):
                call = call_text(for_rule(self.plan, e.rule))
                self._say(out, s, e.at, "breach", f"{e.series} {e.verdict} at {s.weight}%: {e.detail}", call)
            case ev.RuleChanged() if e.verdict == "ok" and e.series in self.episodes:
                self.episodes[e.series] = self.episodes[e.series] or e.at
            case ev.RollbackDecided():
                who = "automatic" if e.by == "conductor" else f"by {e.by}"
                text = f"ROLLING BACK ({e.reason}, {who}): {e.detail}{_evidence(self.plan, e.evidence)}"
                self._say(out, s, e.at, "rollback", text, call_text(for_rollback(self.plan, e.evidence)))
            case ev.Finished():
                self._say(out, s, e.at, e.outcome, _final(e, s, self.versions[1]), final=True)
        return out

    def _new_episode(self, e: ev.RuleChanged, s: State) -> bool:
        """Whether this breach starts an episode: not a pending turning breached, not a flap back
        within the rule's window, and not once a rollback is decided (its message is the news)."""
        if s.rollback is not None or s.outcome is not None:
            return False
        quiet = max(self.plan.rule(e.rule).sustain, 2 * self.plan.poll_interval)
        ok_since = self.episodes.get(e.series, -quiet)
        self.episodes[e.series] = None
        return ok_since is not None and e.at - ok_since >= quiet

    def _announce(self, out: list[Message], s: State, at: float) -> None:
        if self.announced or not s.session:
            return
        self.announced = True
        stable, canary = self.versions
        versions = f"{stable or '?'} → {canary or '?'}" if stable or canary else "versions not read"
        extra = (f", scenario {self.scenario}" if self.scenario else "") + (", auto-promote" if s.auto_promote else "")
        text = f"session {s.session} started by {s.operator}: {versions} (plan {s.plan.name}{extra})"
        self._say(out, s, at, "started", text)

    def _say(
        self, out: list[Message], s: State, at: float, milestone: str, text: str, call: str = "", *, final: bool = False
    ) -> None:
        if milestone != "started":
            self._announce(out, s, at)
        reasons = review_reasons(self.kept)
        full = f"{s.plan.deployment}: {text}" + (f" — {call}" if call else "")
        if final:
            full += " — post-deployment review required: " + "; ".join(reasons) if reasons else " — no review needed"
        fields = {
            "event": milestone,
            "session": s.session,
            "deployment": s.plan.deployment,
            "weight": s.weight,
            "at": at,
            "text": full,
            "call": call.removeprefix("call: "),
            "review_required": bool(reasons),
            "review_reasons": reasons,
        }
        out.append(Message(milestone, full, fields))


def _evidence(plan: Plan, evidence: dict[str, Any]) -> str:
    if not evidence.get("rule"):
        return ""
    rule = plan.rule(evidence["rule"])
    lo, hi = fmt_value(rule, evidence["min"]), fmt_value(rule, evidence["max"])
    return f" [evidence: {evidence['samples']} breaching samples, min {lo}, max {hi}]"


def _final(e: ev.Finished, s: State, canary: str) -> str:
    match e.outcome:
        case "succeeded":
            return f"{canary or 'the canary'} at 100%: SUCCEEDED after validation ({e.detail})"
        case "rolled_back":
            return f"ROLLED BACK to {s.weight}%, confirmed by the ops API ({e.detail})"
    return f"session {s.session} ABORTED: {e.detail}"
