"""`canary-console export`: the post-deployment record of a rolled-back session, in Markdown and JSON."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from session_helpers import OPERATOR, record

from console import events as ev
from console.cli import main
from console.plan import default_plan
from sessions.export import build
from sessions.export_render import cell, markdown, to_json
from sessions.store import EventStore

PLAN = default_plan()
DOCS = Path(__file__).parent.parent / "docs" / "export.md"
FORGED = "looked fine\n| forged | row |\r\x1b[31mred"
WAIVER = "not asked | nobody\ncomplained"
SECOND = "bo@laptop"


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[Path, str]:
    """A latency-regression rollout (rolled back at 25%) with a hostile note, a waiver and a second operator."""
    db = tmp_path_factory.mktemp("export") / "sessions.db"
    before = [
        ev.ItemAttested(at=0.0, item="tests-passing", operator=OPERATOR, note=FORGED),
        ev.ItemAttested(at=0.0, item="security-scans", operator=SECOND, note="no critical finding"),
        ev.ItemWaived(at=0.0, item="support-tickets", operator=OPERATOR, reason=WAIVER),
    ]
    return db, record(db, "latency-regression", PLAN, before)


@pytest.fixture(scope="module")
def stored(session):
    db, sid = session
    with EventStore(db) as store:
        return store.session(sid), store.events(sid)


@pytest.fixture(scope="module")
def report(stored):
    info, events = stored
    return build(info, events, PLAN)


@pytest.fixture(scope="module")
def md(report) -> str:
    return markdown(report)


def section(md: str, title: str) -> list[str]:
    """The lines of one `## title` section."""
    lines = md.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((n for n in range(start, len(lines)) if lines[n].startswith("## ")), len(lines))
    return lines[start:end]


def table_rows(lines: list[str]) -> list[list[str]]:
    """Cells of the table rows (header and rule line excluded), split on unescaped pipes."""
    rows = [ln for ln in lines if ln.startswith("|")][2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in rows]


def samples_by_stage(events) -> dict[int, list[ev.Samples]]:
    out: dict[int, list[ev.Samples]] = {}
    weight = 0
    for e in (ev.from_record(s.kind, s.at, s.payload) for s in events):
        if isinstance(e, ev.StageStarted):
            weight = e.weight
        elif isinstance(e, ev.Samples):
            out.setdefault(weight, []).append(e)
    return out


# -- content --------------------------------------------------------------------------------------


def test_header_names_the_session_outcome_and_highest_weight(report, md, session):
    s = report["session"]
    assert (s["id"], s["outcome"], s["highest_weight"], s["scenario"]) == (
        session[1],
        "rolled_back",
        25,
        "latency-regression",
    )
    assert (s["stable_version"], s["canary_version"]) == ("v1.41.0", "v1.42.0")
    assert s["started"] and s["ended"] and s["duration"] == report["outcome"]["at"]
    assert md.startswith(f"# Canary session {session[1]}: ✖ rolled back")
    assert "| Versions | stable v1.41.0 → canary v1.42.0 |" in md
    assert "| Highest weight | 25% |" in md


def test_rollback_carries_its_evidence(report, stored, md):
    rb = report["rollback"]
    decided = next(e for e in stored[1] if e.kind == "rollback_decided")
    assert (rb["reason"], rb["by"], rb["weight"], rb["at"], rb["wall"]) == (
        "SLO_VIOLATION",
        "conductor",
        25,
        decided.at,
        decided.wall,
    )
    assert rb["evidence"] == decided.payload["evidence"] and rb["evidence"]["rule"] == "p95_latency"
    assert rb["confirmed"]["at"] == rb["at"] and rb["failed_attempts"] == 0
    lines = section(md, "Rollback")
    assert "| Reason | SLO_VIOLATION |" in lines and "| Decided by | conductor |" in lines
    evidence = dict(table_rows(lines[lines.index("Evidence:") :]))
    assert evidence["rule"] == "p95_latency" and evidence["samples"] == str(rb["evidence"]["samples"])
    assert evidence["window_start"].startswith(f"+{rb['evidence']['window_start'] // 60:.0f}m")


def test_every_decision_is_listed_with_its_evidence(report, stored):
    kinds = [e.kind for e in stored[1] if e.kind in ("promotion_decided", "rollback_decided")]
    assert [d["kind"] for d in report["decisions"]] == kinds == ["promotion_decided"] * 2 + ["rollback_decided"]
    promote = report["decisions"][1]
    assert (promote["by"], promote["weight"]) == ("auto", 10)
    assert promote["evidence"]["served"] == PLAN.stages[0].bake and "p95_latency" in promote["evidence"]["values"]


def test_stage_statistics_match_the_recorded_samples(report, stored, md):
    by_weight = samples_by_stage(stored[1])
    stages = {s["weight"]: s for s in report["stages"]}
    assert set(stages) == set(by_weight) == {0, 10, 25}
    for weight, polls in by_weight.items():
        assert stages[weight]["polls"] == len(polls)
        for se in stages[weight]["series"]:
            values = [p.values.get(se["series"]) for p in polls]
            known = [v for v in values if v is not None]
            assert (se["min"], se["max"]) == ((min(known), max(known)) if known else (None, None)), se["series"]
            assert se["no_data"] == len(values) - len(known)
    p95 = next(se for se in stages[25]["series"] if se["series"] == "p95_latency")
    breaching = [p for p in by_weight[25] if p.values["p95_latency"] > 10]
    assert p95["breaching"] == len(breaching) and p95["breach_seconds"] == len(breaching) * PLAN.poll_interval
    assert [(c["previous"], c["verdict"]) for c in p95["verdicts"]] == [("ok", "pending"), ("pending", "breached")]
    lines = section(md, "SLO compliance per stage")
    at_25 = lines[next(n for n, ln in enumerate(lines) if ln.startswith("### 25% ")) :]
    row = next(r for r in table_rows(at_25) if r[0] == "p95_latency")
    assert row[4:7] == [f"{p95['min']:.2f} s", f"{p95['p50']:.2f} s", f"{p95['max']:.2f} s"]


def test_checklist_lists_every_item_with_attestations_waivers_checks_and_rules(report, md):
    items = {i["id"]: i for i in report["checklist"]}
    assert list(items) == [i.id for i in PLAN.items]
    assert (items["tests-passing"]["status"], items["tests-passing"]["by"], items["tests-passing"]["note"]) == (
        "attested",
        OPERATOR,
        FORGED,
    )
    assert items["security-scans"]["by"] == SECOND
    assert (items["support-tickets"]["status"], items["support-tickets"]["note"]) == ("waived", WAIVER)
    db = items["ops-database"]
    assert db["status"] == "ok" and [c["target"] for c in db["checks"]] == ["database"] and db["wall"]
    assert items["rollback-p95-latency"]["status"] == "breached" and items["rollback-error-rate"]["status"] == "ok"
    assert items["ops-smoke-tests"]["status"] == "open"  # post checks never ran: rolled back first
    rows = {r[0]: r for r in table_rows(section(md, "Checklist"))}
    assert len(rows) == len(PLAN.items)
    assert rows["security-scans"][3:5] == ["✔ attested", SECOND]
    assert rows["support-tickets"][3] == "↷ waived"


def test_operators_are_everyone_who_acted(report, md):
    ops = {o["name"]: o for o in report["operators"]}
    assert report["session"]["operators"] == [OPERATOR, SECOND]
    assert ops[OPERATOR]["drove"] and ops[OPERATOR]["roles"] == ["admin"] and ops[OPERATOR]["waived"] == 1
    assert not ops[SECOND]["drove"] and ops[SECOND]["attested"] == 1
    assert ops[OPERATOR]["attested"] == len(PLAN.manual_items()) - 2
    assert {r[0] for r in table_rows(section(md, "Operators"))} == {OPERATOR, SECOND}


def test_timeline_has_every_event_but_the_polls_with_session_and_wall_times(report, stored):
    events = [e for e in stored[1] if e.kind != "samples"]
    assert [(t["seq"], t["wall"]) for t in report["timeline"]] == [(e.seq, e.wall) for e in events]
    last = report["timeline"][-1]
    assert last["kind"] == "finished" and last["time"] == "+00:40:10" and last["weight"] == 0


# -- escaping -------------------------------------------------------------------------------------


def test_free_text_never_forges_a_line_a_row_or_a_colour(md):
    assert "\x1b" not in md and "\r" not in md
    assert not any(line.startswith("| forged") for line in md.splitlines())
    assert "looked fine\\n\\| forged \\| row \\|\\r\\x1b[31mred" in md
    assert "not asked \\| nobody\\ncomplained" in md
    for title in ("Checklist", "Timeline", "Operators", "Decisions"):
        lines = [ln for ln in section(md, title) if ln.startswith("|")]
        widths = {len(re.split(r"(?<!\\)\|", ln)) for ln in lines}
        assert len(widths) == 1, title  # every row has the header's number of cells


@pytest.mark.parametrize(
    ("text", "shown"),
    [("a|b", "a\\|b"), ("x\ny", "x\\ny"), ("\x1b[0m", "\\x1b[0m"), ("<!--", "&lt;!--"), ("c:\\|", "c:\\\\\\|")],
)
def test_cell_escapes(text, shown):
    assert cell(text) == shown


# -- JSON -----------------------------------------------------------------------------------------


def documented_keys() -> dict[str, list[str]]:
    """`### `name`` sections of docs/export.md → the keys of their table, in order."""
    out: dict[str, list[str]] = {}
    name = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        head = re.fullmatch(r"### `(\w+)`", line)
        if head:
            name = head.group(1)
            out[name] = []
            continue
        key = re.match(r"\| `(\w+)` \|", line)
        if name and key:
            out[name].append(key.group(1))
    return out


def check(obj: dict, kind: str, schema: dict[str, list[str]]) -> None:
    assert list(obj) == schema[kind], kind
    nested = {
        "report": {"session": "session", "outcome": "outcome", "rollback": "rollback"},
        "rollback": {"confirmed": "moment"},
        "stage": {"start": "moment", "end": "moment"},
    }
    lists = {
        "report": {
            "decisions": "decision",
            "stages": "stage",
            "checklist": "item",
            "operators": "operator",
            "timeline": "entry",
        },
        "stage": {"series": "series"},
        "series": {"verdicts": "verdict"},
        "item": {"checks": "check"},
    }
    for key, sub in nested.get(kind, {}).items():
        if obj[key] is not None:
            check(obj[key], sub, schema)
    for key, sub in lists.get(kind, {}).items():
        for element in obj[key]:
            check(element, sub, schema)


def test_json_follows_the_documented_schema(report):
    data = json.loads(to_json(report))
    assert data["schema_version"] == 1
    check(data, "report", documented_keys())
    assert data == report  # numbers stay numbers, nothing lost on the way
    assert isinstance(data["stages"][1]["series"][0]["min"], float)


# -- the command ----------------------------------------------------------------------------------


def test_cli_json_and_markdown_to_stdout_and_file(session, capsys, tmp_path, md):
    db, sid = session
    assert main(["--db", str(db), "export", sid[:17], "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["session"]["id"] == sid
    assert main(["--db", str(db), "export", sid]) == 0
    assert capsys.readouterr().out == md
    out = tmp_path / "record.md"
    assert main(["--db", str(db), "export", sid, "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == md and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert capsys.readouterr().out == ""


def test_cli_unknown_session_is_one_line_and_exit_2(session, capsys):
    assert main(["--db", str(session[0]), "export", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["canary-console: error: no session matches nope"]


def test_cli_refuses_a_plan_that_is_not_the_sessions(session, capsys, tmp_path):
    other = tmp_path / "other.toml"
    text = (Path(__file__).parent.parent / "console" / "default_plan.toml").read_text(encoding="utf-8")
    other.write_text(text.replace('name = "default"', 'name = "other"', 1), encoding="utf-8")
    assert main(["--db", str(session[0]), "export", session[1], "--plan", str(other)]) == 2
    assert "the session ran plan 'default'" in capsys.readouterr().err
