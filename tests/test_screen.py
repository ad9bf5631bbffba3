"""The main screen: keyboard flows with Pilot, and snapshots of every screen and modal."""

from __future__ import annotations

import pytest
from textual.widgets import Input
from tui_support import live_app, record, recorded_app

from console import events as ev
from console.screen import MainScreen
from widgets.chart import ChartModal
from widgets.confirm import ConfirmModal
from widgets.note import NoteModal
from widgets.rollback import RollbackModal

SIZES = [(80, 24), (120, 40)]

PREFLIGHT = record(until=-1, attest=False, auto=False)  # checks done, nothing attested
BAKING = record(until=20 * 60)  # 10% with 10 minutes of the 30-minute bake left
BREACHING = record("error-spike", until=2700 + 120 + 130)  # 50%: error_rate breaching 2m10s of 5m
ROLLED_BACK = record("latency-regression", until=3 * 3600)
READY = record(until=10, auto=False)  # pre-flight done, nothing promoted yet: P is allowed


def main(app) -> MainScreen:
    return app.main


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.pause()


# -- flows -------------------------------------------------------------------------------------


async def test_promotion_is_refused_during_a_bake():
    app = recorded_app(BAKING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.state.phase == "baking"
        assert screen.check_action("promote", ()) is None  # greyed, with the reason on the ladder
        await pilot.press("P")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmModal)
        assert app.session.submitted == []
        ladder = str(screen.query_one("#ladder").render())
        assert "bake" in ladder and "left" in ladder


async def test_typed_promote_during_a_bake_is_sent_to_the_conductor_to_be_refused_and_audited():
    app = recorded_app(BAKING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.press(*"promote 25", "enter")
        await settle(pilot)
        (intent,) = app.session.submitted
        assert isinstance(intent, ev.PromoteRequested) and intent.weight == 25


@pytest.mark.parametrize("text", ["promote abc", "promote -5", "promote 101", "promote 12.5"])
async def test_bad_typed_commands_show_an_inline_error_and_send_nothing(text):
    app = recorded_app(BAKING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.press(*text, "enter")
        await settle(pilot)
        assert app.session.submitted == []
        assert any("promote" in n.message for n in app._notifications)


async def test_manual_rollback_with_R_and_y_sends_one_intent():
    app = recorded_app(BAKING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, RollbackModal)
        await pilot.press("y")
        await settle(pilot)
        (intent,) = app.session.submitted
        assert isinstance(intent, ev.RollbackRequested)
        assert (intent.reason, intent.operator) == ("MANUAL", "ana@bastion-1")


async def test_escape_never_rolls_back():
    app = recorded_app(BAKING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("R", "escape")
        await settle(pilot)
        assert app.session.submitted == []
        assert isinstance(app.screen, MainScreen)


async def test_a_viewer_sees_promote_and_rollback_disabled_with_the_reason():
    app = recorded_app(record(until=30 * 60 + 20, roles=("viewer",)))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.check_action("promote", ()) is None
        assert screen.check_action("rollback", ()) is None
        await pilot.press("R")
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # no modal: nothing to confirm
        # the presses go to the conductor only to be refused there and audited
        assert [type(e) for e in app.session.submitted] == [ev.RollbackRequested, ev.PromoteRequested]
        assert "admin" in str(screen.query_one("#ladder").render())
        assert screen.query_one("#rollback").disabled


async def test_readonly_binds_no_dangerous_action():
    app = recorded_app(BAKING, readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.check_action("promote", ()) is False
        assert screen.check_action("rollback", ()) is False
        assert not screen.query_one("#rollback").display
        await pilot.press("R", "y", "P", "y")
        await settle(pilot)
        assert app.session.submitted == []


async def test_attest_with_space_and_waive_with_w():
    app = recorded_app(PREFLIGHT)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1")
        table = main(app).query_one("#checklist")
        target = next(i for i in app.plan.items if i.handling == "manual" and i.phase == "preflight")
        table.move_cursor(row=table.get_row_index(target.id))
        await pilot.press("space")
        await settle(pilot)
        assert isinstance(app.screen, NoteModal)
        await pilot.press(*"ticket OPS-12", "enter")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, NoteModal)
        await pilot.press("enter")  # a waiver needs a reason
        await settle(pilot)
        assert isinstance(app.screen, NoteModal)
        await pilot.press(*"not applicable", "enter")
        await settle(pilot)
        attested, waived = app.session.submitted
        assert isinstance(attested, ev.ItemAttested) and (attested.item, attested.note) == (target.id, "ticket OPS-12")
        assert isinstance(waived, ev.ItemWaived) and (waived.item, waived.reason) == (target.id, "not applicable")


async def test_quit_asks_first_while_an_action_is_in_flight():
    app = recorded_app(BAKING, in_flight="promote to 25%")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, MainScreen)


async def test_enter_on_an_slo_row_opens_its_chart():
    app = recorded_app(BREACHING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2", "j", "enter")  # the second row: error_rate
        await settle(pilot)
        assert isinstance(app.screen, ChartModal)


async def test_a_whole_healthy_rollout_promoted_by_keypresses(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = main(app)
        promoted = []
        for _ in range(400):
            await pilot.pause(0.02)
            s = screen.state
            if s.outcome:
                break
            if s.phase in ("preflight", "awaiting") and screen.check_action("promote", ()) and s.next_weight:
                if s.next_weight in promoted:
                    continue
                await pilot.press("P")
                await settle(pilot)
                assert isinstance(app.screen, ConfirmModal)
                await pilot.press("y")
                promoted.append(s.next_weight)
        assert screen.state.outcome == "succeeded", screen.state.phase
        assert promoted == [10, 25, 50, 75, 100]
        assert app.outcome_code() == 0


# -- snapshots ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize(
    ("events", "keys"),
    [
        pytest.param(PREFLIGHT, (), id="preflight"),
        pytest.param(BAKING, (), id="baking"),
        pytest.param(BREACHING, (), id="breaching"),
        pytest.param(ROLLED_BACK, (), id="rolled-back"),
        pytest.param(PREFLIGHT, ("1",), id="checklist-pane"),
        pytest.param(BAKING, ("4",), id="events-pane"),
        pytest.param(BAKING, ("R",), id="rollback-modal"),
        pytest.param(READY, ("P",), id="promote-modal"),
        pytest.param(BREACHING, ("2", "j", "enter"), id="chart"),
        pytest.param(BAKING, ("question_mark",), id="help"),
    ],
)
def test_snapshot(snap_compare, events, keys, size):
    app = recorded_app(events)

    async def before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=before)


def test_snapshot_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(recorded_app(BREACHING), terminal_size=(120, 40))


def test_snapshot_readonly(snap_compare):
    assert snap_compare(recorded_app(BAKING, readonly=True), terminal_size=(120, 40))


def test_snapshot_command_line(snap_compare):
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("colon", *"promote 50")
        pilot.app.screen.query_one(Input).cursor_blink = False
        await settle(pilot)

    assert snap_compare(recorded_app(BAKING), terminal_size=(120, 40), run_before=before)


async def test_the_palette_offers_only_what_is_allowed_now():
    from console.palette import SessionCommands

    app = recorded_app(BAKING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        names = [name for name, _, _ in SessionCommands(app.screen)._commands()]
        assert "roll back" in names and not any(n.startswith("promote") for n in names)
        assert "go to events" in names


async def test_a_remapped_key_promotes(tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\npromote = "ctrl+y"\n')
    monkeypatch.setattr("console.app.keymap_path", lambda: keymap)
    app = recorded_app(READY)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        (intent,) = app.session.submitted
        assert isinstance(intent, ev.PromoteRequested) and intent.weight == 10


def test_a_broken_keymap_is_ignored(tmp_path):
    from console.app import load_keymap

    bad = tmp_path / "keymap.toml"
    bad.write_text("[keys\n")
    assert load_keymap(bad) == {}
    assert load_keymap(tmp_path / "missing.toml") == {}


async def test_idle_lock_hides_the_controls_until_a_key_and_a_confirmation():
    app = recorded_app(BAKING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = main(app)
        now = [0.0]
        screen.idle.clock = lambda: now[0]
        screen.idle.touch()
        now[0] = 15 * 60 + 1
        screen._check_idle()
        await settle(pilot)
        assert screen.check_action("rollback", ()) is False  # hidden while locked
        await pilot.press("R")  # the first key only asks to unlock
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal) and app.session.submitted == []
        await pilot.press("y")
        await settle(pilot)
        assert screen.check_action("rollback", ()) is True
        await pilot.press("R", "y")
        await settle(pilot)
        (intent,) = app.session.submitted
        assert isinstance(intent, ev.RollbackRequested)


def test_idle_lock_never_locks_with_zero():
    from console.idle import IdleLock

    now = [0.0]
    lock = IdleLock(0, clock=lambda: now[0])
    now[0] = 10**6
    assert not lock.check() and not lock.locked
