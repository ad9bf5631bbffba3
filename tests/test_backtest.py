"""`canary-console backtest`: recorded polls through another plan's rules, on the recorded stage timeline."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from session_helpers import record

from console.backtest import backtest
from console.cli import main
from console.plan import default_plan, parse_plan
from sessions.store import EventStore

PLAN = default_plan()
PLAN_TEXT = (Path(__file__).parent.parent / "console" / "default_plan.toml").read_text(encoding="utf-8")


def variant(name: str, old: str, new: str) -> str:
    """The default plan's TOML with one line changed (it must be there exactly once)."""
    assert PLAN_TEXT.count(old) == 1, old
    return PLAN_TEXT.replace(old, new).replace('name = "default"', f'name = "{name}"', 1)


LENIENT_P95 = variant("lenient", "threshold = 10\n", "threshold = 20\n")  # p95 14 s is fine
QUICK_P95 = variant("quick-p95", 'threshold = 10\nsustain = "5m"', 'threshold = 10\nsustain = "2m"')
STRICT_ERRORS = variant("strict", "threshold = 0.01\n", "threshold = 0.002\n")  # healthy: 0.15-0.35%
EXTRA_RULE = PLAN_TEXT.replace('name = "default"', 'name = "extra"', 1) + (
    '\n[[rules]]\nname = "queue_depth"\ntitle = "Queue depth"\nquery = "q"\ncomparator = ">"\n'
    'threshold = 100\non_no_data = "ok"\naction = "hold"\nunit = "count"\n'
)
# publish success 97.2-99.3% in the healthy sim: a 98.5% floor that only holds is pending or breached at times
HOLD_PUBLISH = variant(
    "hold", 'threshold = 0.95\nsustain = "5m"\naction = "hold"', 'threshold = 0.985\nsustain = "5m"\naction = "hold"'
)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("backtest")
    scenarios = ("healthy", "latency-regression")
    with ThreadPoolExecutor(2) as pool:
        ids = pool.map(lambda s: record(folder / f"{s}.db", s, PLAN), scenarios)
        return {s: (folder / f"{s}.db", sid) for s, sid in zip(scenarios, ids, strict=True)}


def records(sessions, scenario: str):
    db, sid = sessions[scenario]
    with EventStore(db) as store:
        return store.records(sid)


def test_identical_plan_has_no_differences(sessions):
    for scenario in sessions:
        assert backtest(records(sessions, scenario), PLAN) == [], scenario


def test_a_looser_latency_threshold_would_not_have_rolled_back(sessions):
    (d,) = backtest(records(sessions, "latency-regression"), parse_plan(LENIENT_P95))
    assert d.kind == "no_rollback" and d.text.startswith("would NOT have rolled back")
    assert "the recorded session did at 25% +40m10s" in d.text
    assert "under this plan at that moment: p95_latency" in d.text and "(breach > 20 s)" in d.text
    assert d.recorded_at == 2410.0 and d.series == ["p95_latency"]


def test_a_shorter_sustain_would_have_rolled_back_earlier(sessions):
    recs = records(sessions, "latency-regression")
    recorded = next(p for k, _, p in recs if k == "rollback_decided")["evidence"]
    (d,) = backtest(recs, parse_plan(QUICK_P95))
    assert d.kind == "rollback_moved" and "earlier than the recorded rollback at 25% +40m10s" in d.text
    assert d.at == recorded["window_start"] + 120 and d.weight == 25
    assert d.evidence["window_start"] == recorded["window_start"] and d.evidence["sustain"] == 120


def test_a_stricter_error_threshold_would_have_rolled_back_a_healthy_session(sessions):
    recs = records(sessions, "healthy")
    (d,) = backtest(recs, parse_plan(STRICT_ERRORS))
    assert d.kind == "rollback" and d.text.startswith("would have rolled back at 10% +")
    assert d.text.endswith("the recorded session did not roll back") and "error_rate" in d.text
    assert d.evidence["rule"] == "error_rate" and d.evidence["threshold"] == 0.002
    assert d.evidence["min"] > 0.002  # the evidence is breaching samples of the recorded log
    polls = [(at, p["values"]["error_rate"]) for k, at, p in recs if k == "samples"]
    window = [v for at, v in polls if d.evidence["window_start"] <= at <= d.evidence["window_end"]]
    assert (min(window), max(window)) == (d.evidence["min"], d.evidence["max"])


def test_a_rule_that_was_not_ok_at_a_promotion_would_have_blocked_it(sessions):
    recs = records(sessions, "healthy")
    promotions = {at: p["to_weight"] for k, at, p in recs if k == "promotion_decided" and p["from_weight"] > 0}
    found = backtest(recs, parse_plan(HOLD_PUBLISH))
    assert found and {d.kind for d in found} == {"promotion_blocked"}  # a hold rule never rolls back
    for d in found:
        assert d.at == d.recorded_at and d.at in promotions
        assert d.text.startswith(f"would have blocked promotion to {promotions[d.at]}% at {d.weight}% +")
        assert d.series and all(s.startswith("publish_success:") for s in d.series)
        assert set(d.evidence) == set(d.series) and all(s in d.text for s in d.series)
        assert not any(" ok (breach" in state for state in d.evidence.values())  # each one was pending or breached


def test_series_missing_from_the_log_are_reported_and_never_healthy(sessions):
    found = backtest(records(sessions, "healthy"), parse_plan(EXTRA_RULE))
    assert found[0].kind == "no_samples" and found[0].text == "no recorded samples for queue_depth"
    blocked = [d for d in found if d.kind == "promotion_blocked"]
    assert [d.text.split(" at ")[0] for d in blocked] == [
        f"would have blocked promotion to {w}%" for w in (25, 50, 75, 100)
    ]
    assert all("queue_depth unknown" in d.text for d in blocked)


def test_cli_prints_the_differences_and_writes_nothing(sessions, tmp_path, capsys):
    db, sid = sessions["latency-regression"]
    plan = tmp_path / "lenient.toml"
    plan.write_text(LENIENT_P95, encoding="utf-8")
    before = db.read_bytes()
    assert main(["--db", str(db), "backtest", sid[:17], "--plan", str(plan)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"backtest of session {sid} (rolled_back, plan default) against plan lenient")
    assert out[1].startswith("- would NOT have rolled back")
    assert main(["--db", str(db), "backtest", sid, "--plan", str(plan), "--json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert list(d) == ["kind", "text", "at", "weight", "recorded_at", "series", "evidence"]
    assert d["kind"] == "no_rollback"
    same = tmp_path / "same.toml"
    same.write_text(PLAN_TEXT, encoding="utf-8")
    assert main(["--db", str(db), "backtest", sid, "--plan", str(same)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "no differences: plan default decides as the recorded session did"
    assert db.read_bytes() == before


def test_cli_bad_input_exits_2_in_one_line(sessions, tmp_path, capsys):
    db, sid = sessions["healthy"]
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 1\n", encoding="utf-8")
    assert main(["--db", str(db), "backtest", sid, "--plan", str(bad)]) == 2
    assert main(["--db", str(db), "backtest", "nope", "--plan", str(tmp_path / "missing.toml")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(e.startswith("canary-console: error: ") for e in errors)
