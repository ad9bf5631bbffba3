"""The imperative shell around the conductor.

Each poll it reads the ops API status and the metrics, turns them into events, and feeds
every event to `engine.decide`. The input event and the decisions it produced are
appended to the store in one transaction *before* any command is carried out, so an
intent is always committed before the ops call that executes it. Command results come
back as events through the same path. Operator actions enter through `submit` as events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from console import engine
from console import events as ev
from console.clock import Clock
from console.metrics import MetricsSource
from console.ops import Ops
from console.ops_models import CanaryStatus, Forbidden, InvalidRequest, OpsError, Unauthorized
from console.plan import Plan
from sessions.errors import StoreError

log = logging.getLogger(__name__)

Listener = Callable[[ev.Event, engine.State], None]


class Runner:
    def __init__(
        self,
        *,
        plan: Plan,
        store: Any,
        ops: Ops,
        metrics: MetricsSource,
        clock: Clock,
        session: str,
        listeners: list[Listener] | None = None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.ops = ops
        self.metrics = metrics
        self.clock = clock
        self.session = session
        self.state = engine.initial(plan)
        self.listeners = list(listeners or [])
        self._intents: list[ev.Event] = []
        self._wake = asyncio.Event()
        self._status: tuple | None = None
        self.in_flight: str | None = None
        self.trouble: str | None = None  # what keeps the runner from recording, for the operator
        self.on_trouble: list[Callable[[str | None], None]] = []
        self.history_listeners: list[Listener] = []  # told the logged events of a resumed session
        self._backlog: list[ev.Event] = []
        self._flushing = False
        self._saved: ev.Event | None = None  # the last event whose batch is in the log
        self.may_act: Callable[[], bool] = lambda: True  # the guard: does this process still drive the session?
        self.stopped: str | None = None
        self._attempts: list[ev.OpsAttempt] = []
        self._key = ""
        if hasattr(ops, "on_attempt"):  # every attempt of a traffic-changing call goes into the log
            ops.on_attempt = self._attempt

    # -- operator intents ---------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop polling and acting (the session stays open for its new driver)."""
        self.stopped = reason
        self._wake.set()

    def submit(self, event: ev.Event) -> None:
        """Queue an operator intent; it is logged and decided on at once."""
        self._intents.append(event)
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------

    async def start(self, started: ev.SessionStarted, before: list[ev.Event] = ()) -> None:
        """Record the session start (and e.g. command-line attestations), run pre-flight checks."""
        await self.feed(started)
        for e in before:
            await self.feed(e)

    async def resume(
        self, records: list[tuple[str, float, dict]], resumed: ev.SessionResumed, before: list[ev.Event] = ()
    ) -> None:
        """Fold the log, record the resumption, reconcile with the ops API, carry out pending work.

        The ops API holds the actual weight, the log holds the intent: a pending rollback goes
        first; a promotion whose result was never stored is re-read from status and re-sent
        (with the same idempotency key) only if the weight is not there.
        """
        for kind, at, payload in records:
            e = ev.from_record(kind, at, payload)
            self.state = engine.evolve(self.state, e)
            for listener in self.history_listeners:  # a screen shows what happened before the crash too
                listener(e, self.state)
        for e in before:
            await self.feed(e)
        await self.feed(resumed)
        try:
            status: CanaryStatus | None = await self.ops.status()
        except OpsError as exc:
            log.warning("status read on resume failed: %s", exc)
            status = None
        if status is not None:
            await self._status_event(status)
        s = self.state
        if s.outcome is not None:
            return
        if s.rollback:
            if status is not None and (status.state == "rolled_back" or status.weight == 0):
                await self.feed(ev.RolledBack(at=self.clock.now(), key=s.rollback.key, weight=status.weight))
            else:
                await self._execute(ev.Rollback(s.rollback.reason, s.rollback.detail, s.rollback.key))
        elif s.phase == "promoting" and s.pending is not None:
            key = engine.promote_key(s.session, s.pending)
            if status is not None and status.weight == s.pending:
                await self.feed(ev.Promoted(at=self.clock.now(), weight=s.pending, key=key))
            else:
                await self._execute(ev.Promote(s.pending, key))
        for check in engine.unanswered_checks(self.state):
            await self._execute(check)

    async def run(self) -> str:
        """Poll, decide and act until the session reaches a final state; return the outcome.

        Polls stay `poll_interval` apart: an operator intent is decided on at once but does
        not bring the next poll forward (the cumulative cap counts samples).
        """
        next_poll = self.clock.now()
        while self.state.outcome is None and self.stopped is None:
            await self._drain_intents()
            if self.state.outcome is None and self.clock.now() >= next_poll - 1e-9:
                await self.tick()
                next_poll = max(next_poll + self.plan.poll_interval, self.clock.now())
                await self._drain_intents()
            if self.state.outcome is not None or self.stopped is not None:
                break
            self._wake.clear()
            if not self._intents:
                await self.clock.sleep(next_poll - self.clock.now(), self._wake)
        return self.state.outcome

    async def tick(self) -> None:
        """One poll: status (logged when it changes), then every series."""
        try:
            status = await self.ops.status()
        except OpsError as exc:
            log.warning("status read failed: %s", exc)
        else:
            await self._status_event(status)
        taken = self.clock.now()  # the moment the queries ask about, not when the answers came back
        try:
            values = await self.metrics.sample(taken)
        except Exception as exc:  # a broken source must not stop the guard
            log.warning("metrics poll failed: %s", exc)
            values = {}
        await self.feed(ev.Samples(at=taken, values=values))

    async def feed(self, event: ev.Event) -> None:
        """Decide on one event, commit it with its decisions, notify, then carry out the commands.

        When the store cannot take the batch (locked past busy_timeout, disk full, I/O error)
        nothing happens: no state change and no ops call without its committed intent. The
        event waits in a backlog, the operator is told, and the next feed retries it first.
        """
        self._backlog.append(event)
        if self._flushing:  # a command's result, fed while its decision is being carried out: next in line
            return
        self._flushing = True
        try:
            while self._backlog:
                head = self._backlog.pop(0)
                if not await self._commit(head):
                    self._backlog.insert(0, head)
                    return
                if self.state.outcome is not None and self._backlog:  # polled while the end waited to be saved
                    log.info("session over: %d later event(s) not recorded", len(self._backlog))
                    self._backlog.clear()
        finally:
            self._flushing = False

    async def _commit(self, event: ev.Event) -> bool:
        state, decisions, commands = engine.decide(self.state, event)
        batch = [event, *decisions]
        try:
            if event is not self._saved:  # else a retry after the close failed: the batch is in the log
                self.store.append(self.session, [ev.to_record(e) for e in batch])
                self._saved = event
            if state.outcome is not None:
                self.store.close_session(self.session, state.outcome)
        except StoreError as exc:
            waiting = len(self._backlog) + 1
            self._trouble(f"store unavailable, {waiting} event(s) waiting, no ops call until saved: {exc}")
            return False
        if self.trouble:
            self._trouble(None)
        self.state = state
        for e in batch:
            for listener in self.listeners:
                listener(e, state)
        for command in commands:
            await self._execute(command)
        return True

    def _trouble(self, message: str | None) -> None:
        if message != self.trouble:
            (log.error if message else log.info)("%s", message or "store available again")
        self.trouble = message
        for notify in self.on_trouble:
            notify(message)

    def _attempt(self, action: str, attempt: int, outcome: str) -> None:
        if action in ("promote", "rollback"):
            self._attempts.append(
                ev.OpsAttempt(at=self.clock.now(), action=action, key=self._key, attempt=attempt, outcome=outcome)
            )

    async def _record_attempts(self) -> None:
        attempts, self._attempts = self._attempts, []
        for a in attempts:
            await self.feed(a)

    async def _drain_intents(self) -> None:
        while self._intents:
            await self.feed(self._intents.pop(0))

    async def _status_event(self, status: CanaryStatus) -> None:
        key = (status.weight, status.pods.ready, status.pods.desired, status.state)
        if key == self._status:
            return
        self._status = key
        await self.feed(
            ev.StatusRead(
                at=self.clock.now(),
                weight=status.weight,
                ready=status.pods.ready,
                desired=status.pods.desired,
                state=status.state,
                stable_version=status.stable_version,
                canary_version=status.canary_version,
            )
        )

    # -- commands ---------------------------------------------------------------------------

    async def _execute(self, command: ev.Command) -> None:
        match command:
            case ev.RunCheck(item, target):
                await self.feed(await self._check(item, target))
            case ev.Promote() | ev.Rollback() if not self.may_act():
                log.error("not carrying out %s: this process no longer drives the session", command)
            case ev.Promote(weight, key):
                self.in_flight, self._key = f"promote to {weight}%", key
                status: CanaryStatus | None = None
                try:
                    status = await self.ops.promote(weight, key)
                except OpsError as exc:
                    final = isinstance(exc, InvalidRequest | Forbidden | Unauthorized)
                    failed: ev.Event = ev.PromoteFailed(
                        at=self.clock.now(), weight=weight, key=key, error=str(exc), final=final
                    )
                finally:
                    self.in_flight = None
                await self._record_attempts()
                if status is None:
                    await self.feed(failed)
                else:
                    await self._status_event(status)
                    await self.feed(ev.Promoted(at=self.clock.now(), weight=status.weight, key=key))
            case ev.Rollback(reason, detail, key):
                if self.state.rollback and self.state.rollback.failures:
                    await self.clock.sleep(self.plan.poll_interval)
                self.in_flight, self._key = "rollback", key
                status = None
                try:
                    status = await self.ops.rollback(reason, detail, key)
                except OpsError as exc:
                    failed = ev.RollbackFailed(at=self.clock.now(), key=key, error=str(exc))
                finally:
                    self.in_flight = None
                await self._record_attempts()
                if status is None:
                    await self.feed(failed)
                else:
                    await self._status_event(status)
                    await self.feed(ev.RolledBack(at=self.clock.now(), key=key, weight=status.weight))

    async def _check(self, item: str, target: str) -> ev.CheckResult:
        try:
            r = await self.ops.health_check(target)
        except OpsError as exc:
            return ev.CheckResult(at=self.clock.now(), item=item, target=target, ok=False, detail=str(exc))
        return ev.CheckResult(
            at=self.clock.now(), item=item, target=target, ok=r.ok, detail=r.detail, latency_ms=r.latency_ms
        )
