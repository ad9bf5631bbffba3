"""The hash chain of a session's event log: canonical JSON, row hashes, verification.

Pure functions with no SQLModel import, so `audit verify` and tests load it cheaply.
Each row's hash is sha256(prev_hash + canonical JSON of the row); the first row's
prev_hash is the session's genesis hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple


class ChainRow(NamedTuple):
    """One event row as stored: `payload` is canonical JSON text."""

    seq: int
    at: float
    wall: str
    kind: str
    payload: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    session: str
    ok: bool
    bad_seq: int | None = None
    reason: str = "ok"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis_hash(session_id: str) -> str:
    return sha256_hex("canary-console:" + session_id)


def normalize_at(at: float) -> float:
    """Session seconds rounded to microseconds, as stored, so a read-back row hashes the same."""
    try:
        value = round(float(at), 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    except (TypeError, ValueError):
        raise ValueError(f"event time {at!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"event time {at!r} is not a finite number")
    return value


def row_hash(prev_hash: str, session_id: str, seq: int, at: float, wall: str, kind: str, payload: Any) -> str:
    body = {"session": session_id, "seq": seq, "at": at, "wall": wall, "kind": kind, "payload": payload}
    return sha256_hex(prev_hash + canonical_json(body))


def link(
    session_id: str,
    head_seq: int,
    head_hash: str,
    records: Iterable[tuple[str, float, dict[str, Any]]],
    wall: str,
) -> list[ChainRow]:
    """Chain `records` (kind, at, payload) after the head; raises ValueError on a record that cannot be stored."""
    rows: list[ChainRow] = []
    seq, prev = head_seq, head_hash
    for kind, at, payload in records:
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"event kind {kind!r} is not a non-empty string")
        if not isinstance(payload, dict):
            raise ValueError(f"payload of {kind!r} is not a dict")
        at = normalize_at(at)
        try:
            # Round-trip once so the stored text is exactly the canonical form of what reads back
            # (tuples become lists, int keys become strings).
            data = json.loads(canonical_json(payload))
            text = canonical_json(data)
            seq += 1
            digest = row_hash(prev, session_id, seq, at, wall, kind, data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload of {kind!r} is not JSON: {exc}") from None
        rows.append(ChainRow(seq, at, wall, kind, text, prev, digest))
        prev = digest
    return rows


def verify_rows(session_id: str, rows: Iterable[Any], head_seq: int, head_hash: str) -> VerifyResult:
    """Check rows (ordered by seq, with ChainRow's attributes) against the chain and the session's head.

    Names the first bad seq: a changed row, a missing row, rows out of order, a truncated tail.
    """
    expected, prev = 1, genesis_hash(session_id)
    for row in rows:
        if row.seq != expected:
            return _bad(session_id, expected, f"row {expected} is missing (next row is {row.seq!r})")
        if row.prev_hash != prev:
            before = f"row {expected - 1}'s hash" if expected > 1 else "the genesis hash"
            return _bad(session_id, expected, f"row {expected}: prev_hash does not match {before}")
        problem = _row_problem(session_id, row, prev)
        if problem:
            return _bad(session_id, expected, f"row {expected}: {problem}")
        prev = row.hash
        expected += 1
    last = expected - 1
    if head_seq > last:
        return _bad(session_id, last + 1, f"log truncated: head says seq {head_seq}")
    if head_seq < last:
        return _bad(session_id, head_seq + 1, f"row {head_seq + 1} is past the head (head says seq {head_seq})")
    if head_hash != prev:
        return _bad(session_id, last or None, f"head hash does not match row {last}'s hash")
    return VerifyResult(session_id, True)


def _row_problem(session_id: str, row: Any, prev: str) -> str | None:
    try:
        data = json.loads(row.payload)
    except (TypeError, ValueError):
        return "payload is not valid JSON"
    try:
        if canonical_json(data) != row.payload:
            return "payload is not canonical JSON"
        if row_hash(prev, session_id, row.seq, row.at, row.wall, row.kind, data) != row.hash:
            return "hash does not match the row's content"
    except (TypeError, ValueError):
        return "row holds a value that cannot be hashed"
    return None


def _bad(session_id: str, seq: int | None, reason: str) -> VerifyResult:
    return VerifyResult(session_id, False, seq, reason)
