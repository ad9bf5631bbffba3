"""The simulator as an HTTP server: the ops API contract (docs/ops-api.md) plus `/metrics`.

`build_app` wires a `SimModel` and a clock into a Starlette app; `serve` runs it with uvicorn.
Faults (`Faults`) make the server misbehave on purpose; switch them at run time with
`POST /sim/faults`. `POST /sim/webhook[/...]` is a notification receiver: it keeps every JSON
body, and `GET /sim/webhook` returns them in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.clock import ScaledClock
from console.sim import SimModel

OPS = "/internal/ops"
MUTATING = {f"{OPS}/canary/promote": "promote", f"{OPS}/canary/rollback": "rollback"}

# series -> Prometheus metric (label version="canary"|"stable"); `name:label` series get label platform
METRICS: dict[str, str] = {
    "p95_latency": "slo:latency_p95_seconds",
    "error_rate": "slo:error_ratio",
    "success_rate": "slo:success_ratio",
    "webhook_signatures": "slo:webhook_signature_ok_ratio",
    "db_connection_failures": "slo:db_connection_failure_ratio",
    "publish_success": "slo:publish_success_ratio",
    "memory_mb": "canary_memory_mb",
    "cpu_ratio": "canary_cpu_ratio",
    "exceptions_per_min": "canary_exceptions_per_minute",
    "rate_limited_per_min": "canary_rate_limited_per_minute",
    "queue_backlog": "canary_queue_backlog",
    "active_users": "canary_active_users",
    "db_pool_in_use": "canary_db_pool_in_use_ratio",
    "publish_per_min": "canary_publish_per_minute",
    "webhook_latency_p95": "canary_webhook_latency_p95_seconds",
    "integration_failures_per_min": "canary_integration_failures_per_minute",
}


@dataclass
class Faults:
    """Ways the server misbehaves on purpose; counters count down as they fire."""

    fail_next_rollback: int = 0  # answer 500 to this many rollbacks
    timeout_after_apply: set[str] = field(default_factory=set)  # "promote"/"rollback": apply, then hang once
    timeout_seconds: float = 15.0  # how long such a hang lasts (longer than the client's timeout)
    malformed_json_next: int = 0  # answer this many successful ops calls with a broken body
    conflict_next: int = 0  # answer 409 to this many promotes/rollbacks
    slow_seconds: float = 0.0  # delay every ops call by this much
    unauthorized: bool = False  # answer 401 to every ops call
    forbidden: bool = False  # answer 403 to every ops call
    webhook_fail_next: int = 0  # answer 503 to this many notifications
    webhook_slow_seconds: float = 0.0  # delay every notification's answer by this much

    def update(self, data: dict[str, Any]) -> None:
        """Set the fields in `data`; ValueError names a field that does not exist or has the wrong type."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for name, value in data.items():
            if name not in fields:
                raise ValueError(f"unknown fault {name!r}")
            current = getattr(self, name)
            if isinstance(current, set):
                if not isinstance(value, list) or not set(value) <= set(MUTATING.values()):
                    raise ValueError(f"{name} must be a list of 'promote' and 'rollback'")
                value = set(value)
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif isinstance(value, bool) or not isinstance(value, type(current) | int) or value < 0:
                raise ValueError(f"{name} must be a number, 0 or more")
            changes[name] = type(current)(value)
        for name, value in changes.items():
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["timeout_after_apply"] = sorted(self.timeout_after_apply)
        return data


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromoteBody(_Body):
    weight: StrictInt = Field(ge=1, le=100)


class RollbackBody(_Body):
    reason: str = Field(min_length=1)
    detail: str = ""


class ExecuteBody(_Body):
    command: Literal["health-check"]
    target: str = Field(min_length=1)


@dataclass
class _Call:
    """One ops request, and what the server answered (for the call log)."""

    method: str
    path: str
    body: Any
    key: str | None
    status: int = 200


class SimServer:
    """The request handlers over one model, clock, user table and set of faults."""

    def __init__(
        self,
        model: SimModel,
        clock: Any,
        *,
        users: dict[str, dict[str, Any]],
        call_log: Path | None,
        faults: Faults,
    ) -> None:
        self.model = model
        self.clock = clock
        self.users = users
        self.call_log = call_log
        self.faults = faults
        self.keys: dict[str, tuple[str, Any]] = {}  # key -> (fingerprint, answer; None while in flight)
        self.received: list[Any] = []  # notification bodies, in order of arrival

    # -- the ops API ------------------------------------------------------------------

    async def ops(self, request: Request) -> Response:
        path = request.url.path
        call = _Call(request.method, path, None, request.headers.get("idempotency-key"))
        response = await self._answer(request, call)
        call.status = response.status_code
        self._log(call)
        if call.status == 200 and MUTATING.get(path) in self.faults.timeout_after_apply:
            self.faults.timeout_after_apply.discard(MUTATING[path])
            await asyncio.sleep(self.faults.timeout_seconds)
        return response

    async def _answer(self, request: Request, call: _Call) -> Response:
        if request.method == "POST":
            try:
                call.body = json.loads(await request.body() or b"null")
            except ValueError:
                return _error(422, "the body must be JSON")
        user = self._user(request)
        if user is None or self.faults.unauthorized:
            return _error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
        if self.faults.forbidden:
            return _error(403, f"user {user['user']} may not call the ops API")
        action = MUTATING.get(call.path)
        if action and "admin" not in user["roles"]:
            return _error(403, f"{action} needs the admin role; user {user['user']} has {', '.join(user['roles'])}")
        if action is None:
            return await self._read(call, user)
        return await self._mutate(action, call)

    async def _read(self, call: _Call, user: dict[str, Any]) -> Response:
        await self._slow()
        now = self.clock.now()
        if call.path == f"{OPS}/whoami":
            return self._ok(user)
        if call.path == f"{OPS}/canary/status":
            return self._ok(self.model.status(now))
        body = _parse(ExecuteBody, call.body)
        if isinstance(body, Response):
            return body
        return self._ok(self.model.health_check(body.target, now))

    async def _mutate(self, action: str, call: _Call) -> Response:
        fingerprint = json.dumps([call.path, call.body], sort_keys=True)
        if call.key is not None and call.key in self.keys:
            seen, answer = self.keys[call.key]
            if seen != fingerprint:
                return _error(422, "Idempotency-Key already used with another request")
            if answer is None:
                return _error(409, "a request with this Idempotency-Key is in flight")
            return self._ok(answer)
        if call.key is not None:
            self.keys[call.key] = (fingerprint, None)
        try:
            response = await self._apply(action, call)
        finally:
            if call.key is not None and self.keys[call.key][1] is None:
                del self.keys[call.key]
        return response

    async def _apply(self, action: str, call: _Call) -> Response:
        await self._slow()
        if self.faults.conflict_next:
            self.faults.conflict_next -= 1
            return _error(409, f"another {action} is in progress")
        if action == "rollback" and self.faults.fail_next_rollback:
            self.faults.fail_next_rollback -= 1
            return _error(500, "rollback failed: traffic router did not answer")
        now = self.clock.now()
        body = _parse(PromoteBody if action == "promote" else RollbackBody, call.body)
        if isinstance(body, Response):
            return body
        try:
            if isinstance(body, PromoteBody):
                answer = self.model.promote(body.weight, now)
            else:
                answer = self.model.rollback(body.reason, body.detail, now)
        except ValueError as exc:
            return _error(422, str(exc))
        if call.key is not None:
            self.keys[call.key] = (self.keys[call.key][0], answer)
        return self._ok(answer)

    def _ok(self, data: Any) -> Response:
        if self.faults.malformed_json_next:
            self.faults.malformed_json_next -= 1
            return Response('{"deployment": "publisher-api", "weig', media_type="application/json")
        return JSONResponse(data)

    def _user(self, request: Request) -> dict[str, Any] | None:
        if not self.users:
            return self.model.whoami()
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        for token, user in self.users.items():
            if hmac.compare_digest(token.encode(), given.strip().encode()):
                return user
        return None

    async def _slow(self) -> None:
        if self.faults.slow_seconds:
            await asyncio.sleep(self.faults.slow_seconds)

    def _log(self, call: _Call) -> None:
        if self.call_log is None:
            return
        line = {
            "time": round(self.clock.now(), 3),
            "wall": round(time.time(), 4),
            "method": call.method,
            "path": call.path,
            "body": call.body,
            "idempotency_key": call.key,
            "status": call.status,
        }
        with self.call_log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    # -- simulator controls -------------------------------------------------------------

    async def sim_faults(self, request: Request) -> Response:
        if self._user(request) is None:
            return _error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
        if request.method == "POST":
            try:
                data = json.loads(await request.body())
                if not isinstance(data, dict):
                    raise ValueError("the body must be a JSON object")
                self.faults.update(data)
            except ValueError as exc:
                return _error(422, str(exc))
        return JSONResponse(self.faults.to_json())

    async def webhook(self, request: Request) -> Response:
        """The notification receiver: POST keeps the JSON body (after any fault), GET lists them."""
        if request.method == "GET":
            return JSONResponse(self.received)
        body = await request.body()
        if self.faults.webhook_slow_seconds:
            await asyncio.sleep(self.faults.webhook_slow_seconds)
        if self.faults.webhook_fail_next:
            self.faults.webhook_fail_next -= 1
            return _error(503, "receiver unavailable")
        try:
            self.received.append(json.loads(body))
        except ValueError:
            return _error(422, "the body must be JSON")
        return JSONResponse({"ok": True})

    async def metrics(self, request: Request) -> Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_SimCollector(self.model, self.clock))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _SimCollector(Collector):
    """Gauges read from the model at scrape time; a series that is None is left out."""

    def __init__(self, model: SimModel, clock: Any) -> None:
        self.model = model
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock.now()
        families: dict[str, GaugeMetricFamily] = {}
        for version, values in (("canary", self.model.sample(now)), ("stable", self.model.stable_sample(now))):
            for series, value in values.items():
                base, _, platform = series.partition(":")
                if value is None or base not in METRICS:
                    continue
                name = METRICS[base]
                if name not in families:
                    labels = ["version", "platform"] if platform else ["version"]
                    families[name] = GaugeMetricFamily(name, f"simulated {base}", labels=labels)
                families[name].add_metric([version, platform] if platform else [version], value)
        incidents = GaugeMetricFamily("canary_incident_active", "simulated firing incident", labels=["severity"])
        for severity, value in self.model.incidents(now).items():
            incidents.add_metric([severity], value)
        yield from families.values()
        yield incidents


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _parse(model: type[_Body], data: Any) -> Any:
    """The validated body, or a 422 response naming the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return _error(422, f"{where}: {first['msg']}")


def build_app(
    model: SimModel,
    clock: Any,
    *,
    token: str | None,
    call_log: Path | None = None,
    faults: Faults | None = None,
    users: dict[str, dict[str, Any]] | None = None,
) -> Starlette:
    """The simulator app. With a token (or `users`: token -> {user, roles}) every call needs a bearer token."""
    table = dict(users or {})
    if token:
        table[token] = model.whoami()
    server = SimServer(model, clock, users=table, call_log=call_log, faults=faults or Faults())
    handler: Callable[[Request], Awaitable[Response]] = server.ops
    routes = [
        Route(f"{OPS}/whoami", handler, methods=["GET"]),
        Route(f"{OPS}/canary/status", handler, methods=["GET"]),
        Route(f"{OPS}/execute", handler, methods=["POST"]),
        Route(f"{OPS}/canary/promote", handler, methods=["POST"]),
        Route(f"{OPS}/canary/rollback", handler, methods=["POST"]),
        Route("/metrics", server.metrics, methods=["GET"]),
        Route("/sim/faults", server.sim_faults, methods=["GET", "POST"]),
        Route("/sim/webhook", server.webhook, methods=["GET", "POST"]),
        Route("/sim/webhook/{rest:path}", server.webhook, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sim = server
    return app


def serve(
    host: str,
    port: int,
    scenario: str,
    speed: float,
    seed: int,
    token: str | None,
    call_log: Path | None,
    *,
    viewer_token: str | None = None,
    faults: Faults | None = None,
) -> None:
    """Run the simulator until interrupted (blocking). `viewer_token` adds a user with role viewer."""
    import uvicorn

    model = SimModel(scenario, seed)
    users = {viewer_token: {"user": "viewer", "roles": ["viewer"]}} if viewer_token else None
    app = build_app(model, ScaledClock(speed), token=token, call_log=call_log, faults=faults, users=users)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
