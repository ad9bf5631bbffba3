"""What the ops API returns, and the errors an ops call can end in.

Every error message is one line a user can read; none of them ever contains the token.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Identity(_Model):
    user: str
    roles: list[str]


class Pods(_Model):
    ready: int
    desired: int


class CanaryStatus(_Model):
    deployment: str
    stable_version: str
    canary_version: str
    weight: int
    pods: Pods
    state: str


class HealthResult(_Model):
    target: str
    ok: bool
    detail: str
    latency_ms: float


class OpsError(Exception):
    """An ops call that did not succeed; str() is one line for the user."""


class Unreachable(OpsError):
    """No HTTP answer: connection refused, DNS, reset, or a timeout."""


class Unauthorized(OpsError):
    """401: the token is missing or not accepted."""


class Forbidden(OpsError):
    """403: the token's user lacks the role for this call."""


class Conflict(OpsError):
    """409: another call with the same idempotency key is in flight, or the state forbids it."""


class InvalidRequest(OpsError):
    """400/422: the server refused the request; carries the server's detail."""


class MalformedResponse(OpsError):
    """The server answered, but not with the JSON the contract promises."""


class ServerError(OpsError):
    """5xx (or 429) after the retries ran out."""


class OutcomeUnknown(OpsError):
    """A mutating call was sent but no answer came: it may or may not have been applied."""


class TokenFileError(OpsError):
    """The token file cannot be used (missing, unreadable, or readable by others)."""
