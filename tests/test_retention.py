"""`canary-console sessions prune`: old finished sessions go, open ones stay, their heads are kept for the audit."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from console.cli import main
from sessions.anchor import Anchor
from sessions.retention import PRUNED, parse_age
from sessions.store import EventStore
from sessions.tables import EVENT, SESSION


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An open session started 200 days ago, a finished one ended 100 days ago, one ended 10 days ago."""
    path = tmp_path / "sessions.db"
    ids = {}
    with EventStore(path, Anchor()) as store:
        for name, outcome, days in (("open", None, 200), ("old", "rolled_back", 100), ("recent", "succeeded", 10)):
            sid = store.open_session(deployment="publisher-api", scenario=name, plan="default", operator="ana")
            store.append(sid, [("note", 0.0, {"n": 1}), ("note", 1.0, {"n": 2})])
            if outcome:
                store.close_session(sid, outcome)
            with store._write("backdate") as conn:
                conn.execute(update(SESSION).where(SESSION.c.id == sid).values(started=_ago(days + 1)))
                if outcome:
                    conn.execute(update(SESSION).where(SESSION.c.id == sid).values(ended=_ago(days)))
            ids[name] = sid
    return path, ids


def _rows(path: Path) -> tuple[set[str], set[str], list]:
    with EventStore(path) as store, store._read("test") as conn:
        sessions = set(conn.execute(select(SESSION.c.id)).scalars())
        events = set(conn.execute(select(EVENT.c.session_id)).scalars())
        pruned = conn.execute(select(PRUNED)).all()
    return sessions, events, pruned


def test_prune_removes_old_finished_sessions_and_keeps_their_heads(db, capsys):
    path, ids = db
    with EventStore(path) as store:
        head = store.session(ids["old"])
    assert main(["--db", str(path), "sessions", "prune", "--older-than", "90d"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"pruned {ids['old']} publisher-api rolled_back ended {head.ended[:19]} (head seq 2 kept)"]
    sessions, events, pruned = _rows(path)
    assert sessions == events == {ids["open"], ids["recent"]}
    assert [(p.id, p.deployment, p.outcome, p.head_seq, p.head_hash) for p in pruned] == [
        (ids["old"], "publisher-api", "rolled_back", 2, head.head_hash)
    ]
    assert (pruned[0].started, pruned[0].ended) == (head.started, head.ended)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_prune_never_touches_an_open_session(db, capsys):
    path, ids = db
    assert main(["--db", str(path), "sessions", "prune", "--older-than", "1m"]) == 0
    sessions, events, _ = _rows(path)
    assert sessions == events == {ids["open"]}
    assert ids["open"] not in capsys.readouterr().out


def test_audit_verify_lists_pruned_sessions_and_passes(db, capsys):
    path, ids = db
    main(["--db", str(path), "sessions", "prune", "--older-than", "90d"])
    kept = _rows(path)[2][0].head_hash
    capsys.readouterr()
    assert main(["--db", str(path), "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"{ids['old']}: pruned (head seq 2 hash {kept} kept)" in out.splitlines()
    assert f"{ids['recent']}: ok" in out


def test_audit_verify_fails_when_a_kept_head_disagrees_with_its_anchor(db, capsys):
    path, ids = db
    main(["--db", str(path), "sessions", "prune", "--older-than", "90d"])
    with EventStore(path) as store, store._write("tamper") as conn:
        conn.execute(update(PRUNED).where(PRUNED.c.id == ids["old"]).values(head_hash="0" * 64))
    capsys.readouterr()
    assert main(["--db", str(path), "audit", "verify"]) == 1
    assert "its anchor disagrees" in capsys.readouterr().out


def test_dry_run_changes_nothing(db, capsys):
    path, ids = db
    before = _rows(path)
    assert main(["--db", str(path), "sessions", "prune", "--older-than", "5d", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in out] == [["would", "prune", ids["old"]], ["would", "prune", ids["recent"]]]
    assert _rows(path) == before


def test_nothing_to_prune_says_so(db, capsys):
    path, _ = db
    assert main(["--db", str(path), "sessions", "prune", "--older-than", "365d"]) == 0
    assert capsys.readouterr().out == "no finished session ended more than 365d ago\n"


@pytest.mark.parametrize(
    "argv, says",
    [
        (["sessions", "prune", "--older-than", "90x"], "not an age like 90d, 12h or 30m: '90x'"),
        (["sessions", "prune", "--older-than", "0d"], "not an age like 90d, 12h or 30m: '0d'"),
        (["sessions", "prune"], "sessions prune needs --older-than AGE"),
        (["sessions", "--older-than", "90d"], "--older-than and --dry-run go with: canary-console sessions prune"),
        (["sessions", "prune", "--older-than", "90d", "--json"], "sessions prune takes --older-than and --dry-run"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(db, capsys, argv, says):
    path, _ = db
    before = _rows(path)
    assert main(["--db", str(path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert _rows(path) == before


def test_parse_age():
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("30m") == timedelta(minutes=30)
    for bad in ("", "90", "d", "1.5d", "-1d", "90s"):
        with pytest.raises(ValueError):
            parse_age(bad)
