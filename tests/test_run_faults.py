"""`canary-console run` against a misbehaving ops API (the HTTP simulator's faults) and missing services.

Real processes: the simulator over HTTP, a real Prometheus scraping it, and the console. The
rollbacks come from the db-failures scenario with the simulator's clock 300× faster, so its
breach starts 2 s after 10% (600 sim-s) and quick.toml's 2 s sustain ends it soon after.

The runs use quick.toml with its one global query, critical_alerts, kept to this module's
target: the tests share one Prometheus, and another module's alert can outlive its target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prom_helpers import PrometheusServer, free_port
from sim_helpers import QUICK_PLAN, Console, SimProcess, scrape_target, scraped

BREACH = {"scenario": "db-failures", "speed": 300.0}
ADMIN, VIEWER = "admin-token-0123456789", "viewer-token-9876543210"


@pytest.fixture(scope="module")
def port(prometheus: PrometheusServer) -> int:
    """The module's scrape target, already known to Prometheus."""
    return scrape_target(prometheus)


@pytest.fixture
def start(prometheus: PrometheusServer, port: int, tmp_path: Path) -> Iterator:
    """start(scenario, ...) → a simulator; scraped on the module's port unless scrape=False."""
    sims: list[SimProcess] = []

    def start_sim(scenario: str = "healthy", *, scrape: bool = True, **options) -> SimProcess:
        sim = SimProcess(port if scrape else free_port(), scenario, tmp_path, **options)
        sims.append(sim)
        if scrape:
            scraped(prometheus, sim)
        return sim

    yield start_sim
    for sim in sims:
        sim.stop()


@pytest.fixture
def plan(port: int, tmp_path: Path) -> Path:
    """quick.toml with critical_alerts counting only the alerts of this module's target."""
    text = QUICK_PLAN.read_text()
    query = 'count(ALERTS{alertstate="firing",severity=~"P0|P1"}) or vector(0)'
    assert query in text
    path = tmp_path / "quick-here.toml"
    path.write_text(text.replace(query, query.replace('P1"', f'P1",instance="127.0.0.1:{port}"')))
    return path


def only_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_rollback_answered_500_is_retried_with_one_key_until_confirmed(start, prometheus, plan, tmp_path):
    sim = start(**BREACH, faults=["fail_next_rollback=3"])
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)
    code, err = console.wait(timeout=40)

    assert code == 1, f"{console.text}\n{err}"
    rollbacks = sim.calls("canary/rollback")
    assert [c["status"] for c in rollbacks] == [500, 500, 500, 200]
    assert len({c["idempotency_key"] for c in rollbacks}) == 1 and rollbacks[0]["idempotency_key"]
    # nothing says "rolled back" before the ops API confirmed it
    confirmed = rollbacks[-1]["wall"]
    shown = [(t, line) for t, line in console.lines if "rolled back" in line or "confirmed rollback" in line]
    assert [line.split("%  ", 1)[1].split(":")[0] for _, line in shown] == ["ops API confirmed rollback", "finished"]
    assert all(t >= confirmed for t, _ in shown)
    assert "finished: rolled back — SLO_VIOLATION: db_connection_failures" in console.lines[-1][1]


def test_promote_and_rollback_that_time_out_after_applying_are_sent_once(start, prometheus, plan, tmp_path):
    # the server applies, then holds the answer 6 s: past the client's 5 s timeout
    sim = start(**BREACH, faults=["timeout_after_apply=promote,rollback", "timeout_seconds=6"])
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)
    code, err = console.wait(timeout=40)

    assert code == 1, f"{console.text}\n{err}"
    [promote] = sim.calls("canary/promote")
    [rollback] = sim.calls("canary/rollback")
    assert promote["body"]["weight"] == 10
    # each was confirmed only after the client's 5 s timeout, from a re-read status
    assert console.wait_line("ops API confirmed weight 10%") > promote["wall"] + 5
    assert console.wait_line("ops API confirmed rollback") > rollback["wall"] + 5
    assert "finished: rolled back" in console.lines[-1][1]


def test_malformed_status_is_reported_and_the_run_goes_on(start, prometheus, plan, tmp_path):
    sim = start(**BREACH)
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)
    console.wait_line("ops API confirmed weight 10%", timeout=15)
    sim.set_faults({"malformed_json_next": 2})  # the next two answers: status reads during the bake
    code, err = console.wait(timeout=40)

    assert code == 1, f"{console.text}\n{err}"
    warning = (
        "canary-console: warning: status read failed: ops API sent malformed JSON for GET /internal/ops/canary/status"
    )
    assert err.splitlines() == [warning, warning]
    assert "finished: rolled back — SLO_VIOLATION: db_connection_failures" in console.lines[-1][1]
    assert [c["status"] for c in sim.calls("canary/rollback")] == [200]


def test_wrong_token_exits_2_with_one_line(start, prometheus, tmp_path):
    sim = start(scrape=False, token=ADMIN)
    console = Console(sim.url, prometheus.url, tmp_path, token="wrong-token-000")
    code, err = console.wait(timeout=20)

    assert code == 2
    assert only_line(err) == "canary-console: error: ops API refused GET /internal/ops/whoami (401): token not accepted"
    assert "wrong-token-000" not in err + console.text
    assert {c["path"] for c in sim.calls()} == {"/internal/ops/whoami"}


def test_viewer_with_auto_promote_exits_2_before_any_change(start, prometheus, tmp_path):
    sim = start(scrape=False, token=ADMIN, viewer_token=VIEWER)
    console = Console(sim.url, prometheus.url, tmp_path, token=VIEWER)
    code, err = console.wait(timeout=20)

    assert code == 2
    line = only_line(err)
    assert line == "canary-console: error: --auto-promote needs the admin role; the ops API says viewer has: viewer"
    assert [c["status"] for c in sim.calls("whoami")][-1] == 200  # the console's own whoami, as viewer
    assert {c["path"] for c in sim.calls()} == {"/internal/ops/whoami"}  # no check, no promote
    assert not (tmp_path / "sessions.db").exists()


def test_ops_api_down_at_start_exits_2_with_one_line(prometheus, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    console = Console(url, prometheus.url, tmp_path)
    code, err = console.wait(timeout=40)  # whoami is retried for the client's 20 s deadline

    assert code == 2
    assert only_line(err) == f"canary-console: error: ops API unreachable at {url}: connection refused"
    assert not (tmp_path / "sessions.db").exists()


def test_prometheus_down_at_start_exits_2_with_one_line(start, tmp_path):
    sim = start(scrape=False)
    before = len(sim.calls())
    url = f"http://127.0.0.1:{free_port()}"
    console = Console(sim.url, url, tmp_path)
    code, err = console.wait(timeout=20)

    assert code == 2
    assert only_line(err) == f"canary-console: error: Prometheus unreachable at {url}: connection refused"
    assert len(sim.calls()) == before  # nothing was sent to the ops API
    assert not (tmp_path / "sessions.db").exists()
