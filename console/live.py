"""A live session for the screen: the runner in its own thread and event loop.

The screen never calls the conductor or the ops API. It receives every logged event
(with the state after it) through `on_event`, and sends operator intents with `submit`,
which the runner logs and decides on. Store writes and ops calls never run on the UI's
event loop, and sqlmodel is imported in this thread, after the first frame.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from console import events as ev
from console.engine import State

OnEvent = Callable[[ev.Event, State], None]


class LiveSession:
    """Prepares a rollout (identity, store, session) and runs it until a final state."""

    def __init__(self, prepare: Callable[[], Awaitable[Any]], *, db: Any, auto_promote: bool, **begin: Any) -> None:
        self._prepare = prepare
        self._db = db
        self._auto_promote = auto_promote
        self._begin = begin
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task | None = None
        self.runner: Any = None
        self.rollout: Any = None
        self.error: BaseException | None = None
        self.on_trouble: Callable[[str | None], None] | None = None  # set by the screen: store trouble

    @property
    def in_flight(self) -> str | None:
        return self.runner.in_flight if self.runner else None

    def now(self) -> float:
        return self.rollout.clock.now() if self.rollout else 0.0

    def start(
        self, on_event: OnEvent, on_ready: Callable[[Any], None], on_error: Callable[[BaseException], None]
    ) -> None:
        def main() -> None:
            try:
                asyncio.run(self._main(on_event, on_ready))
            except BaseException as exc:  # reported to the screen, which exits with one line
                self.error = exc
                on_error(exc)

        self._thread = threading.Thread(target=main, name="canary-runner", daemon=True)
        self._thread.start()

    def submit(self, event: ev.Event) -> None:
        """Thread-safe: hand an operator intent to the runner."""
        if self._loop is not None and self.runner is not None:
            self._loop.call_soon_threadsafe(self.runner.submit, event)

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def _main(self, on_event: OnEvent, on_ready: Callable[[Any], None]) -> None:
        from console.guard import Guard
        from console.notify import notifier_for
        from console.resume import begin
        from console.runner import Runner

        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        r = self.rollout = await self._prepare()
        try:
            b = begin(r, self._db, self._auto_promote, **self._begin)
        except BaseException:
            await r.ops.aclose()
            raise
        self.runner = Runner(
            plan=r.plan,
            store=b.store,
            ops=r.ops,
            metrics=r.metrics,
            clock=r.clock,
            session=b.session,
            listeners=[on_event],
        )
        notifier = notifier_for(r.plan, r.meta)
        notifier.attach(self.runner)
        if self.on_trouble is not None:
            self.runner.on_trouble.append(self.on_trouble)
        self.runner.history_listeners.append(on_event)
        on_ready(self)
        try:
            async with Guard(b.control, self.runner, b.session):
                await b.starter(self.runner)
                await self.runner.run()
                await notifier.finish()
        except asyncio.CancelledError:
            pass
        finally:
            await notifier.aclose()
            await r.ops.aclose()
            await r.metrics.aclose()
            b.store.close()

    def wait(self) -> None:
        """Block until the runner is done (the terminal went away: the guard carries on)."""
        if self._thread is not None:
            self._thread.join()
