"""Item 11: audit tampering, through `canary-console audit verify`, with the chain head anchored outside the file.

Each case records a small session through the CLI's own store (anchors in a key dir of the
test's), tampers with the SQLite file as an attacker with only the file would, and expects
exit 1 and one line naming the first bad seq.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from console.cli import main
from sessions.anchor import Anchor
from sessions.chain import genesis_hash, row_hash
from sessions.store import EventStore

ROWS = 8  # one append per row: each has its anchor


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "anchor.key"
    monkeypatch.setenv("CANARY_ANCHOR_KEY", str(path))
    return path


@pytest.fixture
def db(tmp_path: Path, key: Path) -> Path:
    return tmp_path / "data" / "sessions.db"


def record(db: Path, key: Path | None, batches: list[int] | None = None) -> str:
    """A session of ROWS status rows, appended in `batches` (sizes; default one row each)."""
    with EventStore(db, Anchor(key) if key else None) as store:
        session = store.open_session(deployment="publisher-api", scenario="", plan="default", operator="ana")
        seq = 0
        for size in batches or [1] * ROWS:
            store.append(session, [("status", float(seq + k), {"weight": seq + k}) for k in range(size)])
            seq += size
    return session


def sql(db: Path, statement: str, *params) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute(statement, params)
    raw.close()


def rows(db: Path, session: str) -> list[tuple]:
    with sqlite3.connect(db) as raw:
        found = raw.execute(
            "SELECT seq, at, wall, kind, payload FROM event WHERE session_id = ? ORDER BY seq", (session,)
        ).fetchall()
    raw.close()
    return found


def rebuild(
    db: Path, session: str, change: dict[int, dict] | None = None, keep: int | None = None, add: int = 0
) -> None:
    """What an attacker with the file can do: rewrite payloads, drop the tail, add forged rows, then recompute
    every hash and the head."""
    kept = [(seq, at, wall, kind, json.loads(payload)) for seq, at, wall, kind, payload in rows(db, session)[:keep]]
    for _ in range(add):
        seq, at, wall, kind, _data = kept[-1]
        kept.append((seq + 1, at + 1, wall, kind, {"weight": 100}))
    prev = genesis_hash(session)
    with sqlite3.connect(db) as raw:
        raw.execute("DELETE FROM event WHERE session_id = ?", (session,))
        for seq, at, wall, kind, data in kept:
            data = (change or {}).get(seq, data)
            text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = row_hash(prev, session, seq, at, wall, kind, data)
            raw.execute(
                "INSERT INTO event (session_id, seq, at, wall, kind, payload, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session, seq, at, wall, kind, text, prev, digest),
            )
            prev = digest
        raw.execute("UPDATE session SET head_seq = ?, head_hash = ? WHERE id = ?", (len(kept), prev, session))
    raw.close()


def verify(db: Path, capsys) -> tuple[int, str]:
    code = main(["audit", "verify", "--db", str(db)])
    return code, capsys.readouterr().out


def tampered_at(out: str, session: str) -> int:
    (line,) = out.splitlines()
    assert line.startswith(f"{session}: TAMPERED at seq ")
    return int(line.split("TAMPERED at seq ")[1].split(":")[0])


def test_an_untouched_anchored_log_verifies(db, key, capsys):
    session = record(db, key)
    assert verify(db, capsys) == (0, f"{session}: ok\n")


def test_edit_a_byte(db, key, capsys):
    session = record(db, key)
    sql(db, "UPDATE event SET payload = replace(payload, '3', '9') WHERE seq = 4")
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 4
    assert "hash does not match the row's content" in out


def test_delete_a_row(db, key, capsys):
    session = record(db, key)
    sql(db, "DELETE FROM event WHERE seq = 5")
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 5 and "row 5 is missing" in out


def test_reorder_two_rows(db, key, capsys):
    session = record(db, key)
    sql(db, "UPDATE event SET seq = -1 WHERE seq = 3")
    sql(db, "UPDATE event SET seq = 3 WHERE seq = 6")
    sql(db, "UPDATE event SET seq = 6 WHERE seq = -1")
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 3


def test_truncate_the_tail_and_move_the_head_back(db, key, capsys):
    session = record(db, key)
    with sqlite3.connect(db) as raw:
        (kept_hash,) = raw.execute("SELECT hash FROM event WHERE seq = 5").fetchone()
    raw.close()
    sql(db, "DELETE FROM event WHERE seq > 5")
    sql(db, "UPDATE session SET head_seq = 5, head_hash = ?", kept_hash)  # the chain alone is consistent now
    assert EventStore(db).verify(session)[0].ok  # which the chain cannot tell
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 6
    assert "log truncated or rebuilt: anchor says seq 6 hash " in out and "the log ends at seq 5" in out


def test_truncate_every_row(db, key, capsys):
    session = record(db, key)
    rebuild(db, session, keep=0)
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 1


def test_rebuild_the_whole_chain_with_fresh_hashes(db, key, capsys):
    session = record(db, key)
    rebuild(db, session, change={4: {"weight": 0}})
    assert EventStore(db).verify(session)[0].ok  # the chain alone is consistent
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 4
    assert "log truncated or rebuilt: anchor says seq 4 hash " in out


def test_rebuild_inside_a_batch_names_the_first_row_the_anchors_do_not_vouch_for(db, key, capsys):
    session = record(db, key, batches=[3, 3, 2])  # anchors at seq 3, 6 and 8
    rebuild(db, session, change={5: {"weight": 0}})
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 4  # rows 4–6 are one batch: 4 is the first unproven


def test_truncate_and_append_forged_rows(db, key, capsys):
    session = record(db, key)
    rebuild(db, session, keep=6, add=1)  # 7 rows, the 7th forged, every hash fresh
    assert EventStore(db).verify(session)[0].ok
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 7


def test_a_forged_anchor_line_is_caught(db, key, capsys):
    session = record(db, key)
    rebuild(db, session, change={8: {"weight": 100}})
    with sqlite3.connect(db) as raw:
        (forged_hash,) = raw.execute("SELECT head_hash FROM session").fetchone()
    raw.close()
    with (key.parent / "anchors.log").open("a") as log:  # without the key, the HMAC cannot be made
        log.write(f"{session} {ROWS} {forged_hash} {'0' * 64}\n")
    code, out = verify(db, capsys)
    assert code == 1 and tampered_at(out, session) == 8
    assert "the anchor for seq 8 has a bad HMAC: anchors.log was forged" in out


def test_a_log_written_before_anchors_verifies_with_a_note(db, key, capsys):
    session = record(db, None)
    code, out = verify(db, capsys)
    assert code == 0
    assert out == f"{session}: ok (no anchor: written before anchors existed?)\n"


def test_the_key_and_the_anchors_are_private_and_outside_the_database(db, key):
    record(db, key)
    assert key.parent != db.parent
    for path in (key, key.parent / "anchors.log"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    lines = (key.parent / "anchors.log").read_text().splitlines()
    assert len(lines) == ROWS and all(len(line.split(" ")) == 4 for line in lines)
    assert key.read_bytes() not in db.read_bytes()


def test_the_default_key_lives_in_the_user_config_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CANARY_ANCHOR_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert Anchor().key_path == tmp_path / "xdg" / "canary-console" / "anchor.key"


def test_an_unwritable_anchor_log_never_fails_the_append(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with EventStore(tmp_path / "s.db", Anchor(blocker / "anchor.key")) as store:
        session = store.open_session(deployment="d", scenario="", plan="p", operator="o")
        assert store.append(session, [("status", 0.0, {"weight": 0})]) == 1
    assert "cannot write the chain anchor" in caplog.text


def test_two_writers_share_one_key(tmp_path):
    first, second = Anchor(tmp_path / "k" / "anchor.key"), Anchor(tmp_path / "k" / "anchor.key")
    first.record("s1", 1, "a" * 64)
    second.record("s2", 1, "b" * 64)
    assert [line.ok for line in first.lines()] == [True, True]
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["anchor.key", "anchors.log"]  # no temp file left
