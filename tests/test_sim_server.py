"""The simulator's HTTP contract: auth, roles, idempotency, validation, faults, /metrics, a real server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from console.clock import ManualClock
from console.ops import OpsClient
from console.sim import SimModel
from console.sim_server import Faults, build_app

TOKEN = "admin-token"
VIEWER = "viewer-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PROMOTE = "/internal/ops/canary/promote"
ROLLBACK = "/internal/ops/canary/rollback"


class Server:
    def __init__(self, tmp_path: Path, scenario: str = "healthy", token: str | None = TOKEN) -> None:
        self.model = SimModel(scenario, seed=3)
        self.clock = ManualClock()
        self.faults = Faults()
        self.log_path = tmp_path / "calls.jsonl"
        users = {VIEWER: {"user": "viewer", "roles": ["viewer"]}} if token else None
        self.app = build_app(
            self.model, self.clock, token=token, call_log=self.log_path, faults=self.faults, users=users
        )
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://sim")

    async def post(self, path: str, body: object, key: str | None = None, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        return await self.http.post(path, json=body, headers=headers)

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]


@pytest.fixture
def server(tmp_path: Path) -> Server:
    return Server(tmp_path)


async def test_bearer_auth(server: Server) -> None:
    missing = await server.http.get("/internal/ops/whoami")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == {"detail": "missing or invalid bearer token"}
    wrong = await server.http.get("/internal/ops/whoami", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = await server.http.get("/internal/ops/whoami", headers=ADMIN)
    assert ok.json() == {"user": "demo", "roles": ["admin"]}


async def test_no_token_configured_means_no_auth(tmp_path: Path) -> None:
    server = Server(tmp_path, token=None)
    assert (await server.post(PROMOTE, {"weight": 10}, "k", token=None)).json()["weight"] == 10


async def test_viewer_reads_but_may_not_mutate(server: Server) -> None:
    who = await server.http.get("/internal/ops/whoami", headers={"Authorization": f"Bearer {VIEWER}"})
    assert who.json() == {"user": "viewer", "roles": ["viewer"]}
    for path, body in ((PROMOTE, {"weight": 10}), (ROLLBACK, {"reason": "MANUAL"})):
        refused = await server.post(path, body, "k", token=VIEWER)
        assert refused.status_code == 403
        assert "admin role" in refused.json()["detail"]
    assert server.model.status()["weight"] == 0


async def test_same_key_and_body_returns_the_first_result(server: Server) -> None:
    first = await server.post(PROMOTE, {"weight": 10}, "k-10")
    await server.post(PROMOTE, {"weight": 25}, "k-25")
    again = await server.post(PROMOTE, {"weight": 10}, "k-10")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert server.model.status()["weight"] == 25


async def test_same_key_with_another_body_is_422(server: Server) -> None:
    await server.post(PROMOTE, {"weight": 10}, "k")
    other = await server.post(PROMOTE, {"weight": 25}, "k")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert (await server.post(ROLLBACK, {"reason": "MANUAL"}, "k")).status_code == 422
    assert server.model.status()["weight"] == 10


async def test_same_key_in_flight_is_409(server: Server) -> None:
    server.faults.slow_seconds = 0.05
    first, second = await asyncio.gather(
        server.post(PROMOTE, {"weight": 10}, "k"), server.post(PROMOTE, {"weight": 10}, "k")
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    server.faults.slow_seconds = 0.0
    assert (await server.post(PROMOTE, {"weight": 10}, "k")).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        (PROMOTE, {"weight": "10"}, "weight: Input should be a valid integer"),
        (PROMOTE, {"weight": 0}, "weight: Input should be greater than or equal to 1"),
        (PROMOTE, {"weight": 10, "force": True}, "force: Extra inputs are not permitted"),
        (ROLLBACK, {"detail": "x"}, "reason: Field required"),
        ("/internal/ops/execute", {"command": "reboot", "target": "db"}, "command: Input should be 'health-check'"),
        (PROMOTE, [10], "body: Input should be a valid dictionary"),
    ],
)
async def test_invalid_bodies_are_422_with_a_detail(server: Server, path: str, body: object, detail: str) -> None:
    response = await server.post(path, body, "k")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


async def test_non_json_body_is_422(server: Server) -> None:
    response = await server.http.post(PROMOTE, content=b"weight=10", headers=ADMIN)
    assert (response.status_code, response.json()) == (422, {"detail": "the body must be JSON"})


async def test_call_log_records_every_ops_call(server: Server) -> None:
    server.clock.advance(12.5)
    await server.post(PROMOTE, {"weight": 10}, "k-10")
    await server.http.get("/internal/ops/canary/status")
    calls = server.calls()
    assert all(isinstance(c.pop("wall"), float) for c in calls)  # wall-clock time, for latency benchmarks
    assert calls == [
        {
            "time": 12.5,
            "method": "POST",
            "path": PROMOTE,
            "body": {"weight": 10},
            "idempotency_key": "k-10",
            "status": 200,
        },
        {
            "time": 12.5,
            "method": "GET",
            "path": "/internal/ops/canary/status",
            "body": None,
            "idempotency_key": None,
            "status": 401,
        },
    ]


async def test_faults_switch_at_run_time(server: Server) -> None:
    changed = await server.http.post("/sim/faults", json={"conflict_next": 1, "unauthorized": False}, headers=ADMIN)
    assert changed.json()["conflict_next"] == 1
    assert (await server.post(PROMOTE, {"weight": 10}, "k")).status_code == 409
    assert (await server.post(PROMOTE, {"weight": 10}, "k")).status_code == 200
    bad = await server.http.post("/sim/faults", json={"explode": True}, headers=ADMIN)
    assert (bad.status_code, bad.json()) == (422, {"detail": "unknown fault 'explode'"})
    server.faults.update({"forbidden": True})
    assert (await server.http.get("/internal/ops/canary/status", headers=ADMIN)).status_code == 403
    server.faults.update({"forbidden": False, "unauthorized": True})
    assert (await server.http.get("/internal/ops/canary/status", headers=ADMIN)).status_code == 401


def test_faults_update_checks_types() -> None:
    faults = Faults()
    faults.update({"timeout_after_apply": ["promote"], "slow_seconds": 1})
    assert faults.timeout_after_apply == {"promote"} and faults.slow_seconds == 1.0
    for bad in ({"timeout_after_apply": ["deploy"]}, {"unauthorized": 1}, {"conflict_next": -1}, {"slow_seconds": "x"}):
        with pytest.raises(ValueError):
            faults.update(bad)
    assert faults.to_json()["timeout_after_apply"] == ["promote"]


def _samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"}


async def test_metrics_omit_canary_series_without_traffic(server: Server) -> None:
    samples = _samples((await server.http.get("/metrics")).text)
    assert 'slo:latency_p95_seconds{version="stable"}' in samples
    assert 'slo:latency_p95_seconds{version="canary"}' not in samples
    assert samples['canary_incident_active{severity="P1"}'] == 0.0
    assert samples['canary_incident_active{severity="P0"}'] == 0.0


async def test_metrics_read_the_model_at_scrape_time(tmp_path: Path) -> None:
    server = Server(tmp_path, scenario="p1-alert")
    await server.post(PROMOTE, {"weight": 50}, "k")
    server.clock.advance(250)  # the P1 incident fires 200 s after 50%
    samples = _samples((await server.http.get("/metrics")).text)
    canary = server.model.sample(250)
    assert samples['slo:error_ratio{version="canary"}'] == pytest.approx(canary["error_rate"])
    assert samples['canary_memory_mb{version="canary"}'] == pytest.approx(canary["memory_mb"])
    for platform in ("instagram", "tiktok", "reddit"):
        assert f'slo:publish_success_ratio{{platform="{platform}",version="canary"}}' in samples
    assert samples['canary_incident_active{severity="P1"}'] == 1.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_client_against_a_real_uvicorn_server(tmp_path: Path) -> None:
    server = Server(tmp_path)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not uv.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.01)
        client = OpsClient(f"http://127.0.0.1:{port}", TOKEN)
        assert (await client.whoami()).roles == ["admin"]
        assert (await client.promote(10, "k-10")).weight == 10
        assert (await client.rollback("MANUAL", "", "k-rb")).state == "rolled_back"
        await client.aclose()
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [c["path"] for c in server.calls()] == ["/internal/ops/whoami", PROMOTE, ROLLBACK]
