"""The Textual app: composes the main screen around a session and routes its exit code."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tomllib
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from textual.app import App

from console.guard import on_hangup
from console.palette import SessionCommands
from console.plan import Plan, load_plan
from console.screen import MainScreen

log = logging.getLogger(__name__)

OUTCOME_CODES = {"succeeded": 0, "rolled_back": 1, "aborted": 1}


class CanaryApp(App[int]):
    TITLE = "canary-console"
    COMMANDS = App.COMMANDS | {SessionCommands}
    CSS_PATH = str(resources.files("styles").joinpath("console.tcss"))
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(
        self,
        session: Any,
        plan: Plan,
        *,
        readonly: bool = False,
        speed: float | None = None,
        screen: type[MainScreen] = MainScreen,
        idle_lock: float = 900.0,
    ) -> None:
        super().__init__()
        self.session = session
        self.plan = plan
        self.readonly = readonly
        self.speed = speed
        self.main = screen(session, plan, readonly=readonly, speed=speed, idle_lock=idle_lock)
        self.on_hangup: Callable[[], None] | None = None  # set by run_app: the terminal went away

    def on_mount(self) -> None:
        if self.on_hangup is not None:
            on_hangup(self.on_hangup, asyncio.get_running_loop())
        keymap = load_keymap()
        if keymap:
            self.set_keymap(keymap)
        self.push_screen(self.main)

    def outcome_code(self) -> int:
        return OUTCOME_CODES.get(self.main.state.outcome or "", 0)


def keymap_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("canary-console") / "keymap.toml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """Remapped keys by binding id, from `[keys]` in keymap.toml (e.g. promote = "ctrl+y").

    A bad file is reported once and ignored: the default keys always work.
    """
    path = path or keymap_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring keymap %s: %s", path, exc)
        return {}
    keys = data.get("keys", {})
    return {str(k): str(v) for k, v in keys.items() if isinstance(v, str)} if isinstance(keys, dict) else {}


def run_app(args: argparse.Namespace, prepare: Callable[[], Awaitable[Any]]) -> int:
    from console.live import LiveSession

    plan = load_plan(args.plan)
    session = LiveSession(
        prepare,
        db=args.db,
        auto_promote=args.auto_promote,
        new=args.new,
        session_id=args.resume_id,
        take_over=args.take_over,
    )
    speed = getattr(args, "speed", None)
    idle = getattr(args, "idle_lock", 15.0) * 60
    app = CanaryApp(session, plan, readonly=getattr(args, "readonly", False), speed=speed, idle_lock=idle)
    hung_up = []

    def hangup() -> None:  # in the main thread, between two steps of the app's event loop
        hung_up.append(True)
        app.exit()

    app.on_hangup = hangup
    code = app.run(mouse=False)
    if hung_up:
        session.wait()  # no terminal: the runner guards the session to its end, headless
        outcome = session.runner.state.outcome if session.runner else None
        return OUTCOME_CODES.get(outcome or "", 1)
    session.stop()
    if app.return_code:
        return app.return_code
    return code if code is not None else app.outcome_code()
