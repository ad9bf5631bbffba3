"""Real processes for the end-to-end tests and the bench: `canary-console sim` and `canary-console run`.

`SimProcess` serves the simulator over HTTP on a loopback port with a call log (each line has the
sim clock `time` and the wall clock `wall`). `Console` runs `canary-console run` and stamps each line
of its output with the wall clock as it arrives; its log file is kept in the test's directory.
`scrape_target` gives a port Prometheus scrapes; `scraped` waits until Prometheus has scraped a
freshly started simulator there, so nothing from the process before it on that port is left.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prom_helpers import PrometheusServer, free_port, wait_for

CONSOLE = [str(Path(sys.executable).with_name("canary-console"))]
ROOT = Path(__file__).resolve().parent.parent
QUICK_PLAN = ROOT / "docs" / "examples" / "quick.toml"


class SimProcess:
    """`canary-console sim` on 127.0.0.1:`port`, answering once this returns."""

    def __init__(
        self,
        port: int,
        scenario: str,
        workdir: Path,
        *,
        speed: float = 1.0,
        token: str | None = None,
        viewer_token: str | None = None,
        faults: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.call_log = workdir / f"calls-{scenario}-{port}.jsonl"
        self._token = token
        args = [*CONSOLE, "sim", "--port", str(port), "--scenario", scenario, "--speed", str(speed)]
        args += ["--call-log", str(self.call_log)]
        for option, value in (("--token-file", token), ("--viewer-token-file", viewer_token)):
            if value is not None:
                path = workdir / f"{option.strip('-')}-{port}"
                path.write_text(value)
                path.chmod(0o600)
                args += [option, str(path)]
        for fault in faults:
            args += ["--fault", fault]
        self._log = (workdir / f"sim-{scenario}-{port}.log").open("wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for(self._answers, timeout=15, step=0.05)
        except AssertionError:
            self.stop()
            raise
        self.ready_wall = time.time()

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            self._log.flush()
            tail = Path(self._log.name).read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"sim on port {self.port} exited with {self.proc.returncode}: {' | '.join(tail)}")
        try:
            with urllib.request.urlopen(f"{self.url}/internal/ops/whoami", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # 401 without a token: it answers
        except OSError:
            return False

    def calls(self, path: str | None = None) -> list[dict]:
        """The call log, only calls to `/internal/ops/<path>` when given."""
        if not self.call_log.exists():
            return []
        rows = [json.loads(line) for line in self.call_log.read_text().splitlines()]
        return [r for r in rows if path is None or r["path"] == f"/internal/ops/{path}"]

    def set_faults(self, faults: dict) -> None:
        request = urllib.request.Request(
            f"{self.url}/sim/faults", data=json.dumps(faults).encode(), method="POST", headers=self._auth()
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)  # a request held by a timeout fault would keep it longer
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def quiet_port() -> int:
    """A free loopback port below the ephemeral range, so no outgoing connection takes it between two simulators."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return free_port()
    for port in random.sample(range(low // 2, low), 50):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def scrape_target(prometheus: PrometheusServer) -> int:
    """A free port that Prometheus scrapes (and reports `up` for) from now on: serve simulators there."""
    port = quiet_port()
    prometheus.set_targets([f"127.0.0.1:{port}"])
    wait_for(lambda: prometheus.query(f'up{{instance="127.0.0.1:{port}"}}'), timeout=30)
    return port


def scraped(prometheus: PrometheusServer, sim: SimProcess, timeout: float = 20.0) -> None:
    """Wait until Prometheus scraped `sim` itself (not an earlier process on its port) and none of its alerts fire."""
    instance = f'instance="127.0.0.1:{sim.port}"'

    def fresh() -> bool:
        up = prometheus.query(f"up{{{instance}}} == 1")
        stamps = prometheus.query(f"timestamp(up{{{instance}}})")
        firing = prometheus.query(f'ALERTS{{alertstate="firing",{instance}}}')
        return bool(up and stamps and float(stamps[0]["value"][1]) > sim.ready_wall and not firing)

    wait_for(fresh, timeout=timeout)


class Console:
    """`canary-console run --headless` against `sim` and `prometheus_url`; output lines stamped on arrival."""

    def __init__(
        self,
        sim_url: str,
        prometheus_url: str,
        workdir: Path,
        *,
        plan: Path = QUICK_PLAN,
        token: str | None = None,
        extra: Sequence[str] = ("--auto-promote",),
    ) -> None:
        args = [*CONSOLE, "run", "--headless", *extra, "--ops-url", sim_url, "--prometheus-url", prometheus_url]
        args += ["--plan", str(plan), "--attest-all", "test", "--db", str(workdir / "sessions.db")]
        env = {k: v for k, v in os.environ.items() if k != "CANARY_OPS_TOKEN"}
        env["XDG_STATE_HOME"] = str(workdir / "state")  # the console's log file goes there
        self.log_file = workdir / "state" / "canary-console" / "log" / "console.log"
        if token is not None:
            env["CANARY_OPS_TOKEN"] = token
        self.lines: list[tuple[float, str]] = []
        self._stderr = (workdir / "console.stderr").open("w+")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_line(self, part: str, timeout: float = 30.0) -> float:
        """The wall time the first line containing `part` arrived."""

        def seen() -> float | None:
            if self.proc.poll() is not None and not self._reader.is_alive():
                found = [t for t, line in self.lines if part in line]
                if not found:
                    raise AssertionError(f"console exited ({self.proc.returncode}) without {part!r}:\n{self.text}")
            return next((t for t, line in self.lines if part in line), None)

        return wait_for(seen, timeout=timeout, step=0.05)  # type: ignore[return-value]

    def wait(self, timeout: float = 40.0) -> tuple[int, str]:
        """Exit code and stderr; the process is killed (and the test fails) after `timeout` s."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"console still running after {timeout} s:\n{self.text}") from None
        finally:
            self._reader.join(timeout=5)
        self._stderr.seek(0)
        err = self._stderr.read()
        self._stderr.close()
        return code, err
