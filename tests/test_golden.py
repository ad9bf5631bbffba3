"""Golden files: the export and the backtest of seeded sessions, byte for byte (after the wall times and the
session id, which differ on every run, are replaced).

After an intended change: UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py, then read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from session_helpers import record
from test_backtest import QUICK_P95, STRICT_ERRORS

from console.backtest import backtest
from console.plan import default_plan, parse_plan
from sessions.export import build
from sessions.export_render import markdown
from sessions.store import EventStore

GOLDEN = Path(__file__).parent / "golden"
PLAN = default_plan()
WALL = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:\+00:00|Z)?")
CLOCK = re.compile(r"(?<![+\d:])\d{2}:\d{2}:\d{2}(?:\.\d+)?")  # a wall time of day; session times start with +


def normalized(text: str, session: str) -> str:
    return CLOCK.sub("HH:MM:SS", WALL.sub("WALL", text.replace(session, "SESSION")))


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {name}: run with UPDATE_GOLDEN=1 and read it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, tuple[str, EventStore]]:
    db = tmp_path_factory.mktemp("golden") / "s.db"
    ids = {scenario: record(db, scenario, PLAN) for scenario in ("healthy", "latency-regression")}
    return {scenario: (sid, db) for scenario, sid in ids.items()}


@pytest.mark.parametrize("scenario", ["healthy", "latency-regression"])
def test_export_markdown_matches_its_golden_file(sessions, scenario):
    session, db = sessions[scenario]
    with EventStore(db) as store:
        md = markdown(build(store.session(session), store.events(session), PLAN))
    check(f"export-{scenario}.md", normalized(md, session))


@pytest.mark.parametrize(
    ("scenario", "plan_text", "name"),
    [("latency-regression", QUICK_P95, "quick-p95"), ("healthy", STRICT_ERRORS, "strict-errors")],
)
def test_backtest_matches_its_golden_file(sessions, scenario, plan_text, name):
    session, db = sessions[scenario]
    with EventStore(db) as store:
        found = backtest(store.records(session), parse_plan(plan_text, name))
    check(f"backtest-{scenario}-{name}.txt", "\n".join(d.text for d in found) + "\n")
