"""The replay screen: the main screen, read-only, showing a recorded session at the playback clock's time.

Moving forward feeds the next events to the screen, as live; moving back (or far) clears the
screen and feeds it what it needs from the start (`Timeline.rebuild`), with the recorded states.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from console import view
from console.plan import Plan
from console.replay import Loaded, ReplaySession, Timeline
from console.screen import MainScreen, SessionEvent
from widgets.banner import Banner
from widgets.command import CommandLine
from widgets.eventlog import EventLog
from widgets.replaybar import ReplayBar, ReplayInfo

TICK = 0.25  # seconds between frames while playing
FAR = 2 * view.HISTORY  # a jump forward past this many events is a rebuild
FOLD_CHUNK = 256  # events folded at a time in the background (the screen may fold in between)


class ReplayScreen(MainScreen):
    BINDINGS = [
        Binding("p", "pause", "Play/pause", id="replay.play"),
        Binding("left_square_bracket", "step(-1)", "Back", id="replay.back"),
        Binding("right_square_bracket", "step(1)", "Forward", id="replay.forward"),
        Binding("less_than_sign", "speed(0.5)", "Slower", id="replay.slower"),
        Binding("greater_than_sign", "speed(2)", "Faster", id="replay.faster"),
    ]

    def __init__(self, session: ReplaySession, plan: Plan, *, readonly: bool = True, speed: float | None = None, **_):
        super().__init__(session, plan, readonly=True, speed=session.playback.speed, idle_lock=0)
        self.session: ReplaySession = session
        self.timeline: Timeline | None = None
        self.shown = 0  # how many events of the timeline the screen has been fed

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, Footer):
                yield ReplayBar(id="replaybar")
            yield widget

    def on_mount(self) -> None:
        super().on_mount()
        self._timer = self.set_interval(TICK, self._tick, pause=True)
        self.call_after_refresh(self._load)  # after the first frame: reading and folding compete for the GIL

    @work(thread=True, exclusive=True, exit_on_error=False, group="replay-load")
    def _load(self) -> Loaded:
        return self.session.load()

    @on(Worker.StateChanged)
    def _worker_done(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.exit(return_code=2, message=f"canary-console: error: {event.worker.error}")
        elif event.state == WorkerState.SUCCESS and event.worker.group == "replay-load":
            self.open(event.worker.result)

    def open(self, loaded: Loaded) -> None:
        """Show the loaded session from its start."""
        self.timeline = t = loaded.timeline
        self.wall_start = loaded.wall_start
        self.session.playback.span(t.start, t.end)
        if loaded.note:
            self.notify(loaded.note, severity="warning")
        self.rebuild(t.count(t.start))
        self.repaint()
        self.refresh_bindings()  # the replay keys are allowed now
        self.show_playback()
        if self.session.playback.playing:
            self._timer.resume()
        self._fold_rest()

    @work(thread=True, exclusive=True, exit_on_error=False, group="replay-fold")
    def _fold_rest(self) -> None:
        """Fold the rest of the log in chunks, so that seeking later is a lookup."""
        t = self.timeline
        for n in range(FOLD_CHUNK, len(t.events) + FOLD_CHUNK, FOLD_CHUNK):
            t.fold(n)

    # -- moving in time ------------------------------------------------------------------------

    def rebuild(self, n: int) -> None:
        """Clear the screen and feed it the first `n` events' view."""
        t = self.timeline
        self.history = view.History()
        self.query_one(EventLog).clear_log()
        self.query_one(Banner).hide()
        for i in t.rebuild(n):
            self._on_session_event(SessionEvent(t.events[i], t.states[i]))
        self.state, self.shown = t.state(n), n

    def show_at(self, at: float) -> None:
        """Show the session as it was at `at` (session seconds)."""
        if self.timeline is None:
            return
        n = self.timeline.count(at)
        if n < self.shown or n - self.shown > FAR:
            self.rebuild(n)
        else:
            self.timeline.fold(n)
            for i in range(self.shown, n):
                self._on_session_event(SessionEvent(self.timeline.events[i], self.timeline.states[i]))
            self.state, self.shown = self.timeline.state(n), n
        if self.app.screen is self:  # no repaint under a modal
            self.repaint()
        self.show_playback()

    def seek(self, at: float) -> None:
        self.session.playback.seek(at)
        self.show_at(self.session.now())

    def goto(self, raw: str) -> None:
        if self.timeline is not None:
            self.seek(self.timeline.target(raw))

    def _tick(self) -> None:
        playback = self.session.playback
        if playback.at_end:
            playback.pause()
            self._timer.pause()
        self.show_at(playback.position())

    def show_playback(self) -> None:
        p = self.session.playback
        self.query_one(ReplayBar).show(ReplayInfo(p.position(), p.start, p.end, p.speed, p.playing))

    # -- keys ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("step", "speed", "pause") and self.timeline is None:
            return None
        return super().check_action(action, parameters)

    def action_pause(self) -> None:
        playback = self.session.playback
        playback.toggle()
        if playback.playing:
            self._timer.resume()
        else:
            self._timer.pause()
        self.show_at(playback.position())

    def action_step(self, direction: int) -> None:
        playback = self.session.playback
        playback.pause()
        self._timer.pause()
        self.seek(self.timeline.step(playback.position(), direction))

    def action_speed(self, factor: float) -> None:
        playback = self.session.playback
        playback.scale(factor)
        self.speed = playback.speed
        self.show_at(playback.position())

    def action_quit(self) -> None:
        self.app.exit()

    @on(CommandLine.Submitted)
    def _goto(self, message: CommandLine.Submitted) -> None:
        if message.command.verb != "goto":
            return
        message.prevent_default()  # the main screen's handler would say "only in replay"
        self._close_command()
        self.goto(message.command.args["target"])
