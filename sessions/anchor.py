"""The chain head, anchored outside the database file.

The hash chain shows a changed row, but not a log cut short, nor a chain rebuilt with fresh
hashes: whoever can write the file can do either. So after every append (and when a session
closes) the store writes one line to `anchors.log` beside a key file, both outside the
database: the session id, the head seq and hash, and an HMAC-SHA256 of them under a key of
32 random bytes. `audit verify` checks the database against the session's anchors.

The key and the log are mode 0600 in the user config dir (`CANARY_ANCHOR_KEY` names another
key file; the log is beside it). They guard against anyone who can change the database but
not these two files: a copy, a backup, an editor of the file. Whoever can also write the key
can forge anchors.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

KEY_BYTES = 32


class AnchorLine(NamedTuple):
    session: str
    seq: int
    hash: str
    ok: bool  # its HMAC is right


@dataclass(frozen=True)
class AnchorCheck:
    """The database against a session's anchors: `bad_seq` is the first row they do not vouch for."""

    ok: bool
    bad_seq: int | None = None
    reason: str = ""
    anchored: bool = True  # False: no anchor was ever written for the session


def default_key_path() -> Path:
    configured = os.environ.get("CANARY_ANCHOR_KEY")  # a literal: tests/test_faults.py scans for env reads
    if configured:
        return Path(configured)
    from platformdirs import user_config_path

    return user_config_path("canary-console") / "anchor.key"


class Anchor:
    """Writes and reads HMAC anchors of chain heads; the key file is created on first use."""

    def __init__(self, key_path: Path | None = None) -> None:
        self.key_path = Path(key_path) if key_path is not None else default_key_path()
        self.log_path = self.key_path.with_name("anchors.log")
        self._key: bytes | None = None
        self._fd: int | None = None

    # -- writing -------------------------------------------------------------------------

    def record(self, session: str, seq: int, head_hash: str) -> None:
        """Append the anchor of a head; a failure is logged, never raised (the commit stands)."""
        try:
            if self._fd is None:
                self._fd = _open_private(self.log_path, os.O_WRONLY | os.O_APPEND)
            # one write of one short line on an O_APPEND file: lines of two writers never mix
            os.write(self._fd, f"{session} {seq} {head_hash} {self._mac(session, seq, head_hash)}\n".encode())
        except OSError as exc:
            log.error("cannot write the chain anchor to %s: %s", self.log_path, exc.strerror or exc)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- reading -------------------------------------------------------------------------

    def lines(self, session: str | None = None) -> Iterator[AnchorLine]:
        """The anchors in the log (of `session` only, when given), oldest first; a bad line counts as forged."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        for raw in text.splitlines():
            parts = raw.split(" ")
            if session is not None and parts[0] != session:
                continue
            if len(parts) != 4 or not parts[1].isdigit():
                yield AnchorLine(parts[0], 0, "", False)
                continue
            name, seq, head_hash, mac = parts
            ok = hmac.compare_digest(mac, self._mac(name, int(seq), head_hash))
            yield AnchorLine(name, int(seq), head_hash, ok)

    def by_session(self, session: str | None = None) -> dict[str, list[AnchorLine]]:
        found: dict[str, list[AnchorLine]] = {}
        for a in self.lines(session):
            found.setdefault(a.session, []).append(a)
        return found

    @staticmethod
    def check(lines: list[AnchorLine], hashes: dict[int, str]) -> AnchorCheck:
        """Check a session's rows (seq → hash, already chain-verified) against its anchor lines."""
        forged = [a for a in lines if not a.ok]
        if forged:
            seq = forged[0].seq
            return AnchorCheck(False, seq or None, f"the anchor for seq {seq} has a bad HMAC: anchors.log was forged")
        anchors = sorted({(a.seq, a.hash) for a in lines})
        if not anchors:
            return AnchorCheck(True, reason="no anchor: written before anchors existed?", anchored=False)
        last = max(hashes, default=0)
        good = 0
        for seq, head_hash in anchors:
            found = hashes.get(seq)
            if found == head_hash:
                good = seq
                continue
            says = f"log truncated or rebuilt: anchor says seq {seq} hash {head_hash[:12]}…"
            if found is None:
                return AnchorCheck(False, last + 1, f"{says}, the log ends at seq {last}")
            return AnchorCheck(False, good + 1, f"{says}, row {seq} has {found[:12]}…")
        return AnchorCheck(True, reason=f"anchored at seq {anchors[-1][0]}")

    # -- the key ---------------------------------------------------------------------------

    def _mac(self, session: str, seq: int, head_hash: str) -> str:
        message = f"{session}\n{seq}\n{head_hash}".encode()
        return hmac.new(self._load_key(), message, hashlib.sha256).hexdigest()

    def _load_key(self) -> bytes:
        if self._key is None:
            self._key = _read_or_create_key(self.key_path)
        return self._key


def _open_private(path: Path, flags: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def _read_or_create_key(path: Path) -> bytes:
    """The key in `path`; a new random one (written whole, then linked in place) if there is none."""
    for _ in range(50):
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = b""
        if len(key) == KEY_BYTES:
            return key
        if key:
            raise OSError(f"anchor key {path} is not {KEY_BYTES} bytes")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made the key first: use theirs
        except FileExistsError:
            time.sleep(0.01)
        finally:
            os.unlink(tmp)
    raise OSError(f"cannot create anchor key {path}")
