"""The export report as Markdown (for a review document) or JSON (schema: docs/export.md).

Every free text (notes, reasons, details, check results) goes through `cell`: control
characters (CR, LF, ESC...) are shown escaped and `|` is escaped, so a note can never
forge a line, a table row or a terminal colour.
"""

from __future__ import annotations

import json
from typing import Any

from console.plan import format_duration

GLYPHS = {
    "ok": "✔",
    "attested": "✔",
    "succeeded": "✔",
    "waived": "↷",
    "failed": "✖",
    "breached": "✖",
    "rolled_back": "✖",
    "aborted": "✖",
    "pending": "⚠",
    "sent": "✔",
    "running": "⚠",
    "unknown": "◌",
    "open": "◌",
}


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def cell(text: object) -> str:
    """Free text made safe for one Markdown table cell or line."""
    out = []
    for ch in str(text).replace("\\", "\\\\"):
        if ch == "|":
            out.append("\\|")
        elif ch == "<":
            out.append("&lt;")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _row(*cells: object) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    return [_row(*head), "|" + "---|" * len(head), *(_row(*r) for r in rows)]


def _status(word: str) -> str:
    return f"{GLYPHS.get(word, '·')} {word.replace('_', ' ')}"


def _wall(wall: str | None) -> str:
    return f"{wall[:10]} {wall[11:19]}Z" if wall else "—"


def _clock(wall: str | None) -> str:
    return wall[11:19] if wall else "—"


def _at(moment: dict[str, Any] | None) -> str:
    if not moment or moment.get("time") is None:
        return "—"
    return f"{moment['time']} ({_clock(moment.get('wall'))})" if moment.get("wall") else moment["time"]


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    return f"{value:g}"


def _plain(value: Any) -> str:
    """An evidence value in words: numbers compact, lists and maps inline."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_plain(v)}" for k, v in value.items())
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    s, out = report["session"], report["outcome"]
    lines = [f"# Canary session {cell(s['id'])}: {_status(out['outcome'])}", ""]
    versions = f"stable {s['stable_version'] or '?'} → canary {s['canary_version'] or '?'}"
    outcome = out["outcome"].replace("_", " ") + (f" — {out['detail']}" if out["detail"] else "")
    lines += _table(
        ("field", "value"),
        [
            ("Session", s["id"]),
            ("Deployment", s["deployment"]),
            ("Versions", versions),
            ("Plan", s["plan"]),
            ("Scenario", s["scenario"] or "—"),
            ("Operators", ", ".join(s["operators"]) or "—"),
            ("Started", _wall(s["started"])),
            ("Ended", _wall(s["ended"])),
            ("Session time", format_duration(s["duration"])),
            ("Outcome", outcome),
            ("Highest weight", f"{s['highest_weight']}%"),
        ],
    )
    lines += ["", "Times: `+hh:mm:ss` is session time; wall times are UTC.", ""]
    lines += _review(report["review"])
    lines += _rollback(report["rollback"])
    lines += ["## Decisions", ""]
    rows = [
        (d["time"], _clock(d["wall"]), f"{d['weight']}%", d["summary"], _plain(d["evidence"]))
        for d in report["decisions"]
    ]
    lines += _table(("time", "wall", "weight", "decision", "evidence"), rows) if rows else ["None."]
    lines += ["", "## SLO compliance per stage", ""]
    for st in report["stages"]:
        lines += _stage(st)
    lines += ["## Checklist", ""]
    lines += _table(
        ("item", "text", "phase", "status", "by", "when", "note"),
        [
            (i["id"], i["text"], i["phase"], _status(i["status"]), i["by"] or "—", _at(i), _note(i))
            for i in report["checklist"]
        ],
    )
    lines += ["", "## Operators", ""]
    lines += _table(
        ("operator", "drove the session", "roles", "attested", "waived", "requests"),
        [
            (
                o["name"],
                "yes" if o["drove"] else "no",
                ", ".join(o["roles"]) or "—",
                o["attested"],
                o["waived"],
                o["requests"],
            )
            for o in report["operators"]
        ],
    )
    lines += ["", "## Communication", ""]
    rows = [
        (m["time"], _clock(m["wall"]), m["channel"], m["milestone"], _status(m["status"]), m["attempts"], m["error"])
        for m in report["communication"]
    ]
    head = ("time", "wall", "channel", "milestone", "status", "attempts", "error")
    lines += _table(head, rows) if rows else ["No notification was sent (no channel configured, or --no-notify)."]
    lines += ["", "## Timeline", ""]
    rows = [(t["time"], _clock(t["wall"]), f"{t['weight']}%", t["summary"]) for t in report["timeline"]]
    lines += _table(("time", "wall", "weight", "event"), rows)
    return "\n".join(lines) + "\n"


def _review(review: dict[str, Any]) -> list[str]:
    if not review["required"]:
        return ["## Post-deployment review", "", "Not required: no rollback, waiver, breach or failed message.", ""]
    lines = ["## Post-deployment review", "", "**Required**, because:", ""]
    return [*lines, *(f"- {cell(reason)}" for reason in review["reasons"]), ""]


def _rollback(rb: dict[str, Any] | None) -> list[str]:
    if rb is None:
        return []
    lines = ["## Rollback", ""]
    lines += _table(
        ("field", "value"),
        [
            ("Reason", rb["reason"]),
            ("Detail", rb["detail"]),
            ("Decided by", rb["by"]),
            ("Decided at", f"{_at(rb)} at {rb['weight']}%"),
            ("Confirmed by the ops API", _at(rb["confirmed"]) if rb["confirmed"] else "not confirmed"),
            ("Failed attempts", rb["failed_attempts"]),
        ],
    )
    if rb["evidence"]:
        lines += ["", "Evidence:", ""]
        lines += _table(("field", "value"), [(k, _evidence_value(k, v)) for k, v in rb["evidence"].items()])
    return [*lines, ""]


def _evidence_value(key: str, value: Any) -> str:
    if key in ("window_start", "window_end", "sustain") and isinstance(value, int | float):
        return format_duration(value) if key == "sustain" else f"+{format_duration(value)} ({value:g} s)"
    return _plain(value)


def _stage(st: dict[str, Any]) -> list[str]:
    span = f"{st['start']['time']} → {st['end']['time']}, {format_duration(st['duration'])}, {st['polls']} polls"
    lines = [f"### {cell(st['name'])} ({span})", ""]
    rows = []
    for se in st["series"]:
        u = se["unit"]
        changes = "; ".join(f"{c['time']} {c['previous']} → {c['verdict']}" for c in se["verdicts"]) or "—"
        rows.append(
            (
                se["series"],
                se["breach_when"],
                se["samples"],
                se["no_data"],
                _num(se["min"], u),
                _num(se["p50"], u),
                _num(se["max"], u),
                format_duration(se["breach_seconds"]),
                changes,
            )
        )
    head = ("series", "breach when", "samples", "no data", "min", "p50", "max", "time in breach", "verdict changes")
    return [*lines, *_table(head, rows), ""]


def _note(item: dict[str, Any]) -> str:
    checks = "; ".join(f"{c['target']}: {'ok' if c['ok'] else 'FAILED'} — {c['detail']}" for c in item["checks"])
    return " / ".join(p for p in (checks, item["note"] if not checks or item["status"] == "waived" else "") if p) or "—"
