"""Start-up to first frame: canary-console's real `demo` path against a bare Textual app.

Each run starts the program in a subprocess on a pseudo-terminal of 120x40 and times, from just
before the spawn, until the parent reads a known string of the first frame from the terminal:
"Checklist" for the console (`canary-console --db TMP demo --speed 60`, the real entry point:
LiveSession + CanaryApp, runner thread, sqlmodel imported there) and the title for the bare app
(Header + Footer, bench/_probe.py). A third, diagnostic program is the console with its runner
thread held until the first frame is written (`_probe.py deferred`), to show what running the
runner's start-up (sqlmodel import, store, simulator) concurrently costs. Runs are interleaved,
after one unmeasured warm-up each.

    .venv/bin/python bench/first_frame.py [--runs 10]

The result is the ratio ours / bare of the medians (goal: <= 1.2). A last run of the console in
the probe reports which heavy modules were loaded by the first frame.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PROBE = ROOT / "bench" / "_probe.py"
COLS, ROWS = 120, 40
TIMEOUT = 30.0

sys.path.insert(0, str(ROOT / "bench"))
from _probe import BARE_TITLE, MARKER  # noqa: E402


def spawn(argv: list[str]) -> tuple[subprocess.Popen, int]:
    """`argv` on a new pseudo-terminal of COLS x ROWS; returns the process and the master fd."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS), COLORTERM="")
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, start_new_session=True, close_fds=True
    )
    os.close(slave)
    return proc, master


def wait_for(master: int, marker: bytes, proc: subprocess.Popen) -> bytes:
    """Read the terminal until `marker` appears; returns what was read."""
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while marker not in seen[-(len(marker) + 65536) :]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {marker!r} within {TIMEOUT}s; output tail: {seen[-400:]!r}")
        ready, _, _ = select.select([master], [], [], left)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                raise RuntimeError(f"exited ({proc.poll()}) before {marker!r}; output tail: {seen[-400:]!r}")
            seen += chunk
    return seen


def stop(proc: subprocess.Popen, master: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    os.close(master)


def first_frame(argv: list[str], marker: str) -> float:
    began = time.perf_counter()
    proc, master = spawn(argv)
    try:
        wait_for(master, marker.encode(), proc)
        return time.perf_counter() - began
    finally:
        stop(proc, master)


def commands(tmp: Path) -> dict[str, tuple[list[str], str]]:
    def demo(n: int, name: str) -> list[str]:
        return ["--db", str(tmp / f"{name}-{n}.db"), "demo", "--speed", "60"]

    return {
        "bare": (lambda n: [str(BIN / "python"), str(PROBE), "bare"], BARE_TITLE),
        "ours": (lambda n: [str(BIN / "canary-console"), *demo(n, "ours")], MARKER),
        "deferred": (lambda n: [str(BIN / "python"), str(PROBE), "deferred", *demo(n, "deferred")], MARKER),
    }


def loaded_at_first_frame(tmp: Path) -> dict:
    out = tmp / "modules.json"
    argv = [str(BIN / "python"), str(PROBE), "modules", str(out), "--db", str(tmp / "mod.db"), "demo", "--speed", "60"]
    proc, master = spawn(argv)
    try:
        wait_for(master, MARKER.encode(), proc)
        deadline = time.monotonic() + TIMEOUT
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        return json.loads(out.read_text())
    finally:
        stop(proc, master)


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="measured runs of each (default 10)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ff-") as d:
        tmp = Path(d)
        cmds = commands(tmp)
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for argv, marker in cmds.values():  # warm-up: page cache, .pyc files
            first_frame(argv(-1), marker)
        for n in range(args.runs):
            order = list(cmds) if n % 2 == 0 else list(reversed(cmds))
            for name in order:
                argv, marker = cmds[name]
                times[name].append(first_frame(argv(n), marker))
        modules = loaded_at_first_frame(tmp)

    print(f"first frame at {COLS}x{ROWS}, {args.runs} runs each, interleaved (seconds)")
    for name, xs in times.items():
        runs = " ".join(f"{x:.3f}" for x in xs)
        print(f"  {name:<8} median {statistics.median(xs):.3f}  p90 {p90(xs):.3f}  runs: {runs}")
    ratio = statistics.median(times["ours"]) / statistics.median(times["bare"])
    ratio90 = p90(times["ours"]) / p90(times["bare"])
    print(f"  ratio ours/bare: median {ratio:.2f}x  p90 {ratio90:.2f}x  (goal <= 1.2x)")
    deferred = statistics.median(times["deferred"]) / statistics.median(times["bare"])
    print(f"  what-if, runner thread started after the first frame: median {deferred:.2f}x bare")
    loaded = [m for m, yes in modules["loaded"].items() if yes]
    watched = ", ".join(modules["loaded"])
    print(f"  loaded by the console's first frame (probe): {', '.join(loaded) or 'none'} (watched: {watched})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
