"""Cost of monitoring: CPU of the process and terminal bytes per second, against a bare 1 Hz Sparkline app.

Each program runs alone in its own tmux server (socket in a temporary directory), in a 120x40
window with TERM=tmux-256color (256 colours). `tmux pipe-pane` appends everything the program
writes to its terminal to a file.
After a warm-up, the bench reads the process's user+sys CPU ticks (/proc/PID/stat, all threads)
and the file's size, waits, and reads both again.

    .venv/bin/python bench/monitor_cost.py [--seconds 60] [--warmup 5]

Programs: the bare app with a Sparkline updated every second (bench/_probe.py sparkline, the
baseline); "ours", `canary-console demo --speed 1 --attest-all bench --auto-promote`: real time,
one poll every 10 s, promoted to 10% within a second and baking there, every SLO sampled and
drawn (the state an SRE watches); "preflight", plain `demo --speed 1`, which waits at 0% for
the manual checklist items (no samples, a redraw per poll); and for context "ours@60", ours at
`--speed 60` (6 polls a second, promoting through the stages). With --what-if, "quiet@60" is
ours@60 with the screen's bindings refreshed only when they change (each refresh makes Textual's
Footer recompose). Goals for ours: <= 2% of one core and <= 4 KB/s.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PROBE = ROOT / "bench" / "_probe.py"
COLS, ROWS = 120, 40
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15: utime, stime


def tmux(sock: Path, *args: str) -> str:
    return subprocess.run(["tmux", "-S", str(sock), *args], check=True, capture_output=True, text=True).stdout.strip()


def measure(name: str, argv: list[str], tmp: Path, seconds: float, warmup: float) -> dict[str, float]:
    sock, out = tmp / f"{name}.sock", tmp / f"{name}.out"
    out.touch()
    env = f"env -u COLORTERM -u NO_COLOR TERM=tmux-256color COLUMNS={COLS} LINES={ROWS}"
    command = f"exec {env} {shlex.join(argv)}"
    tmux(sock, "-f", "/dev/null", "new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS), command)
    try:
        tmux(sock, "pipe-pane", "-o", "-t", name, f"cat >> {shlex.quote(str(out))}")
        pid = int(tmux(sock, "display-message", "-p", "-t", name, "#{pane_pid}"))
        time.sleep(warmup)
        cpu0, bytes0, t0 = cpu_seconds(pid), out.stat().st_size, time.monotonic()
        time.sleep(seconds)
        cpu1, bytes1, t1 = cpu_seconds(pid), out.stat().st_size, time.monotonic()
        screen = tmux(sock, "capture-pane", "-p", "-t", name)
    finally:
        subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True)
    if "Traceback" in screen or "error" in screen.splitlines()[-1:]:
        raise RuntimeError(f"{name} failed:\n{screen}")
    elapsed = t1 - t0
    return {"cpu": (cpu1 - cpu0) / elapsed * 100, "kbps": (bytes1 - bytes0) / elapsed / 1000, "elapsed": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per program (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="also run ours@60 with the bindings refreshed only on change (bench/_probe.py quiet-footer)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-mon-") as d:
        tmp = Path(d)

        def demo(name: str, speed: str, *more: str) -> list[str]:
            return [str(BIN / "canary-console"), "--db", str(tmp / f"{name}.db"), "demo", "--speed", speed, *more]

        bake = ("--attest-all", "bench", "--auto-promote")
        programs = {
            "sparkline": [str(BIN / "python"), str(PROBE), "sparkline"],
            "ours": demo("ours", "1", *bake),
            "preflight": demo("preflight", "1"),
            "ours@60": demo("ours60", "60", *bake),
        }
        if args.what_if:
            quiet = demo("quiet60", "60", *bake)
            programs["quiet@60"] = [str(BIN / "python"), str(PROBE), "quiet-footer", *quiet[1:]]
        results = {name: measure(name, argv, tmp, args.seconds, args.warmup) for name, argv in programs.items()}

    setup = f"{COLS}x{ROWS}, TERM=tmux-256color, {args.seconds:.0f} s after {args.warmup:.0f} s warm-up"
    print(f"monitoring cost at {setup}")
    for name, r in results.items():
        print(f"  {name:<10} CPU {r['cpu']:5.2f}% of one core   terminal {r['kbps']:6.2f} KB/s")
    base, ours = results["sparkline"], results["ours"]
    print(
        f"  ratio ours/sparkline: CPU {ours['cpu'] / base['cpu']:.2f}x   bytes {ours['kbps'] / base['kbps']:.2f}x"
        f"   (goals for ours: <= 2% and <= 4 KB/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
