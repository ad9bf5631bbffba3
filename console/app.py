"""The Textual app: composes the main screen around a session and routes its exit code."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from textual.app import App

from console.plan import Plan, load_plan
from console.screen import MainScreen

OUTCOME_CODES = {"succeeded": 0, "rolled_back": 1, "aborted": 1}


class CanaryApp(App[int]):
    TITLE = "canary-console"
    CSS_PATH = str(resources.files("styles").joinpath("console.tcss"))
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self, session: Any, plan: Plan, *, readonly: bool = False, speed: float | None = None) -> None:
        super().__init__()
        self.session = session
        self.plan = plan
        self.readonly = readonly
        self.speed = speed

        self.main = MainScreen(session, plan, readonly=readonly, speed=speed)

    def on_mount(self) -> None:
        self.push_screen(self.main)

    def outcome_code(self) -> int:
        return OUTCOME_CODES.get(self.main.state.outcome or "", 0)


def run_app(args: argparse.Namespace, prepare: Callable[[], Awaitable[Any]]) -> int:
    from console.live import LiveSession

    plan = load_plan(args.plan)
    session = LiveSession(prepare, db=args.db, auto_promote=args.auto_promote)
    speed = getattr(args, "speed", None)
    app = CanaryApp(session, plan, readonly=getattr(args, "readonly", False), speed=speed)
    code = app.run(mouse=False)
    session.stop()
    if app.return_code:
        return app.return_code
    return code if code is not None else app.outcome_code()
