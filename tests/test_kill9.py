"""The kill -9 harness: `canary-console run` dies by SIGKILL at each point of a rollout, the same command resumes it.

Real processes: the HTTP simulator, the session's Prometheus scraping it, and the console. The
simulator's run-time faults hold the child at the point; the store and the call log tell when it
is there. After the restart the call log must show no weight applied twice and no rollback lost,
`audit verify` must pass, the store must hold one session, and the outcome is the scenario's.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prom_helpers import PrometheusServer, wait_for
from sim_helpers import CONSOLE, QUICK_PLAN, ROOT, Console, SimProcess, scrape_target, scraped

BREACH = {"scenario": "db-failures", "speed": 300.0}  # breach 2 s after 10%, quick.toml's sustain 2 s
MUTATING = ("/internal/ops/canary/promote", "/internal/ops/canary/rollback")


@pytest.fixture(scope="module")
def port(prometheus: PrometheusServer) -> int:
    """The module's scrape target, already known to Prometheus."""
    return scrape_target(prometheus)


@pytest.fixture
def start(prometheus: PrometheusServer, port: int, tmp_path: Path) -> Iterator:
    """start(scenario, ...) → a scraped simulator on the module's port; stopped after the test."""
    sims: list[SimProcess] = []

    def start_sim(scenario: str = "healthy", **options) -> SimProcess:
        sim = SimProcess(port, scenario, tmp_path, **options)
        sims.append(sim)
        scraped(prometheus, sim)
        return sim

    yield start_sim
    for sim in sims:
        sim.stop()


@pytest.fixture
def plan(port: int, tmp_path: Path) -> Path:
    """quick.toml with bakes of 3 s then 1 s, 2 s validation, critical_alerts counting this module's target only."""
    text = QUICK_PLAN.read_text()
    query = 'count(ALERTS{alertstate="firing",severity=~"P0|P1"}) or vector(0)'
    assert query in text and '"10s" }' in text and 'validation = "15s"' in text
    text = text.replace(query, query.replace('P1"', f'P1",instance="127.0.0.1:{port}"'))
    text = (
        text.replace('"10s" }', '"3s" }').replace('"5s" }', '"1s" }').replace('validation = "15s"', 'validation = "2s"')
    )
    path = tmp_path / "quick-kill9.toml"
    path.write_text(text)
    return path


def stored(db: Path) -> list[tuple[str, dict]]:
    """(kind, payload) of every event in the store, read-only while the child writes."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT kind, payload FROM event ORDER BY session_id, seq").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()
    return [(kind, json.loads(payload)) for kind, payload in rows]


def kinds(db: Path) -> list[str]:
    return [kind for kind, _ in stored(db)]


def sim_weight(sim: SimProcess) -> int:
    with urllib.request.urlopen(f"{sim.url}/internal/ops/canary/status", timeout=2) as response:
        return json.load(response)["weight"]


def kill(console: Console) -> float:
    """SIGKILL the child; the wall time it was gone."""
    console.proc.send_signal(signal.SIGKILL)
    code, _ = console.wait(timeout=5)
    assert code == -signal.SIGKILL
    return time.time()


def cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CONSOLE, *args, "--db", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=30)


def restart_and_check(sim: SimProcess, prometheus: PrometheusServer, plan: Path, workdir: Path, expect: int) -> float:
    """Run the same command again; check the outcome, the call log, the audit chain and the session list."""
    restarted = time.time()
    console = Console(sim.url, prometheus.url, workdir, plan=plan)
    code, err = console.wait(timeout=25)
    assert code == expect, f"{console.text}\n{err}"
    assert "session resumed by" in console.text
    assert ("finished: succeeded" if expect == 0 else "finished: rolled back") in console.lines[-1][1]

    applied: dict[int, set[str]] = {}  # weight -> idempotency keys the server answered 200
    highest = 0
    for call in sim.calls():
        if call["path"] == MUTATING[0] and call["status"] == 200:
            weight = call["body"]["weight"]
            assert weight >= highest, f"promote to {weight}% after {highest}% was applied"
            highest = weight
            applied.setdefault(weight, set()).add(call["idempotency_key"])
    assert all(len(keys) == 1 and None not in keys for keys in applied.values()), applied
    rollbacks = [c for c in sim.calls("canary/rollback") if c["status"] == 200]
    if expect == 1:
        assert rollbacks, "the rollback was lost"
        after = [c for c in sim.calls() if c["path"] in MUTATING and c["wall"] > rollbacks[0]["wall"]]
        assert not [c for c in after if c["path"] == MUTATING[0] and c["status"] == 200]
    else:
        assert sorted(applied) == [10, 25, 50, 75, 100] and not rollbacks

    db = workdir / "sessions.db"
    verify = cli("audit", "verify", db=db)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    listing = cli("sessions", "--json", db=db)
    assert listing.returncode == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == 1, listing.stdout
    return restarted


def test_killed_before_any_intent_is_committed(start, prometheus, plan, tmp_path):
    sim = start()
    db = tmp_path / "sessions.db"
    sim.set_faults({"slow_seconds": 2})  # each ops call takes 2 s: the pre-flight checks hold the child
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)
    wait_for(lambda: "session_started" in kinds(db), timeout=20, step=0.02)
    kill(console)
    assert not {"attested", "promotion_decided"} & set(kinds(db))
    assert sim.calls("canary/promote") == []
    sim.set_faults({"slow_seconds": 0})

    restart_and_check(sim, prometheus, plan, tmp_path, expect=0)


def test_killed_after_the_intent_before_the_promote_is_applied(start, prometheus, plan, tmp_path):
    sim = start()
    db = tmp_path / "sessions.db"
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)
    checked = lambda: any(k == "check" and p["target"] == "webhook-tiktok" for k, p in stored(db))  # noqa: E731
    wait_for(checked, timeout=20, step=0.02)
    # every ops call from here (two checks, a status read, the promote) waits 3 s before it is carried out
    sim.set_faults({"slow_seconds": 3})
    assert "promotion_decided" not in kinds(db)
    wait_for(lambda: "promotion_decided" in kinds(db), timeout=20, step=0.02)
    time.sleep(0.5)  # the POST reaches the server, which holds it (3 s) before applying it
    assert not [c for c in sim.calls("canary/promote") if c["status"] == 200]
    kill(console)
    assert "promoted" not in kinds(db)
    sim.set_faults({"slow_seconds": 0})

    restart_and_check(sim, prometheus, plan, tmp_path, expect=0)


def test_killed_after_the_promote_is_applied_before_its_result_is_stored(start, prometheus, plan, tmp_path):
    sim = start()
    db = tmp_path / "sessions.db"
    sim.set_faults({"timeout_after_apply": ["promote"], "timeout_seconds": 30})  # apply, then hold the answer
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)
    wait_for(lambda: sim.calls("canary/promote"), timeout=20, step=0.02)  # logged when applied, before the hang
    assert sim_weight(sim) == 10
    kill(console)
    assert "promotion_decided" in kinds(db) and "promoted" not in kinds(db)

    restarted = restart_and_check(sim, prometheus, plan, tmp_path, expect=0)
    assert [c["body"]["weight"] for c in sim.calls("canary/promote") if c["wall"] > restarted] == [25, 50, 75, 100]


def test_killed_during_a_bake(start, prometheus, plan, tmp_path):
    sim = start()
    db = tmp_path / "sessions.db"
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)

    def baking() -> bool:
        events = stored(db)
        return any(kind == "stage_started" and p["weight"] in (10, 25) for kind, p in events)

    wait_for(baking, timeout=20, step=0.02)
    kill(console)
    weight = max(p["weight"] for kind, p in stored(db) if kind == "stage_started")
    assert weight in (10, 25) and kinds(db)[-1] != "finished"

    restarted = restart_and_check(sim, prometheus, plan, tmp_path, expect=0)
    again = [c["body"]["weight"] for c in sim.calls("canary/promote") if c["wall"] > restarted]
    assert again and min(again) > weight  # it went on from the stage it was in


def test_killed_while_a_rollback_is_pending(start, prometheus, plan, tmp_path):
    sim = start(**BREACH)
    db = tmp_path / "sessions.db"
    sim.set_faults({"fail_next_rollback": 1000})
    console = Console(sim.url, prometheus.url, tmp_path, plan=plan)

    def pending() -> bool:
        failed = [c for c in sim.calls("canary/rollback") if c["status"] == 500]
        return bool(failed) and "rollback_decided" in kinds(db)

    wait_for(pending, timeout=30, step=0.02)
    kill(console)
    assert "rolled_back" not in kinds(db)
    sim.set_faults({"fail_next_rollback": 0})

    restarted = restart_and_check(sim, prometheus, plan, tmp_path, expect=1)
    mutating = [c for c in sim.calls() if c["path"] in MUTATING and c["wall"] > restarted]
    assert mutating and mutating[0]["path"] == MUTATING[1] and mutating[0]["status"] == 200
    assert [c["path"] for c in mutating] == [MUTATING[1]]  # nothing promoted after it
    keys = {c["idempotency_key"] for c in sim.calls("canary/rollback")}
    assert len(keys) == 1  # the restart carried out the same intent
