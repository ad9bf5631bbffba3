"""The hash chain as pure functions: linking rows and finding the first bad one."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.chain import (
    ChainRow,
    canonical_json,
    genesis_hash,
    link,
    normalize_at,
    row_hash,
    sha256_hex,
    verify_rows,
)

SID = "20261128-085301-3fa2"
WALL = "2026-11-28T08:53:01.123456+00:00"


def chain(n: int) -> list[ChainRow]:
    records = [("samples", i * 10.0, {"values": {"p95_latency": 0.2 + i, "error_rate": None}}) for i in range(n)]
    return link(SID, 0, genesis_hash(SID), records, WALL)


def check(rows: list[ChainRow], head_seq: int | None = None, head_hash: str | None = None):
    head_seq = rows[-1].seq if head_seq is None else head_seq
    head_hash = rows[-1].hash if head_hash is None else head_hash
    return verify_rows(SID, rows, head_seq, head_hash)


def test_canonical_json_is_sorted_compact_and_unescaped():
    assert canonical_json({"b": 1, "a": [1.5, None], "é": "ü"}) == '{"a":[1.5,null],"b":1,"é":"ü"}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_hash_follows_the_documented_formula():
    rows = chain(2)
    genesis = sha256_hex("canary-console:" + SID)
    assert rows[0].prev_hash == genesis
    body = {
        "session": SID,
        "seq": 1,
        "at": 0.0,
        "wall": WALL,
        "kind": "samples",
        "payload": json.loads(rows[0].payload),
    }
    assert rows[0].hash == sha256_hex(genesis + canonical_json(body))
    assert rows[1].prev_hash == rows[0].hash
    assert row_hash(rows[0].hash, SID, 2, 10.0, WALL, "samples", json.loads(rows[1].payload)) == rows[1].hash


def test_link_continues_from_a_head():
    first = chain(3)
    more = link(SID, 3, first[-1].hash, [("paused", 40.0, {"reason": "operator"})], WALL)
    assert [r.seq for r in more] == [4]
    assert check(first + more).ok


def test_normalize_at_rounds_to_microseconds():
    assert normalize_at(1.23456789) == 1.234568
    assert normalize_at(3) == 3.0 and isinstance(normalize_at(3), float)
    assert repr(normalize_at(-0.0)) == "0.0"
    for bad in (float("nan"), float("inf"), "soon", None):
        with pytest.raises(ValueError):
            normalize_at(bad)


def test_link_normalizes_payload_to_what_reads_back():
    (row,) = link(SID, 0, genesis_hash(SID), [("x", 0.0, {"v": {3: (1, 2), 10: "b"}})], WALL)
    assert row.payload == '{"v":{"10":"b","3":[1,2]}}'
    assert check([row]).ok


@pytest.mark.parametrize(
    "record",
    [("", 0.0, {}), ("x", 0.0, ["not", "a", "dict"]), ("x", 0.0, {"v": float("nan")}), ("x", 0.0, {"v": object()})],
)
def test_link_rejects_records_that_cannot_be_stored(record):
    with pytest.raises(ValueError):
        link(SID, 0, genesis_hash(SID), [record], WALL)


def test_intact_chain_and_empty_session_verify():
    assert check(chain(5)) == verify_rows(SID, chain(5), 5, chain(5)[-1].hash)
    assert check(chain(5)).ok
    assert verify_rows(SID, [], 0, genesis_hash(SID)).ok


@pytest.mark.parametrize(
    "field, value",
    [
        ("payload", '{"values":{"error_rate":null,"p95_latency":2.3}}'),
        ("payload", '{"values": {"error_rate":null,"p95_latency":2.2}}'),
        ("payload", '{"values":'),
        ("at", 20.5),
        ("wall", WALL.replace("08:53", "08:54")),
        ("kind", "sample"),
        ("hash", "0" * 64),
        ("prev_hash", "0" * 64),
        ("wall", b"\x00"),
    ],
)
def test_a_changed_field_names_its_row(field, value):
    rows = chain(5)
    rows[2] = rows[2]._replace(**{field: value})
    result = check(rows, 5, chain(5)[-1].hash)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert result.reason.startswith("row 3: ") and "\n" not in result.reason


def test_missing_middle_row_names_the_gap():
    rows = chain(6)
    del rows[3]
    result = check(rows, 6, chain(6)[-1].hash)
    assert (result.ok, result.bad_seq, result.reason) == (False, 4, "row 4 is missing (next row is 5)")


def test_swapped_rows_name_the_first():
    rows = chain(6)
    rows[2], rows[4] = rows[4]._replace(seq=3), rows[2]._replace(seq=5)
    result = check(rows, 6, chain(6)[-1].hash)
    assert (result.ok, result.bad_seq) == (False, 3)


def test_truncated_tail_names_the_first_missing_row():
    full = chain(6)
    result = verify_rows(SID, full[:4], 6, full[-1].hash)
    assert (result.ok, result.bad_seq, result.reason) == (False, 5, "log truncated: head says seq 6")


def test_rows_past_the_head_are_reported():
    full = chain(6)
    result = verify_rows(SID, full, 4, full[3].hash)
    assert (result.ok, result.bad_seq) == (False, 5)


def test_head_hash_mismatch_names_the_last_row():
    result = check(chain(4), 4, "f" * 64)
    assert (result.ok, result.bad_seq, result.reason) == (False, 4, "head hash does not match row 4's hash")


def test_chain_module_does_not_import_sqlmodel():
    code = "import sys, sessions.chain; sys.exit('sqlmodel' in sys.modules or 'sqlalchemy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
records_st = st.lists(
    st.tuples(
        st.sampled_from(["samples", "status", "promoted", "check"]),
        st.floats(min_value=0, max_value=1e7, allow_nan=False),
        st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=100)
@given(records=records_st, data=st.data())
def test_any_one_character_change_is_caught_at_its_row(records, data):
    rows = link(SID, 0, genesis_hash(SID), records, WALL)
    assert check(rows).ok
    index = data.draw(st.integers(0, len(rows) - 1))
    text = rows[index].payload
    pos = data.draw(st.integers(0, len(text) - 1))
    new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[pos]))
    tampered = list(rows)
    tampered[index] = rows[index]._replace(payload=text[:pos] + new + text[pos + 1 :])
    result = check(tampered, rows[-1].seq, rows[-1].hash)
    assert (result.ok, result.bad_seq) == (False, index + 1)
