"""The `canary-console plan` listing: what the plan does with each checklist line.

`render_plan` is plain text (no colour, lines within 100 columns where the words allow);
`plan_json` is the same content for scripts; `plan_rows` is one dict per item.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from typing import Any

from console.plan import Item, Plan, Rule, format_duration

WIDTH = 100


def threshold_text(rule: Rule) -> str:
    """The threshold in the rule's unit: "10 s", "99.9%", "0"."""
    if rule.unit == "s":
        return f"{rule.threshold:g} s"
    if rule.unit == "ratio":
        return f"{rule.threshold * 100:g}%"
    return f"{rule.threshold:g}"


def rule_text(rule: Rule) -> str:
    """One line: "p95_latency > 10 s for 5m → rollback"."""
    window = f"for {format_duration(rule.sustain)}" if rule.sustain else "at once"
    return f"{rule.name} {rule.comparator} {threshold_text(rule)} {window} → {rule.action}"


def handling_text(plan: Plan, item: Item) -> str:
    """What the console does with an item, in words."""
    match item.handling:
        case "ops":
            targets = ", ".join(t.strip() for t in (item.target or "").split(","))
            return f"ops health-check: {targets}"
        case "rule":
            return f"SLO rule: {rule_text(plan.rule(item.rule or ''))}"
        case "shown":
            return f"shown: {item.shown}"
        case "gate":
            return f"phase gate: {item.how}" if item.how else "phase gate"
        case "auto":
            return f"automatic: {item.how}" if item.how else "automatic"
        case _:
            return "operator attestation" if item.required else "operator attestation (optional)"


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """One dict per item, in plan order: the item's fields plus `does` (its handling in words)."""
    return [{**item.model_dump(), "does": handling_text(plan, item)} for item in plan.items]


def plan_json(plan: Plan) -> str:
    data = plan.model_dump(mode="json")
    data["items"] = plan_rows(plan)
    return json.dumps(data, indent=2, ensure_ascii=False)


def render_plan(plan: Plan) -> str:
    lines = _header(plan) + [""] + _rules(plan) + [""] + _shown(plan) + [""] + _items(plan)
    return "\n".join(lines).rstrip() + "\n"


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=rest, break_long_words=False, break_on_hyphens=False
    )


def _header(plan: Plan) -> list[str]:
    stages = []
    for st in plan.stages:
        bake = f" (bake {format_duration(st.bake)})" if st.bake else ""
        stages.append(f"{st.weight}%{bake}")
    return [
        f"Plan {plan.name!r} for deployment {plan.deployment}",
        f"Poll every {format_duration(plan.poll_interval)} · no-data limit {format_duration(plan.no_data_limit)}"
        f" · cumulative cap {plan.cumulative_cap * 100:g}%",
        *_wrap(
            "Stages: " + " → ".join(stages) + f"; validation {format_duration(plan.validation)}",
            "",
            "  ",
        ),
    ]


def _rules(plan: Plan) -> list[str]:
    if not plan.rules:
        return ["SLO rules: none"]
    width = max(len(r.name) for r in plan.rules)
    out = [f"SLO rules ({len(plan.rules)}; each breaches when value <comparator> threshold for the window)"]
    for r in plan.rules:
        breach = f"{r.comparator} {threshold_text(r)}"
        window = f"for {format_duration(r.sustain)}" if r.sustain else "at once"
        out.append(f"  {r.name:<{width}}  {breach:<9} {window:<9} → {r.action:<8}  {r.title}")
        if r.by:
            out.append(f"  {'':<{width}}  one series per {r.by}: {', '.join(r.series)}")
        out += _wrap(f"query: {r.query}", f"  {'':<{width}}  ", f"  {'':<{width}}    ")
    return out


def _shown(plan: Plan) -> list[str]:
    if not plan.shown:
        return ["Shown metrics: none"]
    width = max(len(s.name) for s in plan.shown)
    out = [f"Shown metrics ({len(plan.shown)}; advisory, no automatic action)"]
    for s in plan.shown:
        unit = f" ({s.unit})" if s.unit else ""
        out.append(f"  {s.name:<{width}}  {s.title}{unit}")
        if s.advice:
            out += _wrap(s.advice, f"  {'':<{width}}  ", f"  {'':<{width}}  ")
    return out


def _items(plan: Plan) -> list[str]:
    counts = Counter(i.handling for i in plan.items)
    summary = ", ".join(f"{n} {h}" for h, n in counts.most_common())
    out = [f"Checklist: {len(plan.items)} items ({summary})" if plan.items else "Checklist: no items"]
    sections: dict[str, list[Item]] = {}
    for item in plan.items:
        sections.setdefault(item.section, []).append(item)
    for section, items in sections.items():
        out += ["", section]
        for item in items:
            out += _wrap(item.text, "  - ", "    ")
            tag = f"[{item.id} · {item.phase}]"
            out += _wrap(handling_text(plan, item), f"      {tag} ", "        ")
            if item.how and item.handling in ("manual", "rule", "shown"):
                out += _wrap(item.how, "        ", "        ")
    return out
