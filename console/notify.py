"""Notifications: the milestone messages (console/milestones.py) posted to the plan's channels.

A `Notifier` is a runner listener. Each channel has a bounded queue and its own sender task
in the runner's event loop, so a slow or dead receiver never blocks the rollout or the
rollback. A message is retried with backoff, a capped number of times, until its deadline.
Its outcome is an event in the log, handed to the runner like an operator intent:
`NotificationSent`, or `NotificationFailed` (retries out, deadline passed, or the queue
full: never dropped silently). The channel URLs are secrets: no event, log line, error or
screen ever shows one, only the channel's name.

The session's close waits for the last messages: the runner's store is wrapped so that
closing happens in `aclose`, after `finish` has logged the final messages' outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from console import events as ev
from console.milestones import Message, Milestones
from console.plan import Plan
from console.state import State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    queue_size: int = 50  # messages waiting per channel
    timeout: float = 5.0  # seconds per HTTP attempt
    attempts: int = 4  # attempts per message at most
    backoff: float = 0.5  # seconds before the 2nd attempt; doubles after each
    deadline: float = 30.0  # seconds from queueing after which a message is given up


@dataclass(frozen=True)
class Target:
    """A channel with its URL resolved. The URL is a secret: kept out of repr."""

    name: str
    kind: str
    url: str = field(repr=False)

    def scrub(self, text: str) -> str:
        """`text` without the URL or its secret parts (path and query)."""
        parts = urlsplit(self.url)
        for secret in (self.url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.query):
            if len(secret) > 1:
                text = text.replace(secret, "***")
        return text


def targets(plan: Plan, environ: Mapping[str, str] | None = None) -> list[Target]:
    """The plan's channels that have a URL; one without (its variable unset) sends nothing."""
    environ = os.environ if environ is None else environ
    out = []
    for ch in plan.channels:
        url = ch.url.get_secret_value() if ch.url is not None else environ.get(ch.url_env or "", "").strip()
        if not url:
            log.info("notifications: channel %s not configured (%s unset): nothing is sent to it", ch.name, ch.url_env)
        elif not url.startswith(("https://", "http://")):
            log.warning(
                "notifications: channel %s: %s is not an http(s) URL; nothing is sent to it", ch.name, ch.url_env
            )
        else:
            out.append(Target(ch.name, ch.kind, url))
    return out


def notifier_for(plan: Plan, meta: Mapping[str, Any], **kwargs: Any) -> Notifier:
    """The session's notifier: without channels (nothing to do) under `--no-notify`."""
    return Notifier(plan, [] if meta.get("no_notify") else targets(plan), **kwargs)


class _Scrub(logging.Filter):
    """httpx logs each request's URL (at INFO): the channel URLs are replaced with the channel's name."""

    def __init__(self, targets: list[Target]) -> None:
        super().__init__()
        self.targets = targets

    def filter(self, record: logging.LogRecord) -> bool:
        text = original = record.getMessage()
        for t in self.targets:
            text = text.replace(t.url, f"<channel {t.name}>")
        if text != original:
            record.msg, record.args = text, ()
        return True


class _HeldClose:
    """The runner's store, with the session's close held until `release`."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._closing: tuple[str, str] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def close_session(self, session: str, outcome: str) -> None:
        self._closing = (session, outcome)

    def release(self) -> None:
        if self._closing is not None:
            session, outcome = self._closing
            self._closing = None
            try:
                self._store.close_session(session, outcome)
            except Exception as exc:  # the store's own errors name the file, never a URL
                log.error("cannot close session %s: %s", session, exc)


class Notifier:
    """A runner listener posting the milestone messages to `targets`; see the module docstring."""

    def __init__(
        self, plan: Plan, targets: list[Target], *, settings: Settings | None = None, transport: Any = None
    ) -> None:
        self.plan = plan
        self.targets = targets
        self.settings = settings or Settings()
        self.milestones = Milestones(plan)
        self._transport = transport
        self._runner: Any = None
        self._held: _HeldClose | None = None
        self._client: httpx.AsyncClient | None = None
        self._queues: dict[str, asyncio.Queue] = {}
        self._tasks: list[asyncio.Task] = []
        self._unlogged: list[ev.Event] = []  # outcomes handed to the runner, not yet seen logged
        self._finishing = False
        self._sending = 0  # messages being posted right now
        self._scrub = _Scrub(targets)

    def attach(self, runner: Any) -> None:
        """Listen to `runner` and start the senders (in the running loop). No channel: nothing at all."""
        if not self.targets:
            return
        self._runner = runner
        runner.listeners.append(self)
        self._held = runner.store = _HeldClose(runner.store)
        logging.getLogger("httpx").addFilter(self._scrub)
        self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        for t in self.targets:
            queue: asyncio.Queue = asyncio.Queue(maxsize=self.settings.queue_size)
            self._queues[t.name] = queue
            self._tasks.append(asyncio.get_running_loop().create_task(self._sender(t, queue)))

    # -- the listener: never waits -------------------------------------------------------------

    def __call__(self, e: ev.Event, s: State) -> None:
        if isinstance(e, ev.NotificationSent | ev.NotificationFailed):
            self._unlogged = [x for x in self._unlogged if x is not e]
        if isinstance(e, ev.SessionResumed):
            self.milestones.prime(self._stored())
        for message in self.milestones(e, s):
            loop = asyncio.get_running_loop()
            for t in self.targets:
                try:
                    self._queues[t.name].put_nowait((message, loop.time() + self.settings.deadline))
                except asyncio.QueueFull:
                    error = f"not sent: {self.settings.queue_size} messages already waiting for this channel"
                    self._outcome(ev.NotificationFailed, t, message, error=error, attempts=0)

    def _stored(self) -> list[ev.Event]:
        try:
            rows = self._runner.store.records(self._runner.session)
        except Exception as exc:
            log.warning("notifications: cannot read the session's earlier events: %s", exc)
            return []
        return [ev.from_record(*row) for row in rows if row[0] in ev.EVENT_TYPES]

    def _outcome(self, kind: type[ev.Event], t: Target, message: Message, **fields: Any) -> None:
        event = kind(at=self._runner.clock.now(), channel=t.name, milestone=message.milestone, **fields)
        self._unlogged.append(event)
        if not self._finishing:
            self._runner.submit(event)

    # -- the senders --------------------------------------------------------------------------

    async def _sender(self, t: Target, queue: asyncio.Queue) -> None:
        while True:
            message, deadline = await queue.get()
            self._sending += 1
            try:
                attempts, error = await self._post(t, message, deadline)
            except Exception as exc:  # never let a sender die: the message is reported failed
                attempts, error = 0, t.scrub(f"{type(exc).__name__}: {exc}")
            finally:
                self._sending -= 1
                queue.task_done()
            if error:
                log.info(
                    "notification %s to %s failed after %d attempt(s): %s", message.milestone, t.name, attempts, error
                )
                self._outcome(ev.NotificationFailed, t, message, error=error, attempts=attempts)
            else:
                self._outcome(ev.NotificationSent, t, message, attempts=attempts)

    async def _post(self, t: Target, message: Message, deadline: float) -> tuple[int, str]:
        """(attempts, "") when the channel took the message, else (attempts, why not)."""
        loop = asyncio.get_running_loop()
        body = message.slack if t.kind == "slack" else message.fields
        attempts, error = 0, "deadline passed while waiting in the queue"
        while attempts < self.settings.attempts:
            left = deadline - loop.time()
            if left <= 0:
                break
            attempts += 1
            try:
                response = await self._client.post(t.url, json=body, timeout=min(self.settings.timeout, left))
            except httpx.TimeoutException:
                error = f"no answer within {min(self.settings.timeout, left):.1f}s"
            except httpx.HTTPError as exc:
                error = t.scrub(f"{type(exc).__name__}: {exc}")
            else:
                if response.is_success:
                    return attempts, ""
                error = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in (408, 429):
                    return attempts, error  # refused: another try gets the same answer
            pause = self.settings.backoff * 2 ** (attempts - 1)
            if loop.time() + pause >= deadline:
                return attempts, f"{error}; deadline of {self.settings.deadline:g}s reached"
            if attempts < self.settings.attempts:
                await asyncio.sleep(pause)
        return attempts, error

    # -- the end ------------------------------------------------------------------------------

    async def finish(self) -> None:
        """After `runner.run()`: wait for the last messages (each ends by its deadline) and log their outcomes."""
        if self._runner is None:
            return
        self._finishing = True  # the runner no longer drains its intents: outcomes are fed from here
        wait = asyncio.gather(*(q.join() for q in self._queues.values()))
        try:
            await asyncio.wait_for(wait, self.settings.deadline + self.settings.timeout + 1.0)
        except TimeoutError:
            log.error("notifications: senders did not finish in time")
        if self._runner.stopped:  # another console drives the session now: not ours to write
            log.warning("notifications: %d outcome(s) not logged: %s", len(self._unlogged), self._runner.stopped)
            return
        for event in list(self._unlogged):
            await self._runner.feed(event)

    async def aclose(self) -> None:
        """Stop the senders and close the session if it ended (held until now)."""
        left = self._sending + sum(q.qsize() for q in self._queues.values()) + len(self._unlogged)
        if left:
            log.warning("notifications: %d message(s) stopped before their outcome was logged", left)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            logging.getLogger("httpx").removeFilter(self._scrub)
        if self._held is not None:
            self._held.release()
