"""The main screen: checklist, SLOs, stage ladder, advisory, event log and the rollback button.

It is a view of the session's events. Keypresses become intents sent to the session's
runner; nothing here calls the conductor, the ops API or the store.
"""

from __future__ import annotations

import time
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer

from console import events as ev
from console import view
from console.actions import OperatorActions
from console.engine import FINAL, State, initial
from console.headless import clock_text, line
from console.idle import IDLE_CHECK, IdleLock, IdleLocking
from console.plan import Plan
from widgets.advisory import AdvisoryPanel
from widgets.banner import Banner
from widgets.checklist import ChecklistTable
from widgets.command import CommandLine
from widgets.confirm import ConfirmModal
from widgets.contacts import ContactsPanel
from widgets.eventlog import EventLog
from widgets.header import HeaderInfo, SessionHeader
from widgets.ladder import StageLadder
from widgets.slo import SloTable

PANES = ("#checklist", "#slos", "#stages", "#events")


class SessionEvent(Message):
    """One logged event and the state after it, from the runner's thread."""

    def __init__(self, event: ev.Event, state: State) -> None:
        super().__init__()
        self.event = event
        self.state = state


class SessionFailed(Message):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class StoreTrouble(Message):
    """The runner cannot record (store locked, disk full): it acts on nothing until it can."""

    def __init__(self, message: str | None) -> None:
        super().__init__()
        self.message = message


class MainScreen(OperatorActions, IdleLocking, Screen):
    BINDINGS = [
        Binding("P", "promote", "Promote", id="promote"),
        Binding("R", "rollback", "Roll back", id="rollback", priority=True),
        Binding("w", "waive", "Waive", id="waive", show=False),
        Binding("colon", "command", "Command", id="command"),
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("tab", "next_pane", "Next pane", show=False),
        Binding("1", "pane(0)", "Checklist", show=False),
        Binding("2", "pane(1)", "SLOs", show=False),
        Binding("3", "pane(2)", "Stages", show=False),
        Binding("4", "pane(3)", "Events", show=False),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(
        self, session: Any, plan: Plan, *, readonly: bool = False, speed: float | None = None, idle_lock: float = 900.0
    ) -> None:
        super().__init__()
        self.session = session
        self.readonly = readonly
        self.speed = speed
        self.state = initial(plan)
        self.history = view.History()
        self.paused = False
        self._dirty = False
        self._pane = 1
        self._allowed: tuple[bool, bool] | None = None
        self.idle = IdleLock(idle_lock)
        self.wall_start = time.time() - session.now()

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        yield Banner(id="banner")
        yield Banner(id="driver")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield ChecklistTable(id="checklist")
                yield AdvisoryPanel(id="advisory")
                yield ContactsPanel(id="contacts")
            with Vertical(id="right"):
                yield SloTable(id="slos")
                with Horizontal(id="stages"):
                    yield StageLadder(id="ladder")
                    yield Button("R ROLL BACK", id="rollback", variant="error")
                yield EventLog(id="events")
        yield CommandLine(id="command")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#command").display = False
        self.query_one("#checklist").border_title = "1 Checklist"
        self.query_one("#slos").border_title = "2 SLOs"
        self.query_one("#stages").border_title = "3 Stages"
        self.query_one("#advisory").border_title = "Advisory"
        self.query_one("#events").border_title = "4 Events"
        self.query_one("#rollback").display = not self.readonly
        self.repaint()
        self.query_one("#slos").focus()
        # after the first frame: the runner thread's imports (sqlmodel, httpx) must not delay it
        self.call_after_refresh(self._start_session)
        self.set_interval(IDLE_CHECK, self._check_idle)
        if hasattr(self.session, "banner"):  # attached to a session another process drives
            self.set_interval(2.0, self._driver_banner)

    def _driver_banner(self) -> None:
        text = self.session.banner
        banner = self.query_one("#driver", Banner)
        if text:
            banner.show(text, "warning")
        else:
            banner.hide()

    def _start_session(self) -> None:
        if hasattr(self.session, "on_trouble"):
            self.session.on_trouble = lambda message: self.post_message(StoreTrouble(message))
        self.session.start(self._from_runner, lambda _s: None, lambda exc: self.post_message(SessionFailed(exc)))

    # -- events from the runner ---------------------------------------------------------------

    def _from_runner(self, event: ev.Event, state: State) -> None:
        """Called in the runner's thread: hand over to the UI thread without waiting."""
        self.post_message(SessionEvent(event, state))

    @on(SessionEvent)
    def _on_session_event(self, message: SessionEvent) -> None:
        e, self.state = message.event, message.state
        self.history.add(e)
        text = line(e, self.state)
        if text is not None:
            alert = e.kind in ("rollback_failed", "paused", "promote_failed", "notification_failed")
            level = "decision" if "decided" in e.kind else "alert" if alert else "info"
            self.query_one(EventLog).add(text, level)
        if isinstance(e, ev.RollbackDecided):
            self.query_one("#banner", Banner).show(f"ROLLING BACK ({e.reason}, by {e.by}): {e.detail}", "error")
        elif isinstance(e, ev.Finished):
            level = "success" if e.outcome == "succeeded" else "error"
            self.query_one("#banner", Banner).show(f"{e.outcome.replace('_', ' ').upper()}: {e.detail}", level)
        elif isinstance(e, ev.Paused):
            self.query_one("#banner", Banner).show(f"PAUSED: {e.reason}", "warning")
        elif isinstance(e, ev.Resumed):
            self.query_one("#banner", Banner).hide()
        if not self._dirty:
            self._dirty = True
            self.set_timer(0.1, self._repaint_later)

    @on(StoreTrouble)
    def _on_store_trouble(self, message: StoreTrouble) -> None:
        banner = self.query_one("#driver", Banner)
        if message.message:
            banner.show(message.message, "error")
        else:
            banner.hide()

    @on(SessionFailed)
    def _on_failed(self, message: SessionFailed) -> None:
        self.app.exit(return_code=2, message=f"canary-console: error: {message.error}")

    def _repaint_later(self) -> None:
        self._dirty = False
        if not self.paused and self.app.screen is self:  # no repaint under a modal
            self.repaint()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.repaint()

    def repaint(self) -> None:
        s, now = self.state, self.session.now()
        controls = view.controls(s, self.readonly)
        stable, canary = self.history.versions
        self.query_one(SessionHeader).show(
            HeaderInfo(
                service=s.plan.deployment,
                stable=stable,
                canary=canary,
                weight=s.weight,
                phase=s.phase.replace("_", " "),
                operator=s.operator,
                session=s.session,
                clock=clock_text(now),
                speed=self.speed,
                readonly=self.readonly,
            )
        )
        self.query_one(ChecklistTable).set_rows(view.checklist_rows(s))
        self.query_one(SloTable).set_rows(view.slo_rows(s, self.history, now))
        self.query_one(StageLadder).show(
            [st.weight for st in s.plan.stages],
            s.weight,
            s.pending,
            s.phase.replace("_", " "),
            view.progress(s),
            controls.blockers,
            controls.can_promote,
            fraction=view.fraction(s),
        )
        self.query_one(AdvisoryPanel).show(view.advisory_rows(s, self.history))
        self.query_one(ContactsPanel).show(view.contacts_rows(s))
        button = self.query_one("#rollback", Button)
        button.disabled = not controls.can_rollback
        button.tooltip = controls.rollback_reason or None
        allowed = (controls.can_promote, controls.can_rollback)
        if allowed != self._allowed:  # the footer recomposes on every refresh_bindings: only when it changed
            self._allowed = allowed
            self.refresh_bindings()

    # -- what the operator may do -----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("promote", "rollback", "waive"):
            if self.readonly or self.idle.locked:
                return False
            c = view.controls(self.state, self.readonly)
            allowed = c.can_promote if action == "promote" else c.can_rollback if action == "rollback" else True
            return True if allowed else None
        return True

    @on(Button.Pressed, "#rollback")
    def _rollback_button(self) -> None:
        if self.check_action("rollback", ()):
            self.action_rollback()

    @on(SloTable.Chosen)
    def _chart(self, message: SloTable.Chosen) -> None:
        from widgets.chart import ChartModal

        c = view.chart(self.state, self.history, message.series, self.wall_start)
        self.app.push_screen(ChartModal(**c))

    @on(ChecklistTable.Tick)
    def _tick(self, message: ChecklistTable.Tick) -> None:
        self.attest(message.item_id)

    @on(ChecklistTable.Waive)
    def _waive(self, message: ChecklistTable.Waive) -> None:
        self.waive(message.item_id)

    # -- command mode ----------------------------------------------------------------------------

    def action_command(self) -> None:
        cmd = self.query_one(CommandLine)
        cmd.display = True
        cmd.value = ""
        cmd.focus()

    def _close_command(self) -> None:
        cmd = self.query_one(CommandLine)
        cmd.display = False
        self.query_one(PANES[self._pane]).focus()

    @on(CommandLine.Cancelled)
    def _command_cancelled(self) -> None:
        self._close_command()

    @on(CommandLine.Failed)
    def _command_failed(self, message: CommandLine.Failed) -> None:
        self.notify(message.error, severity="error")

    @on(CommandLine.Submitted)
    def _command(self, message: CommandLine.Submitted) -> None:
        from console.commandmode import run_command

        self._close_command()
        run_command(self, message.command.verb, message.command.args)

    # -- panes, help, pause, quit ----------------------------------------------------------------

    def action_pane(self, index: int) -> None:
        self._pane = index
        self.set_class(True, f"-pane-{index}")
        for n in range(len(PANES)):
            if n != index:
                self.set_class(False, f"-pane-{n}")
        self.query_one(PANES[index]).focus()

    def action_next_pane(self) -> None:
        self.action_pane((self._pane + 1) % len(PANES))

    def action_help(self) -> None:
        if self.app.query("HelpPanel"):
            self.app.action_hide_help_panel()
        else:
            self.app.action_show_help_panel()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.notify("redraw paused (p resumes); the guard keeps running" if self.paused else "redraw resumed")
        if not self.paused:
            self.repaint()

    def action_quit(self) -> None:
        flight = self.session.in_flight
        live = self.state.phase not in FINAL and self.state.weight > 0
        if not flight and not live:
            self.app.exit()
            return
        body = f"{flight} is in flight." if flight else f"The rollout is live at {self.state.weight}%."
        body += " The session stays open in the store; quitting stops this console's guard."

        def done(yes: bool | None) -> None:
            if yes:
                self.app.exit()

        self.app.push_screen(ConfirmModal("Quit canary-console?", body, "Quit", danger=True), done)
