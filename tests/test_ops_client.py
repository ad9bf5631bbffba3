"""OpsClient against the simulator app (in-process via ASGITransport), LocalOps and token_from."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import httpx
import pytest

from console.clock import ManualClock
from console.ops import (
    Conflict,
    Forbidden,
    InvalidRequest,
    LocalOps,
    MalformedResponse,
    OpsClient,
    OutcomeUnknown,
    ServerError,
    TokenFileError,
    Unauthorized,
    Unreachable,
    token_from,
)
from console.sim import SimModel
from console.sim_server import Faults, build_app

TOKEN = "s3cr3t-admin-token"
VIEWER = "v13wer-token"


class FakeTime:
    """A sleep that returns at once and a monotonic clock that moves only by those sleeps."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def monotonic(self) -> float:
        return self.t


class Sim:
    """The simulator app, its model and faults, and a call log; `client()` builds an OpsClient on it."""

    def __init__(self, tmp_path: Path) -> None:
        self.model = SimModel("healthy", seed=1)
        self.faults = Faults()
        self.log_path = tmp_path / "calls.jsonl"
        self.app = build_app(
            self.model,
            ManualClock(),
            token=TOKEN,
            call_log=self.log_path,
            faults=self.faults,
            users={VIEWER: {"user": "viewer", "roles": ["viewer"]}},
        )
        self.time = FakeTime()
        self.attempts: list[tuple[str, int, str]] = []

    def client(self, token: str | None = TOKEN, **kwargs) -> OpsClient:
        options = {
            "sleep": self.time.sleep,
            "monotonic": self.time.monotonic,
            "rng": lambda: 1.0,
            "on_attempt": lambda *attempt: self.attempts.append(attempt),
        }
        return OpsClient("http://sim:8080", token, transport=httpx.ASGITransport(app=self.app), **(options | kwargs))

    def calls(self, path_end: str = "") -> list[dict]:
        if not self.log_path.exists():
            return []
        lines = [json.loads(line) for line in self.log_path.read_text().splitlines()]
        return [line for line in lines if line["path"].endswith(path_end)]


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    return Sim(tmp_path)


async def test_calls_parse_into_models(sim: Sim) -> None:
    client = sim.client()
    assert (await client.whoami()).roles == ["admin"]
    assert (await client.status()).state == "idle"
    check = await client.health_check("database")
    assert check.ok and check.target == "database"
    promoted = await client.promote(10, "k-10")
    assert (promoted.weight, promoted.state, promoted.pods.desired) == (10, "progressing", 10)
    rolled = await client.rollback("SLO_VIOLATION", "p95_latency > 10 s", "k-rb")
    assert (rolled.weight, rolled.state) == (0, "rolled_back")
    assert sim.calls("promote")[0]["idempotency_key"] == "k-10"
    assert sim.calls("rollback")[0]["body"] == {"reason": "SLO_VIOLATION", "detail": "p95_latency > 10 s"}
    await client.aclose()


async def test_failed_health_check_is_a_result(sim: Sim) -> None:
    result = await sim.client().health_check("no-such-target")
    assert (result.ok, result.detail) == (False, "unknown target")


async def test_rollback_500_is_retried_with_the_same_key_until_it_succeeds(sim: Sim) -> None:
    await sim.client().promote(25, "k-25")
    sim.faults.fail_next_rollback = 3
    rolled = await sim.client().rollback("SLO_VIOLATION", "error_rate", "k-rb")
    assert rolled.state == "rolled_back"
    calls = sim.calls("rollback")
    assert [c["status"] for c in calls] == [500, 500, 500, 200]
    assert {c["idempotency_key"] for c in calls} == {"k-rb"}
    assert {json.dumps(c["body"]) for c in calls} == {'{"reason": "SLO_VIOLATION", "detail": "error_rate"}'}
    assert [a for a in sim.attempts if a[0] == "rollback"] == [
        ("rollback", 1, "http 500"),
        ("rollback", 2, "http 500"),
        ("rollback", 3, "http 500"),
        ("rollback", 4, "ok"),
    ]
    assert sim.time.sleeps == [0.25, 0.5, 1.0]  # rng() = 1: the full capped backoff


async def test_rollback_gives_up_at_its_deadline(sim: Sim) -> None:
    await sim.client().promote(25, "k-25")
    sim.faults.fail_next_rollback = 1000
    with pytest.raises(ServerError, match=r"rollback \(500\): rollback failed"):
        await sim.client(rollback_deadline=30.0).rollback("SLO_VIOLATION", "", "k-rb")
    assert sum(sim.time.sleeps) <= 30.0
    assert max(sim.time.sleeps) == 4.0  # capped
    assert {c["idempotency_key"] for c in sim.calls("rollback")} == {"k-rb"}


async def test_promote_timeout_after_apply_rereads_status_and_applies_once(sim: Sim) -> None:
    sim.faults.timeout_after_apply = {"promote"}
    status = await sim.client(timeout=0.05).promote(25, "k-25")
    assert status.weight == 25
    assert len(sim.calls("promote")) == 1
    assert len(sim.calls("canary/status")) == 1
    assert sim.attempts == [("promote", 1, "timeout"), ("promote", 2, "applied")]


async def test_rollback_timeout_after_apply_is_done_without_resending(sim: Sim) -> None:
    await sim.client().promote(50, "k-50")
    sim.faults.timeout_after_apply = {"rollback"}
    status = await sim.client(timeout=0.05).rollback("SLO_VIOLATION", "", "k-rb")
    assert status.state == "rolled_back"
    assert [c["idempotency_key"] for c in sim.calls("rollback")] == ["k-rb"]


async def test_unknown_outcome_not_applied_is_resent_with_the_same_key(sim: Sim) -> None:
    sim.faults.slow_seconds = 1.0  # the first promote times out before the server applies it

    def heal(action: str, attempt: int, outcome: str) -> None:
        sim.attempts.append((action, attempt, outcome))
        sim.faults.slow_seconds = 0.0

    status = await sim.client(timeout=0.05, on_attempt=heal).promote(25, "k-25")
    assert status.weight == 25
    assert sim.attempts == [("promote", 1, "timeout"), ("promote", 2, "ok")]
    assert [c["idempotency_key"] for c in sim.calls("promote")] == ["k-25"]  # the timed-out call never answered
    assert len(sim.calls("canary/status")) == 1


async def test_unknown_outcome_until_the_deadline_raises_outcome_unknown(sim: Sim) -> None:
    sim.faults.slow_seconds = 1.0
    with pytest.raises(OutcomeUnknown, match="promote outcome unknown"):
        await sim.client(timeout=0.02, retry_deadline=0.5).promote(25, "k-25")
    assert sim.model.status()["weight"] == 0


async def test_409_is_retried_with_an_identical_request(sim: Sim) -> None:
    sim.faults.conflict_next = 2
    assert (await sim.client().promote(10, "k-10")).weight == 10
    calls = sim.calls("promote")
    assert [c["status"] for c in calls] == [409, 409, 200]
    assert {(c["idempotency_key"], json.dumps(c["body"])) for c in calls} == {("k-10", '{"weight": 10}')}


async def test_409_until_the_deadline_raises_conflict(sim: Sim) -> None:
    sim.faults.conflict_next = 1000
    with pytest.raises(Conflict):
        await sim.client(retry_deadline=5.0).promote(10, "k-10")


async def test_422_raises_invalid_request_with_the_detail_and_no_retry(sim: Sim) -> None:
    with pytest.raises(InvalidRequest, match="less than or equal to 100"):
        await sim.client().promote(150, "k-150")
    assert len(sim.calls("promote")) == 1
    assert sim.time.sleeps == []


async def test_wrong_token_is_unauthorized_and_never_shown(sim: Sim, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = sim.client(token="wrong-secret-token")
    with pytest.raises(Unauthorized) as caught:
        await client.whoami()
    assert "(401)" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(client), caplog.text):
        assert "wrong-secret-token" not in text
    assert len(sim.calls("whoami")) == 1


async def test_missing_token_is_unauthorized(sim: Sim) -> None:
    with pytest.raises(Unauthorized, match="a token is needed"):
        await sim.client(token=None).status()


async def test_viewer_can_read_but_not_promote(sim: Sim) -> None:
    client = sim.client(token=VIEWER)
    assert (await client.whoami()).roles == ["viewer"]
    with pytest.raises(Forbidden, match="needs the admin role"):
        await client.promote(10, "k-10")
    assert sim.model.status()["weight"] == 0
    assert sim.time.sleeps == []


async def test_malformed_json_raises_malformed_response(sim: Sim) -> None:
    sim.faults.malformed_json_next = 1
    with pytest.raises(MalformedResponse) as caught:
        await sim.client().status()
    assert str(caught.value) == "ops API sent malformed JSON for GET /internal/ops/canary/status"


async def test_reads_retry_on_5xx_and_network_errors() -> None:
    answers = iter(["refused", 503, 200])
    body = {"user": "demo", "roles": ["admin"]}

    def handle(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer == "refused":
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return httpx.Response(answer, json=body if answer == 200 else {"detail": "busy"})

    time, attempts = FakeTime(), []
    client = OpsClient(
        "http://ops:1",
        TOKEN,
        transport=httpx.MockTransport(handle),
        sleep=time.sleep,
        monotonic=time.monotonic,
        on_attempt=lambda *a: attempts.append(a),
    )
    assert (await client.whoami()).user == "demo"
    assert attempts == [("whoami", 1, "unreachable"), ("whoami", 2, "http 503"), ("whoami", 3, "ok")]


async def test_server_down_is_unreachable_in_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    time = FakeTime()
    client = OpsClient(f"http://127.0.0.1:{port}", TOKEN, sleep=time.sleep, monotonic=time.monotonic, retry_deadline=2)
    with pytest.raises(Unreachable) as caught:
        await client.status()
    assert str(caught.value) == f"ops API unreachable at http://127.0.0.1:{port}: connection refused"
    assert len(time.sleeps) > 1
    assert TOKEN not in repr(client)
    await client.aclose()


def test_bad_url_is_refused_at_once() -> None:
    with pytest.raises(Exception, match="must look like http://host:port"):
        OpsClient("localhost:8080", None)


async def test_local_ops_returns_the_first_result_for_a_key() -> None:
    model, clock = SimModel("healthy"), ManualClock()
    ops = LocalOps(model, clock)
    assert (await ops.promote(10, "k-1")).weight == 10
    clock.advance(60)
    assert (await ops.promote(25, "k-2")).weight == 25
    assert (await ops.promote(10, "k-1")).weight == 10  # the first answer again, not applied again
    assert model.status()["weight"] == 25
    rolled = await ops.rollback("MANUAL", "", "k-rb")
    assert rolled.state == "rolled_back"
    assert (await ops.status()).weight == 0
    assert (await ops.whoami()).user == "demo"
    assert (await ops.health_check("redis")).ok


def test_token_file_must_be_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  file-token\n")
    path.chmod(0o644)
    with pytest.raises(TokenFileError) as caught:
        token_from(None, path)
    assert str(caught.value) == f"token file {path} must have mode 0600 (has 0644)"
    assert "file-token" not in str(caught.value)
    path.chmod(0o600)
    assert token_from("env-token", path) == "file-token"


def test_token_from_env_and_missing_file(tmp_path: Path) -> None:
    assert token_from(" env-token\n", None) == "env-token"
    assert token_from("", None) is None
    assert token_from(None, None) is None
    with pytest.raises(TokenFileError, match="cannot be read"):
        token_from(None, tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(TokenFileError, match="is empty"):
        token_from(None, empty)
