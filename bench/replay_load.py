"""Replay of a 2-hour session sampled every second: time to the first replay frame, and seek time.

A healthy rollout is generated with the simulator (poll interval 1 s, 7,200 Samples events of
19 values each) and appended to a temporary store in batches. Then:

(a) first replay frame: `canary-console --db TMP replay ID` on a pseudo-terminal of 120x40, from
    just before the spawn until the loaded timeline ("/ +01:59:59" in the replay bar) is on the
    terminal: start-up, first frame, then in a worker the read (stdlib sqlite3) and the fold of the
    first moment, and the paint (the rest is folded in the background). Baselines in the same run:
    a bare Textual app's first frame (bench/_probe.py bare), and in-process, the time to read the
    rows with the store's API (store.events()) and to fold all of them (Timeline).
(b) seek: on the same terminal, `:goto 50%` then `:goto 10%` typed, timed until the replay bar shows
    the new position, median of 5; baseline: `:goto +1h` right after 50% (one poll forward, no
    rebuild: the same keys and command path without the seek).

    .venv/bin/python bench/replay_load.py [--runs 5]

Goals: first replay frame <= 1 s; seek <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _probe import BARE_TITLE  # noqa: E402
from first_frame import BIN, PROBE, first_frame, spawn, stop, wait_for  # noqa: E402

from widgets.replaybar import clock  # noqa: E402

HOURS = 2
BATCH = 500


class Collect:
    """A runner's store that keeps the records in memory (appended to the real store afterwards)."""

    def __init__(self) -> None:
        self.records: list = []

    def append(self, session: str, records: list) -> int:
        self.records += records
        return len(self.records)

    def close_session(self, session: str, outcome: str) -> None:
        return None


def generate(db: Path) -> tuple[str, int, float]:
    """A 2-hour healthy session at 1 Hz in a new store at `db`; returns its id, event count and end."""
    from console import events as ev
    from console.clock import ManualClock
    from console.metrics import SimulatorSource
    from console.ops import LocalOps
    from console.plan import default_plan
    from console.runner import Runner
    from console.sim import SimModel
    from sessions.store import EventStore

    plan = default_plan().model_copy(update={"poll_interval": 1.0})
    store = EventStore(db)
    session = store.open_session(deployment=plan.deployment, scenario="healthy", plan=plan.name, operator="bench")
    clock, model, memory = ManualClock(), SimModel("healthy", 7, poll_interval=1.0), Collect()
    runner = Runner(
        plan=plan,
        store=memory,
        ops=LocalOps(model, clock),
        metrics=SimulatorSource(model, plan),
        clock=clock,
        session=session,
    )
    started = ev.SessionStarted(
        at=0.0,
        session=session,
        deployment=plan.deployment,
        plan=plan.name,
        operator="bench",
        roles=["admin"],
        auto_promote=True,
        scenario="healthy",
    )
    marks = [ev.ItemAttested(at=0.0, item=i.id, operator="bench", note="") for i in plan.manual_items()]

    async def go() -> None:
        await runner.start(started, marks)
        while clock.now() < HOURS * 3600 and runner.state.outcome is None:
            await runner.tick()
            clock.advance(1.0)

    asyncio.run(go())
    for n in range(0, len(memory.records), BATCH):
        store.append(session, memory.records[n : n + BATCH])
    store.close()
    return session, len(memory.records), memory.records[-1][1]


def read_and_fold(db: Path, session: str) -> tuple[float, float, int]:
    """In-process: seconds to read the rows (store.events(), the store's API) and to fold them all."""
    from console import events as ev
    from console.plan import default_plan
    from console.replay import Timeline
    from sessions.store import EventStore

    store = EventStore(db)
    began = time.perf_counter()
    rows = store.events(session)
    read = time.perf_counter() - began
    store.close()
    began = time.perf_counter()
    timeline = Timeline(default_plan(), [ev.from_record(r.kind, r.at, r.payload) for r in rows])
    timeline.fold(len(rows))
    return read, time.perf_counter() - began, sum(len(r.payload.get("values", ())) for r in rows)


def seeks(argv: list[str], loaded: str, end: float, runs: int) -> dict[str, list[float]]:
    """Keystroke-to-frame times on the real program, paused: from typing `goto X` + enter in the open
    command line until the replay bar shows the new position. `goto +1h` right after `goto 50%`
    moves one poll forward (no rebuild): the baseline, the same command path without a seek."""
    proc, master = spawn(argv)
    out: dict[str, list[float]] = {"goto 50%": [], "goto +1h (baseline)": [], "goto 10%": []}
    moves = [("goto 50%", end / 2), ("goto +1h (baseline)", 3600.0), ("goto 10%", end / 10)]
    try:
        wait_for(master, loaded.encode(), proc)
        os.write(master, b"p")  # pause: the replay plays from the start
        wait_for(master, b"paused", proc)
        time.sleep(2.0)  # the worker folds the rest of the log in the background
        for _ in range(runs):
            for name, at in moves:
                os.write(master, b":")  # open the command line, then type into it
                time.sleep(0.2)
                began = time.perf_counter()
                os.write(master, f"{name.split(' (')[0]}\r".encode())
                wait_for(master, f"{clock(at)} / ".encode(), proc)
                out[name].append(time.perf_counter() - began)
                time.sleep(0.3)
    finally:
        stop(proc, master)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as d:
        db = Path(d) / "replay.db"
        began = time.perf_counter()
        session, count, end = generate(db)
        made = time.perf_counter() - began
        replay_cmd = ([str(BIN / "canary-console"), "--db", str(db), "replay", session], f"/ {clock(end)}")
        bare_cmd = ([str(BIN / "python"), str(PROBE), "bare"], BARE_TITLE)
        times: dict[str, list[float]] = {"bare first frame": [], "first replay frame": []}
        for argv, marker in (replay_cmd, bare_cmd):  # warm-up: page cache, .pyc files
            first_frame(argv, marker)
        for n in range(args.runs):
            pairs = list(zip(times, (bare_cmd, replay_cmd), strict=True))
            for name, (argv, marker) in pairs if n % 2 == 0 else reversed(pairs):
                times[name].append(first_frame(argv, marker))
        read, fold, values = read_and_fold(db, session)
        seek = seeks(replay_cmd[0], replay_cmd[1], end, args.runs)

    print(f"session: {count} events ({values} sample values) over {HOURS} h, generated in {made:.1f} s")
    print(f"(a) time to first frame at 120x40, {args.runs} runs each, interleaved (seconds)")
    for name, xs in times.items():
        print(f"  {name:<20} median {statistics.median(xs):.3f}  runs: {' '.join(f'{x:.3f}' for x in xs)}")
    ratio = statistics.median(times["first replay frame"]) / statistics.median(times["bare first frame"])
    print(f"  ratio replay/bare: {ratio:.2f}x  (goal: first replay frame <= 1 s)")
    print(f"  in-process: store.events() {read:.3f} s, from_record + fold {fold:.3f} s")
    print(f"(b) seek, median of {args.runs} (milliseconds; goal <= 100 ms)")
    for name, xs in seek.items():
        runs = " ".join(f"{x * 1000:.1f}" for x in xs)
        print(f"  {name:<20} median {statistics.median(xs) * 1000:.1f}  runs: {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
