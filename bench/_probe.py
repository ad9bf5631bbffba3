"""Baseline apps and an in-process probe for the console benchmarks.

python bench/_probe.py bare                 Header + Footer only (the first-frame baseline)
python bench/_probe.py sparkline            bare + a Sparkline updated every second (the monitoring baseline)
python bench/_probe.py modules OUT ARGS     run `canary-console ARGS` in this process; at its first frame
                                            (the first write holding "Checklist") write JSON to OUT: seconds
                                            since process start and which heavy modules were loaded by then
python bench/_probe.py deferred ARGS        run `canary-console ARGS` with the runner thread started only
                                            after the first frame (a diagnostic what-if)
"""

from __future__ import annotations

import json
import os
import random
import sys

BARE_TITLE = "bare-probe"
MARKER = "Checklist"  # a string of the console's first frame (the checklist pane's title)
HEAVY = ("sqlmodel", "sqlalchemy", "sessions.store", "prometheus_api_client", "plotext", "httpx", "pandas", "numpy")


def process_age() -> float:
    """Seconds since this process started (from /proc), on the same clock as time.monotonic()."""
    with open(f"/proc/{os.getpid()}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    start = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, clock ticks after boot
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start


def bare(spark: bool) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Header, Sparkline

    class Bare(App):
        TITLE = BARE_TITLE
        BINDINGS = [("q", "quit", "Quit")]

        def compose(self) -> ComposeResult:
            yield Header()
            if spark:
                yield Sparkline([0.0] * 60, id="spark")
            yield Footer()

        def on_mount(self) -> None:
            if spark:
                self.set_interval(1.0, self.tick)

        def tick(self) -> None:
            line = self.query_one(Sparkline)
            line.data = [*list(line.data or [])[-59:], random.random()]

    Bare().run(mouse=False)


def console(argv: list[str], out: str | None = None, defer: bool = False) -> int:
    """`canary-console ARGV` in this process, watching its terminal writes for the first frame.

    With `out`, write to it at the first frame: seconds since process start and which heavy modules
    were loaded. With `defer`, the session's runner thread starts only after the first frame (a
    what-if: how much the runner's start-up, run concurrently, delays the first frame).
    """
    from textual.drivers.linux_driver import LinuxDriver

    from console.cli import main
    from console.live import LiveSession

    write, start = LinuxDriver.write, LiveSession.start
    seen = False
    held: list = []

    def probe(self: LinuxDriver, data: str) -> None:
        nonlocal seen
        write(self, data)
        if seen or MARKER not in data:
            return
        seen = True
        if out:
            loaded = {m: m in sys.modules for m in HEAVY}
            with open(out, "w") as f:
                json.dump({"first_frame_s": process_age(), "loaded": loaded}, f)
        for session, args in held:
            start(session, *args)

    def hold(self: LiveSession, *args: object) -> None:
        held.append((self, args))

    LinuxDriver.write = probe  # type: ignore[method-assign]
    if defer:
        LiveSession.start = hold  # type: ignore[method-assign]
    return main(argv)


def quiet_footer(argv: list[str]) -> int:
    """`canary-console ARGV` with the screen's bindings refreshed only when promote/rollback availability
    changes, not on every repaint (a what-if: each refresh makes Textual's Footer recompose its keys)."""
    from console import view
    from console.cli import main
    from console.screen import MainScreen

    refresh = MainScreen.refresh_bindings
    last: dict[int, tuple[bool, bool]] = {}

    def on_change(self: MainScreen) -> None:
        c = view.controls(self.state, self.readonly)
        if last.get(id(self)) != (c.can_promote, c.can_rollback):
            last[id(self)] = (c.can_promote, c.can_rollback)
            refresh(self)

    MainScreen.refresh_bindings = on_change  # type: ignore[method-assign]
    return main(argv)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "bare"
    if mode == "modules":
        sys.exit(console(sys.argv[3:], out=sys.argv[2]))
    if mode == "deferred":
        sys.exit(console(sys.argv[2:], defer=True))
    if mode == "quiet-footer":
        sys.exit(quiet_footer(sys.argv[2:]))
    bare(spark=mode == "sparkline")
