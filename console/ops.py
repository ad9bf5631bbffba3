"""The ops API: the `Ops` protocol, the in-process `LocalOps`, and the HTTP `OpsClient`."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import socket
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from console.ops_models import (
    CanaryStatus,
    Conflict,
    Forbidden,
    HealthResult,
    Identity,
    InvalidRequest,
    MalformedResponse,
    OpsError,
    OutcomeUnknown,
    Pods,
    ServerError,
    TokenFileError,
    Unauthorized,
    Unreachable,
)

__all__ = [
    "CanaryStatus",
    "Conflict",
    "Forbidden",
    "HealthResult",
    "Identity",
    "InvalidRequest",
    "LocalOps",
    "OpsClient",
    "MalformedResponse",
    "Ops",
    "OpsError",
    "OutcomeUnknown",
    "Pods",
    "ServerError",
    "TokenFileError",
    "Unauthorized",
    "Unreachable",
    "token_from",
]

log = logging.getLogger(__name__)


class Ops(Protocol):
    async def whoami(self) -> Identity: ...

    async def status(self) -> CanaryStatus: ...

    async def health_check(self, target: str) -> HealthResult: ...

    async def promote(self, weight: int, key: str) -> CanaryStatus: ...

    async def rollback(self, reason: str, detail: str, key: str) -> CanaryStatus: ...

    async def aclose(self) -> None: ...


class _Clock(Protocol):
    def now(self) -> float: ...


class LocalOps:
    """Ops in-process against a simulator model; the same key returns the first result."""

    def __init__(self, model: Any, clock: _Clock) -> None:
        self.model = model
        self.clock = clock
        self._done: dict[str, CanaryStatus] = {}

    async def whoami(self) -> Identity:
        return Identity.model_validate(self.model.whoami())

    async def status(self) -> CanaryStatus:
        return CanaryStatus.model_validate(self.model.status(self.clock.now()))

    async def health_check(self, target: str) -> HealthResult:
        return HealthResult.model_validate(self.model.health_check(target, self.clock.now()))

    async def promote(self, weight: int, key: str) -> CanaryStatus:
        if key not in self._done:
            self._done[key] = CanaryStatus.model_validate(self.model.promote(weight, self.clock.now()))
        return self._done[key]

    async def rollback(self, reason: str, detail: str, key: str) -> CanaryStatus:
        if key not in self._done:
            self._done[key] = CanaryStatus.model_validate(self.model.rollback(reason, detail, self.clock.now()))
        return self._done[key]

    async def aclose(self) -> None:
        return None


BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0

OnAttempt = Callable[[str, int, str], None]


class _Failed(Exception):
    """A failed attempt: `error` is what the caller gets unless a retry (when `retry`) succeeds."""

    def __init__(self, error: OpsError, outcome: str, *, retry: bool = False, unknown: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.outcome = outcome
        self.retry = retry
        self.unknown = unknown


class OpsClient:
    """The ops API over HTTP: bearer auth, a timeout on every call, retries with backoff.

    `on_attempt(action, attempt, outcome)` is called once per attempt with outcome "ok",
    "applied" (a re-read status showed the change already made), "http NNN", "unreachable",
    "timeout" or "malformed".
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 5.0,
        retry_deadline: float = 20.0,
        rollback_deadline: float = 120.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        on_attempt: OnAttempt | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if token is not None and not _TOKEN_CHARS.fullmatch(token):
            raise OpsError("ops API token contains characters not allowed in an HTTP header")
        url = httpx.URL(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise OpsError(f"ops API URL must look like http://host:port, not {base_url!r}")
        self.base_url = str(url.copy_with(username=None, password=None))
        self._origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        self._token = token
        self.timeout = timeout
        self.retry_deadline = retry_deadline
        self.rollback_deadline = rollback_deadline
        self.on_attempt = on_attempt
        self._sleep = sleep
        self._rng = rng
        self._monotonic = monotonic
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"OpsClient(base_url={self.base_url!r}, token={'<set>' if self._token else None})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def whoami(self) -> Identity:
        return await self._call("whoami", "GET", "/internal/ops/whoami", Identity)

    async def status(self) -> CanaryStatus:
        return await self._call("status", "GET", "/internal/ops/canary/status", CanaryStatus)

    async def health_check(self, target: str) -> HealthResult:
        body = {"command": "health-check", "target": target}
        return await self._call("health-check", "POST", "/internal/ops/execute", HealthResult, body=body)

    async def promote(self, weight: int, key: str) -> CanaryStatus:
        return await self._call(
            "promote",
            "POST",
            "/internal/ops/canary/promote",
            CanaryStatus,
            body={"weight": weight},
            key=key,
            applied=lambda s: s.weight == weight,
        )

    async def rollback(self, reason: str, detail: str, key: str) -> CanaryStatus:
        return await self._call(
            "rollback",
            "POST",
            "/internal/ops/canary/rollback",
            CanaryStatus,
            body={"reason": reason, "detail": detail},
            key=key,
            applied=lambda s: s.state == "rolled_back" or s.weight == 0,
            deadline=self.rollback_deadline,
        )

    async def _call(
        self,
        action: str,
        method: str,
        path: str,
        model: type[_M],
        *,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        applied: Callable[[CanaryStatus], bool] | None = None,
        deadline: float | None = None,
    ) -> _M:
        """One call with retries; a mutating call (`applied` given) re-reads status after an unknown outcome."""
        deadline = self.retry_deadline if deadline is None else deadline
        start = self._monotonic()
        unknown = False
        attempt = 0
        while True:
            attempt += 1
            try:
                if unknown and applied is not None:
                    status = await self._once("GET", "/internal/ops/canary/status", CanaryStatus)
                    if applied(status):
                        self._report(action, attempt, "applied")
                        return status  # type: ignore[return-value]
                result = await self._once(method, path, model, body=body, key=key, mutating=applied is not None)
            except _Failed as exc:
                self._report(action, attempt, exc.outcome)
                if not exc.retry:
                    raise exc.error from None
                unknown = unknown or exc.unknown
                last = exc
            else:
                self._report(action, attempt, "ok")
                return result
            delay = self._rng() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            if self._monotonic() - start + delay > deadline:
                if unknown:
                    raise OutcomeUnknown(
                        f"{action} outcome unknown: ops API at {self._origin} did not confirm it "
                        f"within {deadline:g} s ({attempt} attempts; last: {last.error})"
                    )
                raise last.error
            await self._sleep(delay)

    async def _once(
        self,
        method: str,
        path: str,
        model: type[_M],
        *,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        mutating: bool = False,
    ) -> _M:
        """One HTTP exchange: the parsed model, or `_Failed`."""
        call = f"{method} {path}"
        headers = {"Idempotency-Key": key} if key else {}
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.request(method, path, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            error = Unreachable(self._scrub(f"ops API unreachable at {self._origin}: {_reason(exc, self.timeout)}"))
            raise _Failed(error, "unreachable", retry=True) from None
        except (TimeoutError, httpx.TransportError) as exc:
            reason = _reason(exc, self.timeout)
            if mutating:
                error: OpsError = OutcomeUnknown(
                    self._scrub(f"ops API at {self._origin} gave no answer to {call}: {reason}")
                )
            else:
                error = Unreachable(self._scrub(f"ops API unreachable at {self._origin}: {reason}"))
            raise _Failed(error, "timeout", retry=True, unknown=mutating) from None
        code = response.status_code
        if 200 <= code < 300:
            try:
                return model.model_validate(response.json())
            except ValueError:
                raise _Failed(MalformedResponse(f"ops API sent malformed JSON for {call}"), "malformed") from None
        detail = self._scrub(_detail(response))
        outcome = f"http {code}"
        if code == 401:
            hint = "token not accepted" if self._token else "a token is needed (CANARY_OPS_TOKEN or --token-file)"
            raise _Failed(Unauthorized(f"ops API refused {call} (401): {hint}"), outcome)
        if code == 403:
            raise _Failed(Forbidden(f"ops API forbids {call} for this user (403): {detail}"), outcome)
        if code == 409:
            raise _Failed(Conflict(f"ops API conflict on {call} (409): {detail}"), outcome, retry=True)
        if code == 429 or code >= 500:
            raise _Failed(ServerError(f"ops API failed {call} ({code}): {detail}"), outcome, retry=True)
        if 400 <= code < 500:
            raise _Failed(InvalidRequest(f"ops API rejected {call} ({code}): {detail}"), outcome)
        raise _Failed(MalformedResponse(f"ops API sent unexpected status {code} for {call}"), outcome)

    def _report(self, action: str, attempt: int, outcome: str) -> None:
        log.info("ops %s attempt %d: %s", action, attempt, outcome)
        if self.on_attempt is not None:
            self.on_attempt(action, attempt, outcome)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


_M = TypeVar("_M", bound=BaseModel)
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


def _reason(exc: BaseException, timeout: float) -> str:
    """Why there was no answer, in a few words, from the exception and its causes."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in chain:
        text = str(cause).lower()
        if isinstance(cause, ConnectionRefusedError) or "refused" in text:
            return "connection refused"
        if isinstance(cause, socket.gaierror) or "name or service not known" in text:
            return "unknown host"
    text = str(exc) or type(exc).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text.splitlines()[0])


def _detail(response: httpx.Response) -> str:
    """The server's `detail`, on one line, or the start of the body."""
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = response.text
    if not isinstance(detail, str):
        detail = json.dumps(detail, separators=(",", ":"))
    detail = " ".join(detail.split())
    return (detail[:200] + "…" if len(detail) > 200 else detail) or response.reason_phrase


def token_from(env_token: str | None, token_file: Path | None) -> str | None:
    """The ops API token: from the token file if given (owner-only mode required), else the env value."""
    if token_file is None:
        return (env_token or "").strip() or None
    try:
        mode = stat.S_IMODE(token_file.stat().st_mode)
        if mode & 0o077:
            raise TokenFileError(f"token file {token_file} must have mode 0600 (has {mode:04o})")
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenFileError(f"token file {token_file} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TokenFileError(f"token file {token_file} is not text") from None
    if not token:
        raise TokenFileError(f"token file {token_file} is empty")
    return token
