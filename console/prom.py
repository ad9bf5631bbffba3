"""PrometheusSource: every series of the plan from a real Prometheus (prometheus-api-client).

Each poll runs every rule and shown query as an instant query, all at once in threads (the
client is synchronous), with no retries and short client and server timeouts. A query's
answer becomes values as follows:

- empty result, NaN, a failed query (refused, timeout, HTTP error, bad query) → None;
  +Inf/-Inf are real values. The last failure is kept, one line, in `last_error`.
- a rule with `by`: the vector is grouped by that label, one series `rule:label` per label
  of `rule.series`; a label missing from the answer → None.
- several elements for one series: the worst case counts — the max for `>`/`>=` rules and
  for shown metrics, the min for `<`/`<=` rules. Unknown elements are skipped.
- stale samples: Prometheus forgets a series 5 m after its last sample (or at once when its
  target goes away). An instant query stamps every value with the evaluation time, so each
  query is also run as `timestamp(query)`, which for plain selectors gives each sample's own
  time; a sample older than 3 × poll_interval + 15 s at evaluation time → None. Aggregations
  (e.g. `count(...)`) are stamped with the evaluation time and so are never stale here.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from console.cli import UsageError
from console.metrics import series_names
from console.plan import Plan

# requests' own default: no retry; read=False keeps a read timeout a Timeout, not a ConnectionError.
_NO_RETRY = Retry(total=0, read=False)
_MAX_ERROR = 200

# One element of a query's answer: its labels (without __name__) and its value (None = unknown).
Element = tuple[dict[str, str], float | None]


class PrometheusError(UsageError):
    """Prometheus cannot be used; the message is one line (the command line exits 2 with it)."""


class PrometheusSource:
    """The plan's series, sampled from the Prometheus at `url` (no credentials are shown)."""

    def __init__(self, url: str, plan: Plan, *, timeout: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.max_age = 3 * plan.poll_interval + 15
        self.last_error: str | None = None
        self._plan = plan
        self._names = series_names(plan)
        self._shown_url = _without_credentials(self.url)
        self._queries = [r.query for r in plan.rules] + [s.query for s in plan.shown]
        requests_per_poll = 2 * len(self._queries)
        # Its own threads, one per request of a poll, so a hanging Prometheus never waits in a queue.
        self._pool = ThreadPoolExecutor(max_workers=max(2, requests_per_poll), thread_name_prefix="prometheus")
        self._session = requests.Session()
        self._session.verify = False  # what disable_ssl=True does when the library builds the session
        self._client = PrometheusConnect(
            self.url, disable_ssl=True, retry=_NO_RETRY, session=self._session, timeout=timeout
        )
        # The library mounts a pool of 10 connections; a poll sends more requests than that at once.
        self._session.mount(self.url, HTTPAdapter(max_retries=_NO_RETRY, pool_maxsize=max(10, requests_per_poll)))

    async def check(self) -> None:
        """Raise PrometheusError (one line) unless Prometheus answers a trivial query."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._query, "vector(1)")
        except Exception as exc:
            raise PrometheusError(self._describe(exc)) from None

    async def sample(self, now: float) -> dict[str, float | None]:
        queries = self._queries
        answers = await self._run_all(queries)
        errors: list[str] = []
        elements: list[list[Element]] = []
        for query, (value_answer, ts_answer) in zip(queries, answers, strict=True):
            if isinstance(value_answer, Exception):
                errors.append(self._describe(value_answer))
                elements.append([])
                continue
            try:
                elements.append(self._elements(value_answer, ts_answer))
            except (KeyError, IndexError, TypeError, ValueError):
                errors.append(f"unexpected answer from Prometheus to {query!r}")
                elements.append([])
        self.last_error = errors[0] if errors else None

        values: dict[str, float | None] = {}
        for rule, found in zip(self._plan.rules, elements, strict=False):  # shown metrics follow
            highest = rule.comparator in (">", ">=")
            if rule.by:
                for label in rule.series:
                    group = [v for labels, v in found if labels.get(rule.by) == label]
                    values[f"{rule.name}:{label}"] = _worst(group, highest)
            else:
                values[rule.name] = _worst([v for _, v in found], highest)
        for shown, found in zip(self._plan.shown, elements[len(self._plan.rules) :], strict=True):
            values[shown.name] = _worst([v for _, v in found], True)
        return {name: values.get(name) for name in self._names}

    async def aclose(self) -> None:
        self._session.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run_all(self, queries: list[str]) -> list[tuple[Any, Any]]:
        """Each query and its `timestamp(...)`, concurrently; an exception in place of a failed answer."""
        loop = asyncio.get_running_loop()
        futures = []
        for query in queries:
            futures.append(loop.run_in_executor(self._pool, self._query, query))
            futures.append(loop.run_in_executor(self._pool, self._query, f"timestamp({query})"))
        # The client timeout bounds each socket wait, not a whole answer: bound the poll as well.
        done, pending = await asyncio.wait(futures, timeout=self.timeout + 0.5)
        for future in pending:
            future.cancel()
        results = [_outcome(f) if f in done else requests.Timeout() for f in futures]
        return [(results[i], results[i + 1]) for i in range(0, len(results), 2)]

    def _query(self, query: str) -> Any:
        return self._client.custom_query(query, params={"timeout": str(self.timeout)})

    def _elements(self, answer: Any, ts_answer: Any) -> list[Element]:
        """The answer's elements; a value whose sample is too old (per `timestamp(...)`) → None."""
        if _is_scalar(answer):
            return [({}, _number(answer[1]))]
        stale: set[frozenset[tuple[str, str]]] = set()
        if isinstance(ts_answer, list) and not _is_scalar(ts_answer):
            for item in ts_answer:
                evaluated, sampled = float(item["value"][0]), float(item["value"][1])
                if evaluated - sampled > self.max_age:
                    stale.add(frozenset(item["metric"].items()))
        found: list[Element] = []
        for item in answer:
            labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
            value = None if frozenset(labels.items()) in stale else _number(item["value"][1])
            found.append((labels, value))
        return found

    def _describe(self, exc: BaseException) -> str:
        url = self._shown_url
        if isinstance(exc, requests.Timeout):
            text = f"Prometheus at {url} timed out after {self.timeout:g}s"
        elif isinstance(exc, requests.ConnectionError):
            text = f"Prometheus unreachable at {url}: {_connection_reason(exc)}"
        elif isinstance(exc, PrometheusApiClientException):
            text = _http_error(str(exc), url)
        elif isinstance(exc, requests.RequestException):
            text = f"Prometheus request to {url} failed: {type(exc).__name__}"
        else:
            text = f"unexpected answer from Prometheus at {url}: {type(exc).__name__}"
        return " ".join(text.split())[:_MAX_ERROR]


def _outcome(future: asyncio.Future[Any]) -> Any:
    return future.exception() or future.result()


def _worst(values: list[float | None], highest: bool) -> float | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return max(known) if highest else min(known)


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) else value


def _is_scalar(answer: Any) -> bool:
    """A scalar answer is `[time, "value"]` rather than a list of elements."""
    return isinstance(answer, list) and len(answer) == 2 and isinstance(answer[0], int | float)


def _connection_reason(exc: BaseException) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nameresolution" in text or "resolve" in text:
        return "host name not found"
    return "connection failed"


def _http_error(message: str, url: str) -> str:
    """One line from the library's 'HTTP Status Code 503 (b'{...}')' message."""
    match = re.match(r"HTTP Status Code (\d+) \((.*)\)$", message, re.DOTALL)
    if not match:
        return f"Prometheus at {url}: {message}"
    detail = ""
    try:
        body = ast.literal_eval(match[2])
        detail = json.loads(body).get("error", "")
    except (ValueError, SyntaxError, AttributeError, TypeError):
        pass
    detail = detail or "no error message"
    return f"Prometheus at {url} answered HTTP {match[1]}: {detail}"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
