"""Replay: a recorded session played back read-only by a playback clock; the session list's filters."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tui_support import record

from console import events as ev
from console import view
from console.app import CanaryApp
from console.cli import build_parser, main
from console.engine import evolve, initial
from console.headless import line
from console.plan import default_plan
from console.replay import Playback, ReplaySession, Timeline
from console.replay_screen import ReplayScreen
from sessions.store import EventStore
from widgets.banner import Banner
from widgets.eventlog import EventLog
from widgets.replaybar import ReplayBar

ROLLED_BACK = record("latency-regression", until=3 * 3600)  # rolled back at +00:40:10


def store_session(db: Path, events: list[ev.Event], outcome: str | None = None) -> str:
    with EventStore(db) as store:
        session = store.open_session(deployment="publisher-api", scenario="x", plan="default", operator="ana")
        store.append(session, [ev.to_record(e) for e in events])
        if outcome:
            store.close_session(session, outcome)
    return session


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "s.db"
    return db, store_session(db, ROLLED_BACK, "rolled_back")


def replay_app(db: Path, session: str) -> CanaryApp:
    replay = ReplaySession(db, session[:15], plan_path=None, speed=60.0, playing=False)
    return CanaryApp(replay, default_plan(), readonly=True, speed=60.0, screen=ReplayScreen)


async def loaded(pilot) -> ReplayScreen:
    screen = pilot.app.main
    for _ in range(200):
        await pilot.pause()
        if screen.timeline is not None:
            break
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def goto(pilot, target: str) -> None:
    await pilot.press("colon", *f"goto {target}", "enter")
    await pilot.pause()


def fold(t: float):
    s = initial(default_plan())
    for e in ROLLED_BACK:
        if e.at <= t:
            s = evolve(s, e)
    return s


def bar(screen: ReplayScreen) -> str:
    return str(screen.query_one(ReplayBar).render())


# -- the replay screen --------------------------------------------------------------------------


async def test_at_the_end_the_banner_shows_the_rollback_and_its_evidence(recorded):
    app = replay_app(*recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert screen.state.outcome is None  # opens at the start
        await goto(pilot, "100%")
        assert screen.state.outcome == "rolled_back" and screen.state.weight == 0
        banner = screen.query_one(Banner)
        text = str(banner.render())
        assert banner.display and "ROLLED BACK" in text and "p95_latency 13." in text and "> 10 s" in text
        decision = [t for t, _ in screen.query_one(EventLog)._entries if "decision: ROLL BACK" in t]
        assert len(decision) == 1 and "[evidence: 31 breaching samples" in decision[0]
        assert "■ end" in bar(screen)


async def test_goto_shows_the_fold_of_the_events_up_to_that_time_forward_and_back(recorded):
    app = replay_app(*recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        end = ROLLED_BACK[-1].at
        # back from the end (rebuilds with a full history), then forward in steps (the events fed as live)
        steps = (("100%", end), ("-1m", end - 60), ("50%", end / 2), ("10%", end / 10), ("+0h35m20s", 2120.0))
        for target, t in steps:
            await goto(pilot, target)
            assert app.session.now() == t
            assert screen.state == fold(t)
            assert (screen.state.weight, screen.state.phase) == (fold(t).weight, fold(t).phase)
            shown = [e for e in ROLLED_BACK if e.at <= t]
            lines, s, history = [], initial(default_plan()), view.History()
            for e in shown:
                s = evolve(s, e)
                history.add(e)
                lines.append(line(e, s))
            assert [text for text, _ in screen.query_one(EventLog)._entries] == [x for x in lines if x]
            assert list(screen.history.times) == list(history.times)
            assert {k: list(v) for k, v in screen.history.values.items()} == {
                k: list(v) for k, v in history.values.items()
            }


async def test_brackets_step_one_event_time_and_pause(recorded):
    app = replay_app(*recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await goto(pilot, "50%")
        times = sorted({e.at for e in ROLLED_BACK})
        t = app.session.now()
        after = min(x for x in times if x > t)
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.session.now() == after and screen.state == fold(after)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        before = max(x for x in times if x < after)
        assert app.session.now() == before and screen.state == fold(before)
        assert not app.session.playback.playing


async def test_p_plays_and_pauses(recorded):
    app = replay_app(*recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert "‖ paused" in bar(screen)
        await pilot.press("p")
        await pilot.pause()
        assert app.session.playback.playing and "▶ playing" in bar(screen)
        await pilot.press("p")
        await pilot.pause()
        assert not app.session.playback.playing and "‖ paused" in bar(screen)


async def test_speed_keys_halve_and_double_the_shown_speed(recorded):
    app = replay_app(*recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("greater_than_sign")
        await pilot.pause()
        assert screen.speed == 120 and "×120" in bar(screen) and "×120" in str(screen.query_one("#header").render())
        await pilot.press("less_than_sign", "less_than_sign")
        await pilot.pause()
        assert screen.speed == 30 and "×30" in bar(screen)


async def test_the_replay_binds_no_action_and_sends_nothing(recorded):
    app = replay_app(*recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await goto(pilot, "50%")  # live at 25%: a live screen would allow a rollback here
        assert screen.state.weight > 0
        for action in ("promote", "rollback", "waive"):
            assert screen.check_action(action, ()) is False
        await pilot.press("R", "P", "w", "space")
        await pilot.press("colon", *"rollback", "enter")
        await pilot.pause()
        assert app.screen is screen and app.session.submitted == []


async def test_an_unknown_session_exits_with_one_line(tmp_path):
    db = tmp_path / "s.db"
    store_session(db, ROLLED_BACK[:3])
    app = replay_app(db, "nope")
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await pilot.pause()
            if app.return_code is not None:
                break
    assert app.return_code == 2


# -- the playback clock and the timeline ---------------------------------------------------------


def test_playback_moves_at_speed_within_the_log_and_restarts_from_the_end():
    now = [0.0]
    p = Playback(60.0, playing=False, clock=lambda: now[0])
    p.span(100.0, 400.0)
    now[0] = 10.0
    assert p.position() == 100.0
    p.toggle()
    now[0] = 12.0
    assert p.position() == 220.0
    p.scale(0.5)
    now[0] = 13.0
    assert p.position() == 250.0 and p.speed == 30.0
    now[0] = 100.0
    assert p.position() == 400.0 and p.at_end
    p.pause()
    p.toggle()
    assert p.playing and p.position() == 100.0
    p.scale(1e9)
    assert p.speed == 16384.0


def test_timeline_targets_and_steps():
    t = Timeline(default_plan(), ROLLED_BACK)
    assert t.target("50%") == t.end / 2
    assert t.target("+0h10m") == t.target("10m") == 600.0
    assert t.target("-90s") == t.end - 90
    assert t.step(t.end, 1) == t.end and t.step(t.start, -1) == t.start
    assert t.state(len(ROLLED_BACK)) == fold(t.end)
    with pytest.raises(ValueError):
        t.target("soon")


# -- the session list -----------------------------------------------------------------------------


def sessions(capsys, db: Path, *args: str) -> list[str]:
    assert main(["--db", str(db), "sessions", "--json", *args]) == 0
    return sorted(s["outcome"] for s in json.loads(capsys.readouterr().out))


def test_sessions_filters_by_outcome_and_start(tmp_path, capsys):
    db = tmp_path / "s.db"
    old = store_session(db, ROLLED_BACK[:3], "rolled_back")
    store_session(db, ROLLED_BACK[:3], "succeeded")
    store_session(db, ROLLED_BACK[:3])
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE session SET started = '2020-01-02T00:00:00+00:00' WHERE id = ?", (old,))
    assert sessions(capsys, db) == ["open", "rolled_back", "succeeded"]
    assert sessions(capsys, db, "--outcome", "open") == ["open"]
    assert sessions(capsys, db, "--outcome", "rolled_back") == ["rolled_back"]
    assert sessions(capsys, db, "--since", "7d") == ["open", "succeeded"]
    assert sessions(capsys, db, "--since", "24h", "--outcome", "succeeded") == ["succeeded"]
    assert sessions(capsys, db, "--since", "2020-01-01") == ["open", "rolled_back", "succeeded"]
    assert sessions(capsys, db, "--since", "2020-01-03") == ["open", "succeeded"]


def test_a_bad_since_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "s.db"), "sessions", "--since", "last week"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since last week" in err
    assert not (tmp_path / "s.db").exists()  # checked before the store is opened


def test_replay_command_line():
    args = build_parser().parse_args(["replay", "2026", "--speed", "8"])
    assert (args.command, args.id, args.speed, args.plan) == ("replay", "2026", 8.0, None)


# -- looks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_snapshot(snap_compare, recorded, size):
    async def before(pilot) -> None:
        await loaded(pilot)
        await goto(pilot, "+0h38m")  # 25%, p95 latency pending

    assert snap_compare(replay_app(*recorded), terminal_size=size, run_before=before)


def panels(app: CanaryApp) -> dict[str, object]:
    """What the operator reads: SLO rows, checklist rows, stage ladder, banner, event log."""
    screen = app.main

    def rows(table_id: str) -> list[list[str]]:
        table = screen.query_one(table_id)
        return [[getattr(c, "plain", str(c)) for c in table.get_row_at(i)] for i in range(table.row_count)]

    log = screen.query_one(EventLog)
    return {
        "slos": rows("#slos"),
        "checklist": rows("#checklist"),
        "ladder": str(screen.query_one("#ladder").render()),
        "banner": str(screen.query_one("#banner", Banner).render()) if screen.query_one("#banner").display else "",
        "events": [strip.text for strip in log.lines][-20:],
    }


@pytest.mark.parametrize("t", [20 * 60, 38 * 60, 40 * 60 + 10], ids=["baking", "pending", "rolled-back"])
async def test_replay_at_a_moment_shows_what_the_live_screen_showed(recorded, t):
    from tui_support import recorded_app

    live = recorded_app([e for e in ROLLED_BACK if e.at <= t], readonly=True)
    async with live.run_test(size=(120, 40)) as pilot:
        for _ in range(5):
            await pilot.pause()
        seen_live = panels(live)
    replay = replay_app(*recorded)
    async with replay.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await goto(pilot, f"+{t // 3600}h{t % 3600 // 60}m{t % 60}s" if t % 60 else f"+{t // 3600}h{t % 3600 // 60}m")
        for _ in range(5):
            await pilot.pause()
        seen_replay = panels(replay)
    assert seen_replay == seen_live


async def test_the_sessions_screen_lists_them_and_enter_picks_one_to_replay(recorded):
    from console.sessions_screen import SessionsApp

    db, session = recorded
    with EventStore(db) as store:
        rows = store.sessions()
    app = SessionsApp(rows, {session: ""}, {session: ["rolled back"]})
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        table = app.query_one("SessionList")
        assert table.row_count == 1 and "rolled back" in str(table.get_row_at(0)[2])
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_value == session
