"""`canary-console run` end to end: the HTTP simulator, a real Prometheus, real processes.

Every rule is evaluated on PromQL answers from Debian's Prometheus, which scrapes the
simulator's /metrics every second. The module keeps one scrape target: each test serves its
simulator on that port, so no test waits for Prometheus to discover a new target.

Scenario onsets are set for the default plan (e.g. error-spike: 120 s after 50%); with
quick.toml's bakes of seconds the simulator runs its own clock faster (`--speed`), which
brings the onset within the run and changes nothing else the console sees.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prom_helpers import PrometheusServer
from sim_helpers import QUICK_PLAN, Console, SimProcess, scrape_target, scraped

WEIGHTS = [10, 25, 50, 75, 100]


@pytest.fixture(scope="module")
def port(prometheus: PrometheusServer) -> int:
    """The module's scrape target, already known to Prometheus."""
    left = prometheus.query('ALERTS{alertstate="firing"}')
    assert not left, f"alerts still firing from another test's target (quick.toml counts them all): {left}"
    return scrape_target(prometheus)


@pytest.fixture
def start(prometheus: PrometheusServer, port: int, tmp_path: Path) -> Iterator:
    """start(scenario, speed) → a scraped simulator on the module's port; stopped after the test."""
    sims: list[SimProcess] = []

    def start_sim(scenario: str, speed: float = 1.0) -> SimProcess:
        sim = SimProcess(port, scenario, tmp_path, speed=speed)
        sims.append(sim)
        scraped(prometheus, sim)
        return sim

    yield start_sim
    for sim in sims:
        sim.stop()


def confirmed_weights(console: Console) -> list[int]:
    return [int(m[1]) for _, line in console.lines if (m := re.search(r"ops API confirmed weight (\d+)%", line))]


def test_healthy_rollout_reaches_100_promoting_each_weight_once(start, prometheus, tmp_path):
    sim = start("healthy")
    console = Console(sim.url, prometheus.url, tmp_path)
    code, err = console.wait(timeout=70)

    assert code == 0, f"{console.text}\n{err}"
    assert confirmed_weights(console) == WEIGHTS
    assert "finished: succeeded" in console.lines[-1][1]
    promotes = sim.calls("canary/promote")
    assert [c["body"]["weight"] for c in promotes] == WEIGHTS
    assert all(c["status"] == 200 for c in promotes)
    keys = [c["idempotency_key"] for c in promotes]
    assert all(keys) and len(set(keys)) == len(keys)
    assert sim.calls("canary/rollback") == []


def test_error_spike_rolls_back_on_error_rate(start, prometheus, tmp_path):
    sim = start("error-spike", speed=60)  # onset 120 sim-s after 50% = 2 s
    console = Console(sim.url, prometheus.url, tmp_path)
    code, err = console.wait(timeout=50)

    assert code == 1, f"{console.text}\n{err}"
    assert "decision: ROLL BACK (SLO_VIOLATION, by conductor): error_rate" in console.text
    assert "finished: rolled back — SLO_VIOLATION: error_rate" in console.lines[-1][1]
    [rollback] = sim.calls("canary/rollback")
    assert rollback["status"] == 200
    assert rollback["body"]["reason"] == "SLO_VIOLATION"
    assert rollback["body"]["detail"].startswith("error_rate ")
    assert 50 in [c["body"]["weight"] for c in sim.calls("canary/promote")]


def test_p1_alert_rolls_back_at_once_when_the_alert_fires(start, prometheus, tmp_path):
    speed = 60.0
    sim = start("p1-alert", speed=speed)  # the P1 fires 200 sim-s after 50% = 3.3 s
    console = Console(sim.url, prometheus.url, tmp_path)
    code, err = console.wait(timeout=50)

    assert code == 1, f"{console.text}\n{err}"
    decision = next(line for _, line in console.lines if "decision: ROLL BACK" in line)
    assert "(SLO_VIOLATION, by conductor): critical_alerts 1 > 0" in decision
    assert "rule critical_alerts: ok → breached" in console.text  # sustain 0: never pending
    [promote50] = [c for c in sim.calls("canary/promote") if c["body"]["weight"] == 50]
    [rollback] = sim.calls("canary/rollback")
    assert rollback["body"]["detail"].startswith("critical_alerts ")
    onset = promote50["wall"] + 200 / speed
    alert = f'ALERTS{{alertname="CanaryIncidentP1",alertstate="firing",instance="127.0.0.1:{sim.port}"}}[5m]'
    [series] = prometheus.query(alert)
    fired = float(series["values"][0][0])  # the first rule evaluation that saw the incident
    assert onset - 0.05 < fired < onset + 2.5  # one scrape, one evaluation
    assert fired < rollback["wall"] < fired + 2.0  # one poll: no sustain window


def test_prometheus_down_mid_run_blocks_promotion_without_rollback(start, prometheus, tmp_path):
    # quick.toml with shorter bakes and validation, to keep the test short
    text = QUICK_PLAN.read_text().replace('"10s" }', '"4s" }').replace('"5s" }', '"2s" }')
    text = text.replace('validation = "15s"', 'validation = "3s"')
    plan = tmp_path / "quicker.toml"
    plan.write_text(text)
    sim = start("healthy")
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)
    console.wait_line("rule publish_success:reddit: unknown → ok", timeout=15)  # the 10% bake runs
    stopped = time.time()
    prometheus.stop()
    try:
        console.wait_line("rule error_rate: ok → unknown", timeout=10)
        console.wait_line("paused: no data", timeout=20)  # no_data_limit: 10 s
    finally:
        prometheus.start()
    restarted = time.time()
    console.wait_line("resumed: data is back", timeout=15)
    code, err = console.wait(timeout=40)

    assert code == 0, f"{console.text}\n{err}"
    assert "finished: succeeded" in console.lines[-1][1]
    promotes = sim.calls("canary/promote")
    assert [c["body"]["weight"] for c in promotes] == WEIGHTS
    assert not [c for c in promotes if stopped <= c["wall"] <= restarted]
    assert sim.calls("canary/rollback") == []
    assert "ROLL BACK" not in console.text
