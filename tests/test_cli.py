"""The command line: console.cli.main in-process, and the installed `canary-console` entry point."""

from __future__ import annotations

import io
import json
import re
import socket
import sqlite3
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import console.headless  # noqa: F401 - imported before any test replaces sys.stdout (see the last test)
from console.cli import main
from console.plan import default_plan
from console.scenarios import SCENARIOS
from sessions.store import EventStore

EXE = Path(sys.executable).with_name("canary-console")
PLAN = default_plan()
DEMO = ["--headless", "--auto-promote", "--speed", "100000", "--seed", "7"]


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch):
    """Nothing may land in the real user data dir (the default --db)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    """The installed entry point, as a user runs it."""
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=60)


def sessions_in(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as raw:
        tables = {r[0] for r in raw.execute("select name from sqlite_master where type = 'table'")}
        return raw.execute("select count(*) from session").fetchone()[0] if "session" in tables else 0


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("canary-console: error: ")
    assert "Traceback" not in err
    return lines[0]


# -- demo through the real entry point ----------------------------------------------------------------


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """A healthy and a latency-regression demo, side by side, into one store."""
    db = tmp_path_factory.mktemp("record") / "sessions.db"
    EventStore(db).close()  # the tables exist before the two writers start
    env = {"XDG_DATA_HOME": str(db.parent / "xdg"), "PATH": "/usr/bin:/bin"}
    procs = {
        s: subprocess.Popen(
            [EXE, "demo", "--db", db, "--scenario", s, *DEMO], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for s in ("healthy", "latency-regression")
    }
    done = {}
    for s, p in procs.items():
        out, err = p.communicate(timeout=60)
        done[s] = subprocess.CompletedProcess(p.args, p.returncode, out.decode(), err.decode())
    return db, done


def test_healthy_demo_succeeds_with_one_line_per_stage(record):
    _, done = record
    run = done["healthy"]
    assert run.returncode == 0, run.stderr
    stages = re.findall(r"stage (\d)/5 at (\d+)%", run.stdout)
    assert stages == [("1", "10"), ("2", "25"), ("3", "50"), ("4", "75"), ("5", "100")]
    assert "finished: succeeded" in run.stdout.splitlines()[-1]
    assert "ROLL BACK" not in run.stdout and run.stderr == ""


def test_latency_regression_demo_rolls_back_with_evidence(record):
    _, done = record
    run = done["latency-regression"]
    assert run.returncode == 1, run.stderr
    (decision,) = [line for line in run.stdout.splitlines() if "ROLL BACK (SLO_VIOLATION" in line]
    assert "p95_latency" in decision and "[evidence: 31 breaching samples from" in decision
    assert "finished: rolled back" in run.stdout.splitlines()[-1]


def test_sessions_json_lists_both_outcomes(record, capsys):
    db, _ = record
    assert main(["sessions", "--db", str(db), "--json"]) == 0
    listed = {s["scenario"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"healthy", "latency-regression"}
    assert (listed["healthy"]["outcome"], listed["healthy"]["highest_weight"]) == ("succeeded", 100)
    regression = listed["latency-regression"]
    assert (regression["outcome"], regression["highest_weight"]) == ("rolled_back", 25)


def test_audit_verify_passes_then_names_the_tampered_row(tmp_path, capsys):
    db = tmp_path / "sessions.db"
    assert main(["demo", "--db", str(db), "--scenario", "db-failures", *DEMO]) == 1
    assert "ROLL BACK (SLO_VIOLATION" in capsys.readouterr().out
    assert main(["audit", "verify", "--db", str(db)]) == 0
    assert capsys.readouterr().out.endswith(": ok\n")

    with sqlite3.connect(db) as raw:
        session, seq, payload = raw.execute(
            "select session_id, seq, payload from event where kind = 'check' order by seq limit 1 offset 2"
        ).fetchone()
        k = next(i for i, ch in enumerate(payload) if ch.isdigit())
        changed = payload[:k] + str((int(payload[k]) + 1) % 10) + payload[k + 1 :]
        raw.execute("update event set payload = ? where session_id = ? and seq = ?", (changed, session, seq))
    raw.close()
    assert main(["audit", "verify", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert f"{session}: TAMPERED at seq {seq}:" in out


# -- usage and configuration errors: one line, exit 2, nothing stored --------------------------------

PLAN_HEAD = 'name = "p"\ndeployment = "d"\n'
STAGE = "[[stages]]\nweight = {w}\nbake = {b}\n"
RULE = '[[rules]]\nname = "{n}"\ntitle = "t"\nquery = "q"\ncomparator = "{c}"\nthreshold = 1\n'
BAD_PLANS = {
    "weights not increasing": PLAN_HEAD + STAGE.format(w=50, b=1) + STAGE.format(w=25, b=1),
    "not ending at 100": PLAN_HEAD + STAGE.format(w=10, b=1) + STAGE.format(w=50, b=1),
    "negative duration": PLAN_HEAD + STAGE.format(w=100, b='"-5m"'),
    "unknown comparator": PLAN_HEAD + STAGE.format(w=100, b=0) + RULE.format(n="a", c="=="),
    "duplicate names": PLAN_HEAD + STAGE.format(w=100, b=0) + RULE.format(n="a", c=">") + RULE.format(n="a", c="<"),
    "bad TOML": PLAN_HEAD + "[[stages]\nweight = 100\n",
}


@pytest.mark.parametrize("case", [*BAD_PLANS, "missing file"])
def test_bad_plan_is_one_line_exit_2_and_stores_nothing(case, tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    if case in BAD_PLANS:
        plan.write_text(BAD_PLANS[case])
    db = tmp_path / "sessions.db"
    assert main(["demo", "--db", str(db), "--plan", str(plan), *DEMO]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(plan) in line
    assert sessions_in(db) == 0


def test_bad_plan_through_the_entry_point(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(BAD_PLANS["not ending at 100"])
    db = tmp_path / "sessions.db"
    run = cli("demo", "--db", db, "--plan", plan, *DEMO)
    assert run.returncode == 2 and run.stdout == ""
    assert "last stage must be 100" in one_error_line(run.stderr)
    assert sessions_in(db) == 0


def test_unknown_scenario(tmp_path, capsys):
    db = tmp_path / "sessions.db"
    assert main(["demo", "--db", str(db), "--scenario", "nope", *DEMO]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "'nope'" in line and all(s in line for s in SCENARIOS)
    assert sessions_in(db) == 0


def test_db_that_is_a_directory(tmp_path, capsys):
    assert main(["demo", "--db", str(tmp_path), "--scenario", "healthy", *DEMO]) == 2
    assert "is a directory" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("speed", "says"), [("0", "must be more than 0"), ("-3", "must be more than 0"), ("abc", "not a number")]
)
def test_bad_speed(speed, says, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--db", str(tmp_path / "s.db"), "--headless", "--speed", speed])
    assert exit_.value.code == 2
    assert f"argument --speed: {says}" in capsys.readouterr().err
    assert sessions_in(tmp_path / "s.db") == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_headless_run_without_attestations_lists_the_manual_items_before_any_call(tmp_path, capsys):
    url = f"http://127.0.0.1:{closed_port()}"
    db = tmp_path / "sessions.db"
    assert main(["run", "--db", str(db), "--headless", "--ops-url", url, "--prometheus-url", url]) == 2
    line = one_error_line(capsys.readouterr().err)
    manual = [i.id for i in PLAN.manual_items()]
    assert f"{len(manual)} manual items need an operator's attestation" in line
    assert all(i in line for i in manual)
    assert sessions_in(db) == 0


def test_attesting_an_unknown_item(tmp_path, capsys):
    db = tmp_path / "sessions.db"
    assert main(["demo", "--db", str(db), "--attest", "no-such-item=done", *DEMO]) == 2
    assert "no-such-item" in one_error_line(capsys.readouterr().err)
    assert sessions_in(db) == 0


# -- plan and help -----------------------------------------------------------------------------------


def test_plan_lists_every_item(capsys):
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    missing = [i.id for i in PLAN.items if f"[{i.id} · {i.phase}]" not in out]
    assert not missing
    assert all(r.name in out for r in PLAN.rules)


def test_plan_json_parses(capsys):
    assert main(["plan", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [i["id"] for i in data["items"]] == [i.id for i in PLAN.items]
    assert [s["weight"] for s in data["stages"]] == [10, 25, 50, 75, 100]


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "run", "sim", "sessions", "audit", "plan"):
        assert re.search(rf"^\s+{command}\s", out, re.M), command


def test_help_shows_plain_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "%%" not in out and "0% to 100%" in out


def test_help_through_the_entry_point():
    run = cli("--help")
    assert run.returncode == 0 and "demo" in run.stdout and "audit" in run.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_db_is_used_before_or_after_the_command(where, tmp_path, capsys):
    db = str(tmp_path / "sessions.db")
    args = ["demo", "--scenario", "webhook-signatures", *DEMO]
    assert main(["--db", db, *args] if where == "before" else [*args, "--db", db]) == 1
    assert "ROLL BACK (SLO_VIOLATION, by conductor): webhook_signatures" in capsys.readouterr().out
    assert sessions_in(Path(db)) == 1


def test_headless_lines_go_to_the_current_stdout_not_the_one_at_import(tmp_path):
    out = io.StringIO()
    with redirect_stdout(out):
        main(["demo", "--db", str(tmp_path / "s.db"), "--scenario", "db-failures", *DEMO])
    assert "ROLL BACK" in out.getvalue()
