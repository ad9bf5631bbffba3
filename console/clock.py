"""Clocks: the only source of time. Session time is monotonic seconds from the clock's start.

`RealClock` follows `time.monotonic`, so a wall-clock step (NTP) neither shortens nor
lengthens a sustain window. `ScaledClock` runs N times faster (the simulator server).
`SteppedClock` is the runner's clock for `--speed N`: session time moves only by what its
one sleeper slept, so a simulated rollout is the same on every run. `ManualClock` moves
only when told, for tests. `sleep` returns early when `wake` is set (an operator intent).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    speed: float

    def now(self) -> float: ...

    def jump(self, to: float) -> None: ...

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None: ...


async def _nap(real_seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(real_seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), max(0.0, real_seconds))


class ScaledClock:
    """Session seconds = real monotonic seconds × speed, counted from construction."""

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be more than 0")
        self.speed = speed
        self._origin = time.monotonic()
        self._start = start

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.speed

    def jump(self, to: float) -> None:
        """Continue from session time `to` (a resumed session)."""
        self._origin, self._start = time.monotonic(), to

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        await _nap(max(0.0, seconds) / self.speed, wake)


class SteppedClock:
    """Session time advances by exactly what was slept (or, when woken early, the share slept)."""

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be more than 0")
        self.speed = speed
        self._now = start

    def now(self) -> float:
        return self._now

    def jump(self, to: float) -> None:
        self._now = to

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        seconds = max(0.0, seconds)
        began = time.monotonic()
        await _nap(seconds / self.speed, wake)
        if wake is not None and wake.is_set():
            seconds = min(seconds, (time.monotonic() - began) * self.speed)
        self._now += seconds


class RealClock(ScaledClock):
    def __init__(self, start: float = 0.0) -> None:
        super().__init__(1.0, start)


class ManualClock:
    """Time moves only through `advance` or `sleep`; `sleep` returns at once."""

    speed = 1.0

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def jump(self, to: float) -> None:
        self._now = to

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)


def wall_now() -> datetime:
    return datetime.now(UTC)
