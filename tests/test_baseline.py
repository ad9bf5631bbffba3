"""The baseline: a succeeded session's medians at 100%, loaded by the next session and shown beside the canary."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from session_helpers import OPERATOR, record
from sqlalchemy import select
from textual.app import App, ComposeResult

from console import events as ev
from console import view
from console.clock import ManualClock
from console.metrics import SimulatorSource
from console.ops import LocalOps
from console.plan import default_plan
from console.resume import begin
from console.runner import Runner
from console.sim import SimModel
from console.state import initial
from sessions.baseline import BASELINE, baseline_from, load_baseline
from sessions.store import EventStore
from widgets.slo import SloRow, SloTable

PLAN = default_plan()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("baseline") / "sessions.db"
    return db, record(db, "healthy", PLAN)


def test_baseline_from_takes_the_median_of_known_samples_at_100_percent():
    records = [
        ("samples", 1.0, {"values": {"p95_latency": 9.0}}),  # before validation: not at 100%
        ("validation_started", 2.0, {"duration": 7200.0}),
        ("samples", 3.0, {"values": {"p95_latency": 1.0, "error_rate": None}}),
        ("samples", 4.0, {"values": {"p95_latency": 3.0, "error_rate": 0.01}}),
        ("samples", 5.0, {"values": {"p95_latency": 2.5, "error_rate": 0.03}}),
    ]
    assert baseline_from(records) == {"error_rate": 0.02, "p95_latency": 2.5}
    assert baseline_from(records[:2]) == {}


def test_a_recorded_healthy_session_has_a_healthy_baseline_of_every_rule_series(healthy):
    db, sid = healthy
    with EventStore(db) as store:
        values = baseline_from(store.records(sid))
    rules = PLAN.series()
    assert rules.keys() <= values.keys()
    assert {shown.name for shown in PLAN.shown} <= values.keys()
    assert [name for name, rule in rules.items() if rule.breaches(values[name])] == []


def test_a_succeeded_session_writes_its_baseline(healthy):
    db, sid = healthy
    with EventStore(db) as store:
        assert store.session(sid).outcome == "succeeded"
        assert load_baseline(store, PLAN.deployment) == (sid, baseline_from(store.records(sid)))
        assert load_baseline(store, "another-deployment") == ("", {})


def test_a_rolled_back_session_writes_no_baseline(tmp_path):
    db = tmp_path / "sessions.db"
    sid = record(db, "error-spike", PLAN)
    with EventStore(db) as store, store._read("test") as conn:
        assert store.session(sid).outcome == "rolled_back"
        assert conn.execute(select(BASELINE)).all() == []


async def test_the_next_session_starts_with_the_baseline_loaded(healthy):
    db, previous = healthy
    clock = ManualClock()
    model = SimModel("healthy", 1, poll_interval=PLAN.poll_interval)
    r = SimpleNamespace(
        plan=PLAN, clock=clock, operator=OPERATOR, roles=["admin"], attestations=[], scenario="healthy", meta={}
    )
    begun = begin(r, db, auto_promote=False)
    try:
        runner = Runner(
            plan=PLAN,
            store=begun.store,
            ops=LocalOps(model, clock),
            metrics=SimulatorSource(model, PLAN),
            clock=clock,
            session=begun.session,
        )
        await begun.starter(runner)
        kinds = [row.kind for row in begun.store.events(begun.session)]
        loaded = next(row.payload for row in begun.store.events(begun.session) if row.kind == "baseline_loaded")
        _, expected = load_baseline(begun.store, PLAN.deployment)
    finally:
        begun.store.close()
    # after the start and the pre-flight check results it set off, before any sample
    at = kinds.index("baseline_loaded")
    assert kinds[0] == "session_started" and set(kinds[1:at]) <= {"check"} and "samples" not in kinds
    assert loaded == {"values": expected, "source": previous}


def test_slo_rows_show_the_baseline_from_the_history():
    s = initial(PLAN)
    h = view.History()
    assert {row.base for row in view.slo_rows(s, h, 0.0)} == {""}
    h.add(ev.BaselineLoaded(at=0.0, values={"p95_latency": 1.8, "error_rate": 0.0025}, source="x"))
    rows = {row.series: row.base for row in view.slo_rows(s, h, 0.0)}
    assert rows["p95_latency"] == "1.8 s" and rows["error_rate"] == "0.25%" and rows["success_rate"] == ""
    given = {row.series: row.base for row in view.slo_rows(s, h, 0.0, {"success_rate": 0.99})}
    assert given["success_rate"] == "99%" and given["p95_latency"] == ""


class Table(App[None]):
    def __init__(self, rows: list[SloRow]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield SloTable()

    def on_mount(self) -> None:
        self.query_one(SloTable).set_rows(self.rows)


ROW = SloRow("p95_latency", "P95 latency", "ok", "2.1 s", "> 10 s", "", (2.0, 2.1), 10.0)
BASED = replace(ROW, base="1.8 s")


@pytest.mark.parametrize(
    "rows, width, columns",
    [
        ([ROW], 120, ["status", "series", "value", "limit", "trend", "timer"]),
        ([BASED], 120, ["status", "series", "value", "base", "limit", "trend", "timer"]),
        ([BASED], 60, ["status", "series", "value", "limit", "trend", "timer"]),
    ],
)
async def test_the_base_column_shows_when_there_is_a_baseline_and_goes_first_when_narrow(rows, width, columns):
    app = Table(rows)
    async with app.run_test(size=(width, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(SloTable)
        assert [key.value for key in table.columns] == columns
        if "base" in columns:
            assert table.get_cell("p95_latency", "base").plain == "1.8 s"
