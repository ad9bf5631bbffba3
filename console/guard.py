"""The guard: what keeps a session driven when the terminal goes away.

The process that drives a session holds its driver lock and heartbeats it, takes the
intents other consoles post to the session's inbox and hands them to the runner, and
stops acting the moment the lock is no longer its own. When the terminal goes away
(SIGHUP: the SSH session closed, the tmux pane died) the same process carries on
headless until the session reaches a final state (see docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from console import events as ev

log = logging.getLogger(__name__)

HEARTBEAT = 5.0  # seconds between heartbeats (real time)
INBOX_POLL = 0.25  # seconds between looks at the inbox (real time)


def me() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


class Guard:
    """Runs beside a runner, in its event loop: lock heartbeat and the inbox."""

    def __init__(self, control: Any, runner: Any, session: str) -> None:
        self.control = control
        self.runner = runner
        self.session = session
        self.host, self.pid = me()
        self.lost = False
        self._task: asyncio.Task | None = None

    def holds(self) -> bool:
        """Checked before every ops call that changes traffic: two drivers never both act."""
        if self.lost:
            return False
        try:
            held = self.control.holds(self.session, self.host, self.pid)
        except Exception as exc:  # the store is unavailable: the runner's own trouble path reports it
            log.warning("cannot check the driver lock: %s", exc)
            return True
        if not held:
            self._lose()
        return held

    async def __aenter__(self) -> Guard:
        self.runner.may_act = self.holds
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not self.lost:
            with contextlib.suppress(Exception):
                self.control.release(self.session, self.host, self.pid)

    async def _watch(self) -> None:
        beat = 0.0
        while not self.lost:
            now = time.monotonic()
            try:
                if now - beat >= HEARTBEAT:
                    beat = now
                    if not self.control.heartbeat(self.session, self.host, self.pid):
                        self._lose()
                        return
                for kind, payload in self.control.take(self.session):
                    self._submit(kind, payload)
            except Exception as exc:  # store locked or failing: keep guarding, keep retrying
                log.warning("guard: %s", exc)
            await asyncio.sleep(INBOX_POLL)

    def _submit(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            event = ev.from_record(kind, self.runner.clock.now(), payload)
        except (KeyError, TypeError) as exc:
            log.warning("ignoring a malformed intent %s: %s", kind, exc)
            return
        self.runner.submit(event)

    def _lose(self) -> None:
        if not self.lost:
            self.lost = True
            log.error("session %s: the driver lock was taken over; this process stops acting", self.session)
            self.runner.stop("the driver lock was taken over by another console")


def on_hangup(callback: Callable[[], None], loop: asyncio.AbstractEventLoop | None = None) -> None:
    """When the terminal goes away: point stdio at /dev/null (writes would fail) and call back.

    With `loop`, the callback runs in that event loop (asyncio's signal handling), else in
    a plain signal handler.
    """

    def handler(*_: Any) -> None:
        if loop is not None:
            loop.remove_signal_handler(signal.SIGHUP)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
        log.warning("terminal gone (SIGHUP): the guard carries on without a screen")
        callback()

    if loop is not None:
        loop.add_signal_handler(signal.SIGHUP, handler)
    else:
        signal.signal(signal.SIGHUP, handler)
