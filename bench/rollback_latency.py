"""Rollback latency: from the end of a breach's sustain window to the rollback POST reaching the ops API.

Real processes on loopback: Debian's Prometheus (scrape and rule evaluation every 1 s), the HTTP
simulator (`canary-console sim`, scenario error-spike, its clock run 13-15× faster so the breach
starts 8-8.8 s after 50%) and
`canary-console run --headless --auto-promote` with a plan polling every 1 s and a 5 s sustain on
error_rate. Each run:

    onset        = wall time of the promote to 50% (simulator call log) + 120 sim-s / speed
    window end   = onset + sustain
    latency      = wall time the rollback POST reached the simulator (call log) - window end

broken down as scrape (onset → first breaching sample in Prometheus' TSDB) and console (the
rest), itself poll (→ the console saw that sample: its `rule_changed ok → pending` event, from
the session store), window (decision - that poll - sustain: how late the poll that found the
window full came) and act (decision → POST logged by the simulator).
Usage: .venv/bin/python bench/rollback_latency.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sessions.store import EventStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from prom_helpers import PrometheusServer  # noqa: E402
from sim_helpers import Console, SimProcess, scrape_target, scraped  # noqa: E402

POLL, SUSTAIN = 1.0, 5.0
DELAY = 120.0  # error-spike: the breach starts this many sim-s after 50%
ONSET = 8.0  # ... brought to this many polls: late enough that the stage's cumulative cap stays out of it

PLAN = f"""\
name = "bench"
deployment = "publisher-api"
poll_interval = "{POLL:g}s"
validation = "1s"
no_data_limit = "30s"
stages = [{{ weight = 10, bake = "1s" }}, {{ weight = 50, bake = "60s" }}, {{ weight = 100, bake = 0 }}]

[[rules]]
name = "error_rate"
title = "Error rate"
query = 'slo:error_ratio{{version="canary"}}'
comparator = ">"
threshold = 0.01
sustain = "{SUSTAIN:g}s"
"""


def one_run(prometheus: PrometheusServer, port: int, workdir: Path, speed: float, lag: float) -> dict[str, float]:
    workdir.mkdir()
    plan = workdir / "bench.toml"
    plan.write_text(PLAN)
    sim = SimProcess(port, "error-spike", workdir, speed=speed)
    try:
        scraped(prometheus, sim)
        time.sleep(lag)  # the console's poll phase against Prometheus' scrape phase
        console = Console(sim.url, prometheus.url, workdir, plan=plan)
        code, err = console.wait(timeout=60)
        if code != 1:
            raise RuntimeError(f"expected a rollback (exit 1), got {code}: {err}\n{console.text}")
        [promote50] = [c for c in sim.calls("canary/promote") if c["body"]["weight"] == 50]
        [rollback] = sim.calls("canary/rollback")
        onset = promote50["wall"] + DELAY / speed
        raw = prometheus.query(f'slo:error_ratio{{version="canary",instance="127.0.0.1:{port}"}}[2m]')
        breaching = [float(t) for t, v in raw[0]["values"] if float(v) > 0.01 and float(t) > promote50["wall"]]
        scraped_at = min(breaching)  # this run's first breaching sample (the port is reused)
    finally:
        sim.stop()
    store = EventStore(workdir / "sessions.db")
    try:
        events = store.events(store.latest_session_id())
    finally:
        store.close()
    pending = next(e for e in events if e.kind == "rule_changed" and e.payload["verdict"] == "pending")
    decided = next(e for e in events if e.kind == "rollback_decided")
    seen, decided_at = _wall(pending.wall), _wall(decided.wall)
    return {
        "latency": rollback["wall"] - (onset + SUSTAIN),
        "scrape": scraped_at - onset,
        "console": rollback["wall"] - (scraped_at + SUSTAIN),
        "poll": seen - scraped_at,
        "window": decided_at - seen - SUSTAIN,
        "act": rollback["wall"] - decided_at,
    }


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    binary = shutil.which("prometheus")
    if binary is None:
        print("the prometheus binary is not installed (apt-get install prometheus)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="rollback-bench-"))
    (tmp / "prometheus").mkdir()
    prometheus = PrometheusServer(binary, tmp / "prometheus")
    prometheus.start()
    try:
        port = scrape_target(prometheus)
        # Two phases, each stepped over one poll and paired differently: the onset against the
        # console's poll (the promote to 50% follows a poll) and the console's poll against the scrape.
        n = args.runs
        phases = [(k / n, (2 * k % n) / n) for k in range(n)]
        runs = [
            one_run(prometheus, port, tmp / f"run{k}", DELAY / ((ONSET + a) * POLL), b * POLL)
            for k, (a, b) in enumerate(phases)
        ]
    except BaseException:
        print(f"failed; logs kept in {tmp}", file=sys.stderr)
        raise
    finally:
        prometheus.stop()
    shutil.rmtree(tmp)
    print(f"poll interval {POLL:g} s, sustain {SUSTAIN:g} s, {len(runs)} runs (seconds)")
    print(f"{'':8}" + "".join(f"{k:>9}" for k in runs[0]))
    for n, r in enumerate(runs, 1):
        print(f"run {n:<4}" + "".join(f"{v:9.3f}" for v in r.values()))
    for name, pick in (("median", statistics.median), ("max", max)):
        print(f"{name:8}" + "".join(f"{pick(r[k] for r in runs):9.3f}" for k in runs[0]))
    goal, worst = POLL + 0.5, max(r["latency"] for r in runs)
    verdict = "met" if worst <= goal else "NOT met"
    print(f"goal: latency <= poll interval + 0.5 s = {goal:g} s: {verdict} (max {worst:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
