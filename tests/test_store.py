"""EventStore on a real SQLite file: round trips, the chain after reopen, tamper detection, bad paths."""

import json
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from sessions.chain import row_hash
from sessions.store import EventStore, StoreError

RECORDS = [
    ("session_started", 0.0, {"session": "s", "operator": "ana", "roles": ["admin"]}),
    ("status", 0.5, {"weight": 0, "ready": 2, "desired": 2, "state": "idle"}),
    ("promoted", 10.1234567, {"weight": 10, "key": "k1"}),
    ("samples", 20.0, {"values": {"p95_latency": 0.31, "error_rate": None, "note": "ünïcode ✔"}}),
    ("status", 30.0, {"weight": 25, "ready": 3, "desired": 3, "state": "progressing"}),
    ("promoted", 40.0, {"weight": 5, "key": "k2"}),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sessions.db"


@pytest.fixture
def store(db: Path):
    with EventStore(db) as store:
        yield store


def new_session(store: EventStore, **meta) -> str:
    return store.open_session(deployment="publisher-api", scenario="healthy", plan="default", operator="ana", meta=meta)


def filled(store: EventStore) -> str:
    sid = new_session(store)
    store.append(sid, RECORDS)
    return sid


def tamper(db: Path, sql: str, *params) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute(sql, params)
    raw.close()


def only(results):
    (result,) = results
    return result


def test_file_is_private_and_in_wal_mode(store, db):
    store.append(new_session(store), RECORDS)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_existing_world_readable_file_is_made_private(tmp_path):
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    EventStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_open_session_records_who_and_what(store):
    sid = new_session(store, seed=7)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", sid)
    info = store.session(sid)
    assert (info.deployment, info.scenario, info.plan, info.operator) == ("publisher-api", "healthy", "default", "ana")
    assert info.meta == {"seed": 7} and info.is_open and info.ended is None
    assert (info.head_seq, info.highest_weight) == (0, 0)
    assert info.started.endswith("+00:00")
    assert only(store.verify(sid)).ok


def test_append_and_read_back(store):
    sid = new_session(store)
    assert store.append(sid, RECORDS[:2]) == 2
    assert store.append(sid, RECORDS[2:]) == 6
    events = store.events(sid)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert [(e.kind, e.payload) for e in events] == [(k, p) for k, _, p in RECORDS]
    assert events[2].at == 10.123457  # rounded to microseconds
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", events[0].wall)
    assert [e.seq for e in store.events(sid, since_seq=4)] == [5, 6]
    assert store.records(sid)[3] == ("samples", 20.0, RECORDS[3][2])
    info = store.session(sid)
    assert (info.head_seq, info.highest_weight) == (6, 25)  # a lower later weight does not lower it


def test_empty_append_writes_nothing(store):
    sid = filled(store)
    assert store.append(sid, []) == 6
    assert store.session(sid).head_seq == 6


def test_batch_is_one_transaction_and_one_insert(store):
    sid = new_session(store)
    commits, inserts = [], []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(conn, cursor, statement, params, context, executemany):
        if statement.startswith("INSERT"):
            inserts.append(executemany)

    records = [("samples", i / 10, {"values": {"p95_latency": i}}) for i in range(1000)]
    assert store.append(sid, records) == 1000
    assert (len(commits), inserts) == (1, [True])


def test_bad_record_leaves_the_log_unchanged(store):
    sid = filled(store)
    with pytest.raises(StoreError, match="not JSON"):
        store.append(sid, [("samples", 50.0, {"ok": 1}), ("samples", 60.0, {"v": float("nan")})])
    assert store.session(sid).head_seq == 6 and len(store.events(sid)) == 6


def test_hashes_reproduce_after_reopen(db):
    with EventStore(db) as first:
        sid = filled(first)
    with EventStore(db) as again:
        assert only(again.verify(sid)).ok
        with sqlite3.connect(db) as raw:
            rows = raw.execute(
                "SELECT seq, at, wall, kind, payload, prev_hash, hash FROM event ORDER BY seq"
            ).fetchall()
        raw.close()
        for seq, at, wall, kind, payload, prev_hash, digest in rows:
            assert row_hash(prev_hash, sid, seq, at, wall, kind, json.loads(payload)) == digest
        assert again.append(sid, [("paused", 70.0, {"reason": "lunch"})]) == 7
        assert only(again.verify(sid)).ok


def test_two_stores_on_one_file_keep_one_chain(db):
    with EventStore(db) as a, EventStore(db) as b:
        sid = new_session(a)
        a.append(sid, RECORDS[:2])
        b.append(sid, RECORDS[2:4])
        assert a.append(sid, RECORDS[4:]) == 6
        assert only(b.verify(sid)).ok


def test_closed_session_refuses_appends(store):
    sid = filled(store)
    store.close_session(sid, "rolled_back")
    info = store.session(sid)
    assert (info.outcome, info.is_open) == ("rolled_back", False) and info.ended
    with pytest.raises(StoreError, match="is closed"):
        store.append(sid, RECORDS[:1])
    with pytest.raises(StoreError, match="already closed"):
        store.close_session(sid, "aborted")
    with pytest.raises(StoreError, match="unknown outcome"):
        store.close_session(new_session(store), "done")


def test_unknown_session_is_a_store_error(store):
    with pytest.raises(StoreError, match="no session nope"):
        store.append("nope", RECORDS[:1])
    with pytest.raises(StoreError, match="no session nope"):
        store.verify("nope")
    assert store.session("nope") is None


def test_sessions_newest_first_and_prefix_resolution(store):
    assert store.sessions() == [] and store.latest_session_id() is None
    ids = [new_session(store) for _ in range(3)]
    assert [s.id for s in store.sessions()] == ids[::-1]
    assert store.latest_session_id() == ids[-1]
    assert store.resolve(ids[1]) == ids[1]
    with pytest.raises(StoreError, match="^no session matches zzz$"):
        store.resolve("zzz")
    with pytest.raises(StoreError, match="is ambiguous$"):
        store.resolve(ids[0][:8])  # same UTC date for all three
    with pytest.raises(StoreError, match="^no session matches 2%$"):
        store.resolve("2%")


def test_unique_prefix_resolves(store):
    sid = new_session(store)
    assert store.resolve(sid[:4]) == sid


# -- tampering through a raw sqlite3 connection ------------------------------------


def flip_payload_char(db: Path, seq: int) -> None:
    with sqlite3.connect(db) as raw:
        (text,) = raw.execute("SELECT payload FROM event WHERE seq = ?", (seq,)).fetchone()
    raw.close()
    i = text.index(":") + 1
    tamper(
        db,
        "UPDATE event SET payload = ? WHERE seq = ?",
        text[:i] + ("7" if text[i] != "7" else "8") + text[i + 1 :],
        seq,
    )


@pytest.mark.parametrize(
    "change, bad_seq, reason",
    [
        (lambda db: flip_payload_char(db, 4), 4, "row 4: "),
        (lambda db: tamper(db, "UPDATE event SET at = at + 0.5 WHERE seq = 3"), 3, "row 3: hash does not match"),
        (lambda db: tamper(db, "UPDATE event SET wall = 'x' || wall WHERE seq = 2"), 2, "row 2: hash"),
        (lambda db: tamper(db, "UPDATE event SET kind = 'status' WHERE seq = 3"), 3, "row 3: hash"),
        (lambda db: tamper(db, "UPDATE event SET hash = upper(hash) WHERE seq = 5"), 5, "row 5: hash"),
        (lambda db: tamper(db, "UPDATE event SET prev_hash = hash WHERE seq = 2"), 2, "row 2: prev_hash"),
        (lambda db: tamper(db, "DELETE FROM event WHERE seq = 4"), 4, "row 4 is missing (next row is 5)"),
        (lambda db: tamper(db, "DELETE FROM event WHERE seq >= 5"), 5, "log truncated: head says seq 6"),
        (lambda db: tamper(db, "UPDATE session SET head_hash = upper(head_hash)"), 6, "head hash does not match"),
        (lambda db: tamper(db, "UPDATE session SET head_seq = 9"), 7, "log truncated: head says seq 9"),
        (lambda db: tamper(db, "UPDATE session SET head_seq = 5"), 6, "row 6 is past the head"),
    ],
)
def test_tampering_names_the_first_bad_row(store, db, change, bad_seq, reason):
    sid = filled(store)
    change(db)
    result = only(store.verify(sid))
    assert (result.ok, result.bad_seq) == (False, bad_seq)
    assert result.reason.startswith(reason) and "\n" not in result.reason


def test_swapped_rows_name_the_first(store, db):
    sid = filled(store)
    tamper(db, "UPDATE event SET seq = -1 WHERE seq = 3")
    tamper(db, "UPDATE event SET seq = 3 WHERE seq = 5")
    tamper(db, "UPDATE event SET seq = 5 WHERE seq = -1")
    result = only(store.verify(sid))
    assert (result.ok, result.bad_seq) == (False, 3)


def test_verify_all_reports_each_session_and_orphans(store, db):
    good, bad = filled(store), filled(store)
    tamper(db, "UPDATE event SET at = 99 WHERE session_id = ? AND seq = 2", bad)
    tamper(db, "UPDATE session SET id = 'gone' WHERE id = ?", good)  # foreign keys are off in this raw connection
    results = {r.session: r for r in store.verify()}
    assert (results[bad].ok, results[bad].bad_seq) == (False, 2)
    assert results["gone"].ok is False  # its own genesis no longer matches
    assert (results[good].ok, results[good].reason) == (False, "events without a session row")


# -- unusable paths ----------------------------------------------------------------


def test_directory_is_refused(tmp_path):
    with pytest.raises(StoreError) as caught:
        EventStore(tmp_path)
    assert str(caught.value) == f"cannot open store {tmp_path}: is a directory"


def test_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"^cannot open store .*: (not a directory|file exists)$"):
        EventStore(tmp_path / "file" / "sessions.db")


def test_non_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StoreError) as caught:
        EventStore(path)
    assert str(caught.value) == f"{path} is not a SQLite database"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(StoreError, match=r"^cannot open store .*: permission denied$"):
        EventStore(locked / "sessions.db")


# -- property: any one-character payload change is caught at its row ---------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
batches = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["samples", "status", "check"]),
            st.floats(min_value=0, max_value=1e6, allow_nan=False),
            st.dictionaries(st.text(max_size=6), json_values, max_size=3),
        ),
        min_size=1,
        max_size=5,
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    with EventStore(tmp_path_factory.mktemp("prop") / "sessions.db") as store:
        yield store


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches, data=st.data())
def test_random_batches_verify_and_any_payload_flip_is_caught(shared_store, batches, data):
    store = shared_store
    sid = new_session(store)
    for batch in batches:
        store.append(sid, batch)
    assert only(store.verify(sid)).ok
    rows = store.events(sid)
    seq = data.draw(st.integers(1, len(rows)))
    with sqlite3.connect(store.path) as raw:
        (text,) = raw.execute("SELECT payload FROM event WHERE session_id = ? AND seq = ?", (sid, seq)).fetchone()
    raw.close()
    pos = data.draw(st.integers(0, len(text) - 1))
    new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[pos]))
    tamper(
        store.path,
        "UPDATE event SET payload = ? WHERE session_id = ? AND seq = ?",
        text[:pos] + new + text[pos + 1 :],
        sid,
        seq,
    )
    result = only(store.verify(sid))
    assert (result.ok, result.bad_seq) == (False, seq)
