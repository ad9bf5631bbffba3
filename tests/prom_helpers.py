"""Test helpers: a real Prometheus process and tiny HTTP servers that the tests control.

`PrometheusServer` runs Debian's `prometheus` binary on a loopback port with a generated
config: scrape and rule evaluation every 1 s, targets from a file_sd JSON file the tests
rewrite (`set_targets`), and the P0/P1 alert rules on `canary_incident_active`.
`Exposition` serves Prometheus text format whose samples the test sets; `StubServer`
answers every request with a handler the test gives (for 503s and hangs).
"""

from __future__ import annotations

import http.server
import json
import math
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: test
    file_sd_configs:
      - files: [{targets}]
        refresh_interval: 1s
"""

_RULES = """\
groups:
  - name: canary-incidents
    rules:
      - alert: CanaryIncidentP0
        expr: canary_incident_active{severity="P0"} > 0
        for: 0s
        labels:
          severity: P0
      - alert: CanaryIncidentP1
        expr: canary_incident_active{severity="P1"} > 0
        for: 0s
        labels:
          severity: P1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, step: float = 0.2) -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


class PrometheusServer:
    """One Prometheus process; `stop()` and `start()` keep its port, config and data dir."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets_file = workdir / "targets.json"
        self.log_file = workdir / "prometheus.log"
        self._proc: subprocess.Popen[bytes] | None = None
        (workdir / "data").mkdir(exist_ok=True)
        (workdir / "rules.yml").write_text(_RULES)
        config = _CONFIG.format(rules=workdir / "rules.yml", targets=self.targets_file)
        (workdir / "prometheus.yml").write_text(config)
        self.set_targets([])

    def set_targets(self, targets: list[str]) -> None:
        """Replace the scrape targets ("host:port"); Prometheus notices within a second or two."""
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": list(targets)}]))
        tmp.replace(self.targets_file)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the process and wait until /-/ready answers 200."""
        if self.running:
            return
        args = [
            self.binary,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._proc.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus not ready within {timeout}s: {self._log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Terminate the process (kill after 10 s); the port then refuses connections."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def query(self, promql: str) -> list[dict]:
        """Run an instant query directly (for test set-up), returning the result list."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["data"]["result"]

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:]) or "(empty log)"


class _Server:
    """A ThreadingHTTPServer on a free loopback port, served from a daemon thread."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Exposition(_Server):
    """Serves /metrics in Prometheus text format; every sample is a gauge the test sets.

    `set("m", 1.5, version="canary")` adds or replaces a sample; `timestamp_ms` makes the
    sample carry an explicit timestamp (Prometheus then never marks it stale by itself).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, int | None]] = {}
        super().__init__(_ExpositionHandler)

    def set(self, name: str, value: float, *, timestamp_ms: int | None = None, **labels: str) -> None:
        with self._lock:
            self._samples[(name, tuple(sorted(labels.items())))] = (value, timestamp_ms)

    def remove(self, name: str, **labels: str) -> None:
        with self._lock:
            self._samples.pop((name, tuple(sorted(labels.items()))), None)

    def render(self) -> str:
        with self._lock:
            items = sorted(self._samples.items())
        lines = []
        for name in sorted({name for (name, _), _ in items}):
            lines.append(f"# TYPE {name} gauge")
            for (n, labels), (value, ts) in items:
                if n != name:
                    continue
                text = ",".join(f'{k}="{v}"' for k, v in labels)
                sample = f"{name}{{{text}}} {_format_value(value)}"
                lines.append(sample if ts is None else f"{sample} {ts}")
        return "\n".join(lines) + "\n"


class _ExpositionHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.server.owner.render().encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


class StubServer(_Server):
    """Answers every GET with `respond(path) -> (status, body, delay_seconds)`."""

    def __init__(self, respond: Callable[[str], tuple[int, str, float]]) -> None:
        self.respond = respond
        super().__init__(_StubHandler)


class _StubHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        status, body, delay = self.server.owner.respond(self.path)  # type: ignore[attr-defined]
        time.sleep(delay)
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout tests)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None
