"""The idle lock: after a while without a keypress, the dangerous controls go away.

The guard keeps evaluating and still rolls back meanwhile; only this console's keys are
locked until the operator presses a key and confirms.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.events import Key

IDLE_CHECK = 5.0  # seconds between checks


class IdleLock:
    def __init__(self, after: float = 900.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.after = after
        self.clock = clock
        self.last = clock()
        self.locked = False

    def touch(self) -> None:
        self.last = self.clock()

    def check(self) -> bool:
        """Lock when idle for `after` seconds (0 turns the lock off); True when it just locked."""
        if self.locked or self.after <= 0 or self.clock() - self.last < self.after:
            return False
        self.locked = True
        return True

    def unlock(self) -> None:
        self.locked = False
        self.touch()


class IdleLocking:
    """For the main screen: lock on idle, and unlock on a key press with a confirmation."""

    def _check_idle(self) -> None:
        from console.plan import format_duration
        from widgets.banner import Banner

        if not self.readonly and self.idle.check():
            self.query_one("#driver", Banner).show(
                f"CONTROLS LOCKED after {format_duration(self.idle.after)} idle — press a key to unlock; "
                "the guard keeps evaluating and still rolls back",
                "warning",
            )
            self._allowed = None
            self.repaint()

    async def on_key(self, event: Key) -> None:
        from widgets.banner import Banner
        from widgets.confirm import ConfirmModal

        if not self.idle.locked:
            self.idle.touch()
            self.refused_key(event)
            return
        event.stop()
        event.prevent_default()
        if self.app.screen is not self:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.idle.unlock()
                self.query_one("#driver", Banner).hide()
                self._allowed = None
                self.repaint()

        body = "Promote, roll back and waive come back."
        self.app.push_screen(ConfirmModal("Unlock controls?", body, "Unlock"), done)
