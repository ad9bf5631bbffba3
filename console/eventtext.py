"""What each event says, in words: one text for the headless lines, the screen's event log and the export."""

from __future__ import annotations

from console import events as ev
from console.contacts import call_text, for_rollback
from console.engine import State
from console.plan import format_duration
from console.rules import fmt_value


def clock_text(at: float) -> str:
    at = int(at)
    return f"+{at // 3600:02d}:{at % 3600 // 60:02d}:{at % 60:02d}"


def describe(e: ev.Event, s: State) -> str:  # noqa: C901 - one case per event kind
    """What one event says, in words (the evidence of a rollback included)."""
    match e:
        case ev.BaselineLoaded():
            return f"baseline from session {e.source}: {len(e.values)} series"
        case ev.StatusRead():
            return f"ops status: {e.state}, weight {e.weight}%, pods {e.ready}/{e.desired} ready"
        case ev.PromoteRequested():
            return f"promotion requested by {e.operator}" + (f" to {e.weight}%" if e.weight is not None else "")
        case ev.RollbackRequested():
            return f"rollback requested by {e.operator}: {e.reason}" + (f" — {e.detail}" if e.detail else "")
        case ev.SessionStarted():
            auto = ", auto-promote" if e.auto_promote else ""
            scen = f", scenario {e.scenario}" if e.scenario else ""
            return f"session {e.session} started by {e.operator} on {e.deployment} (plan {e.plan}{scen}{auto})"
        case ev.SessionResumed():
            return f"session resumed by {e.operator}: {format_duration(e.gap)} not observed, never counted healthy"
        case ev.OperatorJoined():
            return f"{e.operator} attached ({', '.join(e.roles) or 'no roles'})"
        case ev.DriverChanged():
            return f"driver changed to {e.operator}: {e.reason}"
        case ev.OpsAttempt():
            return f"ops {e.action} attempt {e.attempt}: {e.outcome}"
        case ev.CheckResult():
            verdict = "ok" if e.ok else "FAILED"
            return f"check {e.item} [{e.target}]: {verdict} — {e.detail}"
        case ev.ItemAttested():
            return f"attested {e.item} by {e.operator}" + (f": {e.note}" if e.note else "")
        case ev.ItemWaived():
            return f"waived {e.item} by {e.operator}: {e.reason}"
        case ev.PromotionDecided():
            return f"decision: promote {e.from_weight}% → {e.to_weight}% (by {e.by})"
        case ev.PromoteRefused():
            return f"promotion refused for {e.operator}: {e.reason}"
        case ev.Promoted():
            return f"ops API confirmed weight {e.weight}%"
        case ev.PromoteFailed():
            return f"promotion to {e.weight}% failed: {e.error}"
        case ev.StageStarted():
            n = len(s.plan.stages)
            return f"stage {e.stage + 1}/{n} at {e.weight}%: bake {format_duration(e.bake)}"
        case ev.BakeServed():
            return f"bake served at {e.weight}%: ready to promote"
        case ev.ValidationStarted():
            return f"at 100%: validating for {format_duration(e.duration)}"
        case ev.RuleChanged():
            return f"rule {e.series}: {e.previous} → {e.verdict}: {e.detail}"
        case ev.RollbackDecided():
            call = call_text(for_rollback(s.plan, e.evidence))
            return f"decision: ROLL BACK ({e.reason}, by {e.by}): {e.detail}{evidence_text(e.evidence, s)}" + (
                f" — {call}" if call else ""
            )
        case ev.RollbackRefused():
            return f"rollback refused for {e.operator}: {e.reason}"
        case ev.RolledBack():
            return f"ops API confirmed rollback: weight {e.weight}%"
        case ev.RollbackFailed():
            return f"rollback attempt failed, retrying: {e.error}"
        case ev.Paused():
            return f"paused: {e.reason}"
        case ev.Resumed():
            return "resumed: data is back"
        case ev.AbortRequested():
            return f"abort requested by {e.operator}: {e.reason}"
        case ev.Finished():
            return f"finished: {e.outcome.replace('_', ' ')} — {e.detail}"
        case ev.NotificationSent():
            return f"notified {e.channel}: {e.milestone}"
        case ev.NotificationFailed():
            return f"NOTIFICATION FAILED {e.channel} ({e.milestone}) after {e.attempts} attempt(s): {e.error}"
    return e.kind


def evidence_text(evidence: dict, s: State) -> str:
    if not evidence:
        return ""
    rule = s.plan.rule(evidence["rule"])
    start, end = evidence.get("window_start"), evidence.get("window_end")
    span = f" from {clock_text(start)} to {clock_text(end)}" if start is not None and end is not None else ""
    lo, hi = fmt_value(rule, evidence["min"]), fmt_value(rule, evidence["max"])
    return f" [evidence: {evidence['samples']} breaching samples{span}, min {lo}, max {hi}]"
