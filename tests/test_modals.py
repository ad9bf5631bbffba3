"""The modal dialogs (confirm, rollback, note, chart) and the command line parser."""

from __future__ import annotations

import html
import math
import re
import subprocess
import sys

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Button, Input, OptionList, Static

from widgets.chart import ChartModal, render_chart
from widgets.command import Command, CommandError, CommandLine, parse_command
from widgets.confirm import ConfirmModal
from widgets.note import NoteModal
from widgets.rollback import ROLLBACK_REASONS, RollbackModal

_MISSING = object()


class Harness(App[None]):
    """A placeholder main screen; `open()` pushes a modal and records what it dismisses with."""

    def __init__(self, modal: Screen | None = None) -> None:
        super().__init__()
        self.modal = modal
        self.result: object = _MISSING

    def compose(self) -> ComposeResult:
        yield Static("main screen placeholder")

    def on_mount(self) -> None:
        if self.modal is not None:
            self.push_screen(self.modal, self._record)

    def _record(self, result: object) -> None:
        self.result = result


def _chart_modal() -> ChartModal:
    times = [i * 10.0 for i in range(120)]
    values: list[float | None] = [
        None if 20 < i < 26 else 4 + (8 if 40 < i < 80 else 0) + math.sin(i / 5) for i in range(120)
    ]
    return ChartModal(
        "p95_latency · canary P95 latency",
        times,
        values,
        10.0,
        [(410.0, 800.0)],
        "s",
        link="https://grafana.example/d/canary",
        link_text="open in Grafana",
    )


def _screen_text(app: App) -> str:
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))).replace("\xa0", " ")


async def _run(modal: Screen, *keys: str) -> object:
    app = Harness(modal)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
    return app.result


# --- ConfirmModal ---------------------------------------------------------------------------------


async def test_confirm_opens_on_cancel() -> None:
    app = Harness(ConfirmModal("Promote", "Promote 25% → 50%?", "Promote"))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Button)
        assert app.focused.id == "cancel"
        await pilot.press("enter")
        await pilot.pause()
    assert app.result is False


@pytest.mark.parametrize(("keys", "expected"), [(("y",), True), (("n",), False), (("escape",), False)])
async def test_confirm_keys(keys: tuple[str, ...], expected: bool) -> None:
    assert (
        await _run(ConfirmModal("Quit", "Quit while an action is in flight?", "Quit", danger=True), *keys) is expected
    )


async def test_confirm_enter_on_confirm_button() -> None:
    assert await _run(ConfirmModal("Promote", "Promote 25% → 50%?"), "tab", "enter") is True


# --- RollbackModal --------------------------------------------------------------------------------


async def test_rollback_y_defaults_to_manual() -> None:
    app = Harness(RollbackModal(25, "publisher-api"))
    async with app.run_test() as pilot:
        await pilot.pause()
        reasons = app.screen.query_one("#reasons", OptionList)
        assert app.focused is reasons
        assert reasons.highlighted == 0
        await pilot.press("down")
        assert "Reason: SLO_VIOLATION" in _screen_text(app)
        await pilot.press("up")
        await pilot.press("y")
        await pilot.pause()
    assert app.result == ("MANUAL", "")


async def test_rollback_pick_reason() -> None:
    assert await _run(RollbackModal(25, "publisher-api"), "down", "y") == ("SLO_VIOLATION", "")
    assert await _run(RollbackModal(25, "publisher-api"), "j", "j", "k", "y") == ("SLO_VIOLATION", "")


async def test_rollback_y_in_detail_types() -> None:
    app = Harness(RollbackModal(50, "publisher-api"))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # enter on a reason moves to the detail
        await pilot.pause()
        detail = app.screen.query_one("#detail", Input)
        assert app.focused is detail
        await pilot.press("y", "e", "s", "n", "o", "space", "q")
        await pilot.pause()
        assert app.result is _MISSING
        assert detail.value == "yesno q"
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == ("ERROR_SPIKE", "yesno q")


@pytest.mark.parametrize("keys", [("escape",), ("n",), ("tab", "escape"), ("tab", "tab", "tab", "escape")])
async def test_rollback_cancel(keys: tuple[str, ...]) -> None:
    assert await _run(RollbackModal(25, "publisher-api"), *keys) is None


async def test_rollback_cancel_button_and_roll_back_button() -> None:
    assert await _run(RollbackModal(25, "publisher-api"), "tab", "tab", "enter") is None
    assert await _run(RollbackModal(25, "publisher-api"), "tab", "tab", "tab", "enter") == ("MANUAL", "")


async def test_rollback_detail_is_cleaned() -> None:
    app = Harness(RollbackModal(25, "publisher-api"))
    async with app.run_test() as pilot:
        await pilot.pause()
        app.screen.query_one("#detail", Input).value = "p95\nat 12s\x1b[31m\r"
        await pilot.press("y")
        await pilot.pause()
    assert app.result == ("MANUAL", "p95 at 12s[31m")


async def test_rollback_prefilled() -> None:
    modal = RollbackModal(75, "publisher-api", reason="SECURITY", detail="leaked\x07 key")
    assert await _run(modal, "y") == ("SECURITY", "leaked key")


# --- NoteModal ------------------------------------------------------------------------------------


async def test_note_required_shows_error_until_given() -> None:
    app = Harness(NoteModal("Waive ops-backup", "Why is this waived?", required=True))
    async with app.run_test() as pilot:
        await pilot.pause()
        error = app.screen.query_one("#error")
        assert not error.display
        await pilot.press("space", "enter")
        await pilot.pause()
        assert app.result is _MISSING
        assert error.display
        assert "a reason is required" in _screen_text(app)
        await pilot.press("o", "k", "enter")
        await pilot.pause()
    assert app.result == "ok"


async def test_note_optional_and_escape() -> None:
    assert await _run(NoteModal("Attest", "Note (optional)"), "enter") == ""
    assert await _run(NoteModal("Attest", "Note (optional)"), "h", "i", "enter") == "hi"
    assert await _run(NoteModal("Waive", "Why?", required=True), "h", "escape") is None


async def test_note_is_cleaned_and_capped() -> None:
    app = Harness(NoteModal("Attest", "Note"))
    async with app.run_test() as pilot:
        await pilot.pause()
        note = app.screen.query_one("#note", Input)
        note.value = "a\x1bb\n" + "x" * 600
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == "ab " + "x" * 497


# --- ChartModal -----------------------------------------------------------------------------------


async def test_chart_renders_title_threshold_and_breach() -> None:
    app = Harness(_chart_modal())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chart = app.screen.query_one("#chart", Static)
        plot = str(chart.content)
        assert "┈" in plot  # the threshold line
        assert "✗" in plot  # breach points
        assert "19.8" in plot  # x runs in minutes: 1190 s
        text = _screen_text(app)
        assert "p95_latency · canary P95 latency" in text
        assert "threshold 10 s" in text
        assert "open in Grafana" in text
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert str(chart.content) != plot
        await pilot.press("q")
        await pilot.pause()
    assert app.result is None


async def test_chart_without_data() -> None:
    app = Harness(ChartModal("error_rate", [0.0, 10.0], [None, None], 0.01, [], "ratio"))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert str(app.screen.query_one("#chart", Static).content) == "◌ no data"


def test_render_chart_colour_codes_only_when_coloured() -> None:
    times, values = [0.0, 60.0, 120.0, 180.0], [1.0, None, 3.0, 12.0]
    plain = render_chart(times, values, 10.0, [(170.0, 200.0)], 40, 10, colorless=True)
    assert "\x1b" not in plain
    assert len(plain.splitlines()) == 10
    assert "\x1b[" in render_chart(times, values, 10.0, [(170.0, 200.0)], 40, 10)


def test_render_chart_leaves_gaps_for_missing_values() -> None:
    times = [i * 60.0 for i in range(20)]
    solid = render_chart(times, [5.0] * 20, None, [], 50, 8, colorless=True)
    gapped = render_chart(times, [5.0] * 5 + [None] * 10 + [5.0] * 5, None, [], 50, 8, colorless=True)
    assert "▄" * 40 in solid
    assert "▄" * 12 not in gapped
    assert "▄" * 8 in gapped


def test_chart_module_does_not_import_plotext() -> None:
    code = "import sys, widgets.chart; assert 'plotext' not in sys.modules, 'plotext imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_confirm(snap_compare, size: tuple[int, int]) -> None:
    modal = ConfirmModal("Promote publisher-api", "Promote 25% → 50%?\nBake 15 min at 50%.", "Promote")
    assert snap_compare(Harness(modal), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_rollback(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(Harness(RollbackModal(25, "publisher-api")), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_chart(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(Harness(_chart_modal()), terminal_size=size)


# --- parse_command --------------------------------------------------------------------------------

TRY = "(try: promote, rollback, attest, waive, quit, help)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("promote 50", Command("promote", {"weight": 50})),
        ("  PROMOTE 75% ", Command("promote", {"weight": 75})),
        (":promote 100", Command("promote", {"weight": 100})),
        ("promote", Command("promote", {"weight": None})),
        ("rollback", Command("rollback", {"reason": None, "detail": ""})),
        ("rollback SLO_VIOLATION", Command("rollback", {"reason": "SLO_VIOLATION", "detail": ""})),
        (
            "rollback slo_violation p95 over 10s\x1b[0m for\n6m",
            Command("rollback", {"reason": "SLO_VIOLATION", "detail": "p95 over 10s[0m for 6m"}),
        ),
        ("attest ops-backup", Command("attest", {"item": "ops-backup", "note": ""})),
        (
            "attest ops-backup checked the restore log",
            Command("attest", {"item": "ops-backup", "note": "checked the restore log"}),
        ),
        (
            "waive load-test  staging cluster down",
            Command("waive", {"item": "load-test", "reason": "staging cluster down"}),
        ),
        ("goto 50%", Command("goto", {"target": "50%"})),
        ("goto +1h12m", Command("goto", {"target": "+1h12m"})),
        ("quit", Command("quit", {})),
        ("q", Command("quit", {})),
        ("help", Command("help", {})),
    ],
)
def test_parse_command(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("promote abc", "promote: weight must be a whole number from 1 to 100, not 'abc'"),
        ("promote -5", "promote: weight must be a whole number from 1 to 100, not '-5'"),
        ("promote 101", "promote: weight must be a whole number from 1 to 100, not '101'"),
        ("promote 12.5", "promote: weight must be a whole number from 1 to 100, not '12.5'"),
        ("promote 0", "promote: weight must be a whole number from 1 to 100, not '0'"),
        ("promote 50 75", "promote: expected one weight, got '50 75'"),
        ("x", f"unknown command 'x' {TRY}"),
        ("", f"empty command {TRY}"),
        ("waive x", "waive: a reason is required (waive <item> <reason>)"),
        ("waive", "waive: which item? (waive <item> <reason>)"),
        ("attest", "attest: which item? (attest <item> [note])"),
        (
            "rollback oops",
            "rollback: reason must be one of MANUAL, SLO_VIOLATION, ERROR_SPIKE, CUSTOMER_IMPACT, "
            "DEPENDENCY_FAILURE, SECURITY, not 'oops'",
        ),
        ("rollback MANUAL " + "d" * 201, "rollback: detail must be at most 200 characters, not 201"),
        ("attest a " + "n" * 501, "attest: note must be at most 500 characters, not 501"),
        ("goto soon", "goto: target must be a point like 50% or a time like +1h12m, not 'soon'"),
        ("goto 150%", "goto: target must be a point like 50% or a time like +1h12m, not '150%'"),
        ("goto", "goto: target must be a point like 50% or a time like +1h12m, not ''"),
        ("quit now", "quit: takes no arguments, got 'now'"),
    ],
)
def test_parse_command_errors(text: str, message: str) -> None:
    assert parse_command(text) == CommandError(message)


def test_rollback_reasons_all_parse() -> None:
    for reason in ROLLBACK_REASONS:
        assert parse_command(f"rollback {reason.lower()}") == Command("rollback", {"reason": reason, "detail": ""})


# --- CommandLine ----------------------------------------------------------------------------------


class CommandHarness(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        yield CommandLine(id="command")

    def on_command_line_submitted(self, event: CommandLine.Submitted) -> None:
        self.messages.append(event.command)

    def on_command_line_failed(self, event: CommandLine.Failed) -> None:
        self.messages.append(event.error)

    def on_command_line_cancelled(self, event: CommandLine.Cancelled) -> None:
        self.messages.append("cancelled")


async def test_command_line_messages() -> None:
    app = CommandHarness()
    async with app.run_test() as pilot:
        line = app.query_one(CommandLine)
        line.focus()
        await pilot.press(*"promote 5x", "enter")
        await pilot.pause()
        assert app.messages == ["promote: weight must be a whole number from 1 to 100, not '5x'"]
        assert line.value == "promote 5x"  # kept for editing
        await pilot.press("backspace", "0", "enter")
        await pilot.pause()
        assert app.messages[-1] == Command("promote", {"weight": 50})
        assert line.value == ""
        await pilot.press("enter")
        await pilot.press("h", "escape")
        await pilot.pause()
        assert app.messages[-2:] == ["cancelled", "cancelled"]
        assert line.value == ""
