"""The fault and security matrix (docs/faults.md): the cases not proven elsewhere.

Item 6 (a wall-clock step inside a sustain window), 12 (roles only from whoami), 13 (secrets and
control characters), 14 (bad input), the fuzz tests of the ops client's parsing and of the plan
loader, and what the screen does about them.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import sqlite3
import tempfile
import time
import tomllib
import traceback
from datetime import datetime
from pathlib import Path
from unittest import mock

import httpx
import pytest
from faults_support import OPERATOR, QUICK, QUICK_TOML, started
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import console.clock
from console import engine
from console import events as ev
from console.cli import main
from console.clock import ManualClock, ScaledClock, SteppedClock
from console.metrics import SimulatorSource
from console.ops import InvalidRequest, LocalOps, OpsClient, OpsError
from console.plan import Plan, PlanError, load_plan, parse_plan
from console.rules import JITTER
from console.runner import Runner
from console.sim import SimModel
from console.sim_server import Faults, build_app
from sessions.anchor import Anchor
from sessions.errors import StoreError
from sessions.store import EventStore

ROOT = Path(__file__).parents[1]
TOKEN = "tok-5ecret-0123456789abcdef"


@pytest.fixture(autouse=True)
def private_dirs(tmp_path_factory, monkeypatch):
    """Nothing may land in the user's real data, config or log dirs; the log file `main` opens is closed after."""
    import logging

    base = tmp_path_factory.mktemp("xdg")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(base / name.lower()))
    monkeypatch.delenv("CANARY_ANCHOR_KEY", raising=False)
    monkeypatch.delenv("CANARY_OPS_TOKEN", raising=False)
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield base
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


class Breaching(SimulatorSource):
    """The simulator's values; p95_latency 20 s (over the 10 s threshold) from session time `start`."""

    def __init__(self, model: SimModel, plan: Plan, start: float) -> None:
        super().__init__(model, plan)
        self.start = start

    async def sample(self, now: float) -> dict[str, float | None]:
        values = await super().sample(now)
        if now >= self.start:
            values["p95_latency"] = 20.0
        return values


# -- item 6: a wall-clock (NTP) step inside a sustain window ----------------------------------------------


# quick.toml without the cumulative cap, so only the sustain window can roll back
NO_CAP = parse_plan(
    (ROOT / "docs" / "examples" / "quick.toml").read_text().replace("cumulative_cap = 0.5", "cumulative_cap = 1.0")
)


def rollback_moment(monkeypatch, step: float | None) -> tuple[float, float]:
    """(breach start, rollback decision) in session seconds, on the monotonic clock `run` uses (RealClock's
    ScaledClock, 20× faster); with `step`, the wall clock (time.time and datetime.now) jumps by `step` seconds
    2 s into the 5 s sustain window."""
    speed, breach_at = 20.0, 4.0
    clock = ScaledClock(speed)
    plan = NO_CAP
    model = SimModel("healthy", 7, poll_interval=QUICK.poll_interval)
    jumped = {"by": 0.0}
    real_time = time.time

    class SteppedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(real_time() + jumped["by"], tz)

    monkeypatch.setattr(time, "time", lambda: real_time() + jumped["by"])
    monkeypatch.setattr(console.clock, "datetime", SteppedDatetime)
    monkeypatch.setattr("sessions.store.datetime", SteppedDatetime)

    class Source(Breaching):
        async def sample(self, now: float) -> dict[str, float | None]:
            if step is not None and now >= breach_at + 2.0:
                jumped["by"] = step
            return await super().sample(now)

    async def go() -> list[ev.Event]:
        logged: list[ev.Event] = []
        with EventStore(Path(tmp) / "s.db") as store:
            session = store.open_session(deployment=plan.deployment, scenario="", plan=plan.name, operator=OPERATOR)
            runner = Runner(
                plan=plan,
                store=store,
                ops=LocalOps(model, clock),
                metrics=Source(model, plan, breach_at),
                clock=clock,
                session=session,
                listeners=[lambda e, s: logged.append(e)],
            )
            marks = [ev.ItemAttested(at=0.0, item=i.id, operator=OPERATOR) for i in plan.manual_items()]
            await runner.start(started(session, plan), marks)
            assert await asyncio.wait_for(runner.run(), 20) == "rolled_back"
        return logged

    with tempfile.TemporaryDirectory() as tmp:
        logged = asyncio.run(go())
    decided = next(e for e in logged if isinstance(e, ev.RollbackDecided))
    return decided.evidence["window_start"], decided.at


@pytest.mark.parametrize("step", [3600.0, -3600.0], ids=["wall-clock-forward-1h", "wall-clock-back-1h"])
def test_a_wall_clock_step_inside_a_sustain_window_neither_shortens_nor_lengthens_it(monkeypatch, step):
    start, decided = rollback_moment(monkeypatch, step)
    poll = NO_CAP.poll_interval
    sustain = NO_CAP.rule("p95_latency").sustain
    # the breach is seen at the first poll from 4 s; the rollback at the first poll a full sustain after it (the
    # margins allow for a loaded machine: a clock that followed the wall would be 3600 × 20 s off)
    assert 4.0 <= start < 4.0 + 3 * poll
    assert start + sustain - JITTER * poll - 1e-6 <= decided < start + sustain + 2 * poll


def test_the_clocks_follow_monotonic_time_not_the_wall_clock(monkeypatch):
    scaled, stepped, manual = ScaledClock(1.0), SteppedClock(1.0), ManualClock()
    before = [c.now() for c in (scaled, stepped, manual)]
    monkeypatch.setattr(time, "time", lambda: time.monotonic() + 10_000_000_000.0)
    after = [c.now() for c in (scaled, stepped, manual)]
    assert 0 <= after[0] - before[0] < 1 and after[1:] == before[1:]


# -- item 12: roles come from the ops API's whoami, never from the environment -------------------------------

ALLOWED_ENV = {"CANARY_OPS_TOKEN", "CANARY_ANCHOR_KEY", "NO_COLOR", "CI", "SSH_CLIENT"}
# files that may read a variable whose name is not a literal, and why
ANY_NAME = {"console/notify.py": "a notification channel's URL, from the variable its plan names (url_env)"}


def env_reads(tree: ast.AST) -> tuple[list[str], list[int]]:
    """Names read from the environment (literal keys), and the lines of any other use of it."""
    names: list[str] = []
    covered: set[int] = set()  # ids of the `environ` / `getenv` nodes in a recognised read
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args:
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "get" and _is_environ(f.value):
                key, target = node.args[0], f.value
            elif (isinstance(f, ast.Attribute) and f.attr == "getenv") or (
                isinstance(f, ast.Name) and f.id == "getenv"
            ):
                key, target = node.args[0], f
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            key, target = node.slice, node.value
        if key is not None and isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.append(key.value)
            covered.add(id(target))
    other = [
        n.lineno
        for n in ast.walk(tree)
        if (_is_environ(n) or (isinstance(n, ast.Attribute) and n.attr == "getenv")) and id(n) not in covered
    ]
    return names, other


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def test_no_code_reads_a_role_or_any_other_setting_from_the_environment():
    found: dict[str, list[str]] = {}
    for folder in ("console", "sessions", "widgets"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            names, other = env_reads(ast.parse(path.read_text(encoding="utf-8")))
            rel = str(path.relative_to(ROOT))
            assert not other or rel in ANY_NAME, (
                f"{rel}:{other[0]}: the environment is used other than by a literal name"
            )
            for name in names:
                found.setdefault(name, []).append(rel)
    bad = {n: where for n, where in found.items() if n not in ALLOWED_ENV and not n.startswith("TEXTUAL_")}
    assert not bad, f"environment variables read outside the allowed list: {bad}"
    assert "CANARY_OPS_TOKEN" in found  # the scan does see the reads there are


def test_the_scan_catches_a_role_read_from_the_environment():
    code = "import os\nfrom os import environ, getenv\nr = os.environ.get('CANARY_ROLES')\nq = getenv('ROLE')\n"
    code += "s = environ['CANARY_OPS_ROLE']\nt = dict(os.environ)\n"
    names, other = env_reads(ast.parse(code))
    assert sorted(names) == ["CANARY_OPS_ROLE", "CANARY_ROLES", "ROLE"]
    assert other == [6]


class CountingOps(LocalOps):
    def __init__(self, model: SimModel, clock: ManualClock) -> None:
        super().__init__(model, clock)
        self.changes: list[str] = []

    async def promote(self, weight: int, key: str):
        self.changes.append(f"promote {weight}")
        return await super().promote(weight, key)

    async def rollback(self, reason: str, detail: str, key: str):
        self.changes.append("rollback")
        return await super().rollback(reason, detail, key)


ADMIN_CLAIMS = {"CANARY_ROLES": "admin", "CANARY_OPS_ROLE": "admin", "CANARY_ROLE": "admin", "ROLE": "admin"}


def test_a_viewer_claiming_admin_in_the_environment_changes_nothing_and_each_refusal_is_audited(tmp_path, monkeypatch):
    for name, value in ADMIN_CLAIMS.items():
        monkeypatch.setenv(name, value)
    model, clock = (
        SimModel("healthy", 7, poll_interval=QUICK.poll_interval, user="vic", roles=("viewer",)),
        ManualClock(),
    )
    ops = CountingOps(model, clock)

    async def go() -> list[tuple[str, dict]]:
        with EventStore(tmp_path / "s.db", Anchor(tmp_path / "anchor.key")) as store:
            session = store.open_session(deployment=QUICK.deployment, scenario="", plan=QUICK.name, operator="vic@h")
            who = await ops.whoami()  # as `run` and `demo` do: the roles are the ops API's
            runner = Runner(
                plan=QUICK, store=store, ops=ops, metrics=SimulatorSource(model, QUICK), clock=clock, session=session
            )
            start = ev.SessionStarted(
                at=0.0,
                session=session,
                deployment=QUICK.deployment,
                plan=QUICK.name,
                operator="vic@h",
                roles=who.roles,
                auto_promote=True,
            )
            marks = [ev.ItemAttested(at=0.0, item=i.id, operator="vic@h") for i in QUICK.manual_items()]
            await runner.start(start, marks)
            for _ in range(15):
                await runner.tick()
                clock.advance(QUICK.poll_interval)
            assert runner.state.phase == "preflight"  # auto-promote needs admin too
            for intent in (
                ev.PromoteRequested(at=clock.now(), operator="vic@h"),  # P
                ev.PromoteRequested(at=clock.now(), operator="vic@h", weight=50),  # :promote 50
                ev.RollbackRequested(at=clock.now(), operator="vic@h"),  # R
                ev.PromoteRequested(at=clock.now(), operator="ana@h"),  # someone else's name
            ):
                await runner.feed(intent)
            return [(e.kind, e.payload) for e in store.events(session)]

    logged = asyncio.run(go())
    assert ops.changes == []
    refused = [(kind, p["reason"]) for kind, p in logged if kind.endswith("_refused")]
    assert [kind for kind, _ in refused] == [
        "promote_refused",
        "promote_refused",
        "rollback_refused",
        "promote_refused",
    ]
    assert all("needs the admin role from whoami" in r and "has: viewer)" in r for _, r in refused[:3])
    assert "ana@h" in refused[3][1] and "vic@h" in refused[3][1]
    assert logged[0][1]["roles"] == ["viewer"]


async def test_a_viewer_typing_promote_50_sends_it_to_the_conductor_which_refuses_it():
    from tui_support import record, recorded_app

    events = record(until=30 * 60 + 20, roles=("viewer",))
    app = recorded_app(events)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"promote 50", "enter")
        await pilot.pause()
        (intent,) = app.session.submitted
    assert isinstance(intent, ev.PromoteRequested) and intent.weight == 50
    state = engine.initial(app.plan)
    for e in events:
        state = engine.evolve(state, e)
    _, decisions, commands = engine.decide(state, intent)
    assert commands == [] and [type(d) for d in decisions] == [ev.PromoteRefused]
    assert "admin" in decisions[0].reason


async def test_a_viewer_pressing_P_or_R_or_typing_rollback_is_audited():
    from tui_support import record, recorded_app

    app = recorded_app(record(until=30 * 60 + 20, roles=("viewer",)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("P")
        await pilot.press("R")
        await pilot.press("colon", *"rollback", "enter")
        await pilot.pause()
        kinds = [type(e) for e in app.session.submitted]
    assert kinds.count(ev.PromoteRequested) == 1 and kinds.count(ev.RollbackRequested) == 2


# -- item 13: the token's bytes appear nowhere; control characters never forge a line --------------------------


def run_over_http(tmp_path: Path, monkeypatch, capsys, faults: Faults) -> tuple[int, str, str, dict[str, bytes]]:
    """`canary-console run --headless` in-process: OpsClient over ASGI to the simulator app (which wants TOKEN),
    the simulator's values in place of Prometheus (p95 breaching from 5 s), a stepped clock. Returns the exit code,
    stdout, stderr and the store's files (db, -wal, -shm) as they were just before the store closed."""
    import console.ops
    import console.prom

    clock = SteppedClock(5000.0)
    model = SimModel("healthy", 7, poll_interval=QUICK.poll_interval)
    app = build_app(model, clock, token=TOKEN, call_log=tmp_path / "calls.jsonl", faults=faults)
    real_client = console.ops.OpsClient

    class Client(real_client):
        def __init__(self, base_url: str, token: str | None, **options) -> None:
            super().__init__(base_url, token, transport=httpx.ASGITransport(app=app), **options)

    class Prometheus(Breaching):
        def __init__(self, url: str, plan: Plan, **options) -> None:
            super().__init__(model, plan, 5.0)

        async def check(self) -> None:
            return None

    files: dict[str, bytes] = {}
    real_close = EventStore.close

    def close(store: EventStore) -> None:
        for suffix in ("", "-wal", "-shm"):
            side = store.path.with_name(store.path.name + suffix)
            if side.exists():
                files[suffix or "db"] = side.read_bytes()
        real_close(store)

    monkeypatch.setattr(console.ops, "OpsClient", Client)
    monkeypatch.setattr(console.prom, "PrometheusSource", Prometheus)
    monkeypatch.setattr(console.clock, "RealClock", lambda: clock)
    monkeypatch.setattr(EventStore, "close", close)
    monkeypatch.setenv("CANARY_OPS_TOKEN", TOKEN)
    args = ["run", "--headless", "--auto-promote", "--ops-url", "http://ops.internal:8080"]
    args += ["--prometheus-url", "http://prometheus:9090", "--plan", str(ROOT / "docs" / "examples" / "quick.toml")]
    code = main([*args, "--attest-all", "ok", "--db", str(tmp_path / "s.db")])
    out, err = capsys.readouterr()
    return code, out, err, files


def test_the_token_appears_in_no_file_log_output_export_or_anchor(tmp_path, monkeypatch, capsys, private_dirs):
    # a 409 on the first promote and two 500s on the rollback: retries and their errors are logged
    code, out, err, files = run_over_http(tmp_path, monkeypatch, capsys, Faults(fail_next_rollback=2, conflict_next=1))
    assert code == 1 and "finished: rolled back" in out, err
    log = next(private_dirs.rglob("console.log")).read_bytes()
    assert b"ops rollback attempt 1: http 500" in log and b"ops promote attempt 1: http 409" in log
    assert files["db"] and "-wal" in files  # the WAL as it was, before the last connection closed it
    session = EventStore(tmp_path / "s.db").sessions()[0].id
    monkeypatch.setenv("CANARY_ANCHOR_KEY", str(next(private_dirs.rglob("anchor.key"))))
    for fmt in ("md", "json"):
        assert (
            main(["export", session, "--db", str(tmp_path / "s.db"), "--format", fmt, "--plan", str(QUICK_TOML)]) == 0
        )
    assert main(["sessions", "--json", "--db", str(tmp_path / "s.db")]) == 0
    assert main(["audit", "verify", "--db", str(tmp_path / "s.db")]) == 0
    shown, shown_err = capsys.readouterr()
    assert '"rollback_decided"' in shown or "ROLL BACK" in shown or "rolled back" in shown
    every = {
        **{f"store{k}": v for k, v in files.items()},
        "console.log": log,
        "stdout+stderr": (out + err + shown + shown_err).encode(),
        "anchors.log": next(private_dirs.rglob("anchors.log")).read_bytes(),
        "events (replay's input)": json.dumps(
            [e._asdict() for e in EventStore(tmp_path / "s.db").events(session)]
        ).encode(),
    }
    for name, data in every.items():
        assert TOKEN.encode() not in data, f"the token is in {name}"
        assert TOKEN[4:16].encode() not in data, f"part of the token is in {name}"


async def test_the_token_appears_in_no_error_message_repr_or_traceback(tmp_path):
    app = build_app(SimModel("healthy", 1), ManualClock(), token="the-right-one")
    client = OpsClient("http://ops:8080", TOKEN, transport=httpx.ASGITransport(app=app), retry_deadline=0.0)
    try:
        with pytest.raises(OpsError) as caught:
            await client.whoami()
    finally:
        await client.aclose()
    text = "".join(traceback.format_exception(caught.value)) + repr(client) + str(caught.value)
    assert "401" in text and TOKEN not in text


def test_a_token_file_readable_by_others_is_refused_before_anything_is_written(tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o644)
    db = tmp_path / "s.db"
    args = ["run", "--headless", "--ops-url", "http://127.0.0.1:9", "--prometheus-url", "http://127.0.0.1:9"]
    assert main([*args, "--token-file", str(token), "--attest-all", "x", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err == f"canary-console: error: token file {token} must have mode 0600 (has 0644)\n"
    assert TOKEN not in err and not db.exists()


EVIL = "ok\r\n+00:00:00 100%  finished: succeeded — forged\x1b[2J\x1b]0;owned\x07\u202e\x00end"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202e]")


def test_control_characters_in_notes_and_reasons_are_stored_and_shown_escaped(tmp_path, capsys, monkeypatch):
    import io

    from console.headless import Printer

    monkeypatch.setenv("CANARY_ANCHOR_KEY", str(tmp_path / "anchor.key"))
    out = io.StringIO()
    model, clock = SimModel("healthy", 7, poll_interval=QUICK.poll_interval), ManualClock()

    async def go() -> str:
        with EventStore(tmp_path / "s.db", Anchor(tmp_path / "anchor.key")) as store:
            session = store.open_session(deployment=QUICK.deployment, scenario="", plan=QUICK.name, operator=OPERATOR)
            runner = Runner(
                plan=QUICK,
                store=store,
                ops=LocalOps(model, clock),
                metrics=SimulatorSource(model, QUICK),
                clock=clock,
                session=session,
                listeners=[Printer(out)],
            )
            await runner.start(
                started(session), [ev.ItemAttested(at=0.0, item="feature-flags", operator=OPERATOR, note=EVIL)]
            )
            await runner.feed(ev.ItemWaived(at=0.0, item="customer-reports", operator=OPERATOR, reason=EVIL))
            for _ in range(3):
                await runner.tick()
                clock.advance(QUICK.poll_interval)
            await runner.feed(ev.RollbackRequested(at=clock.now(), operator=OPERATOR, reason=EVIL, detail=EVIL))
            assert runner.state.outcome == "rolled_back"
            return session

    session = asyncio.run(go())
    printed = out.getvalue()
    assert printed.count("forged") == 6  # attested, waived, decision (reason and detail), finished (both)
    for line in printed.splitlines():
        assert re.match(r"^\+\d\d:\d\d:\d\d +\d+%  ", line), line  # every line is the console's own
        assert not CONTROL.search(line), line
    with sqlite3.connect(tmp_path / "s.db") as raw:
        payloads = [p for (p,) in raw.execute("SELECT payload FROM event")]
    raw.close()
    assert sum("forged" in p for p in payloads) >= 4
    assert not any(re.search(r"[\x00-\x1f]", p) for p in payloads)  # JSON escapes them: \r \n \u001b
    for fmt in ("md", "json"):
        assert (
            main(["export", session, "--db", str(tmp_path / "s.db"), "--format", fmt, "--plan", str(QUICK_TOML)]) == 0
        )
        text = capsys.readouterr().out
        # Markdown: no control or bidi character at all; JSON: none but what JSON escapes (it is data)
        assert "forged" in text and not (CONTROL if fmt == "md" else re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")).search(
            text
        )
        assert not any(line.startswith("+00:00:00 100%  finished") for line in text.splitlines())


def test_a_forged_line_in_a_command_line_attestation_is_printed_escaped(tmp_path, capsys):
    args = ["demo", "--db", str(tmp_path / "s.db"), "--headless", "--auto-promote", "--speed", "100000"]
    assert main([*args, "--plan", str(QUICK_TOML), "--attest", f"feature-flags={EVIL}"]) == 0
    out = capsys.readouterr().out
    [attested] = [line for line in out.splitlines() if "attested feature-flags" in line]
    assert "\\r\\n+00:00:00 100%  finished: succeeded" in attested and not CONTROL.search(out)
    assert [line for line in out.splitlines() if "finished: succeeded" in line and "forged" not in line] == [
        out.splitlines()[-1]
    ]


# -- item 14: bad input: one line, exit 2, nothing written ----------------------------------------------------


def not_sqlite(path: Path) -> Path:
    path.write_bytes(b"this is not a database\n" * 100)
    return path


def under_a_file(path: Path) -> Path:
    path.write_text("a file")
    return path / "sessions.db"


def unreadable(path: Path) -> Path:
    EventStore(path).close()
    path.chmod(0o000)
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (not_sqlite, "is not a SQLite database"),
        (under_a_file, ": "),  # "not a directory" or "file exists", as the OS says
        pytest.param(
            unreadable,
            "permission denied",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file"),
        ),
    ],
    ids=["not-sqlite", "under-a-file", "mode-000"],
)
def test_an_unusable_db_is_one_line_exit_2_and_nothing_is_written(tmp_path, capsys, make, says):
    db = make(tmp_path / "sessions.db")
    before = db.read_bytes() if db.exists() else None
    code = main(["demo", "--db", str(db), "--headless", "--auto-promote", "--speed", "100000"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("canary-console: error: ") and says in lines[0], err
    assert (db.read_bytes() if db.exists() else None) == before
    assert not db.with_name(db.name + "-wal").exists()


# -- fuzz: any bytes in → a typed error or a valid object ---------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
STATUS = {
    "deployment": "publisher-api",
    "stable_version": "v1",
    "canary_version": "v2",
    "weight": 10,
    "pods": {"ready": 1, "desired": 1},
    "state": "progressing",
}


def near_status() -> st.SearchStrategy[dict]:
    """A valid status body with one field replaced, dropped or added."""
    keys = st.sampled_from([*STATUS, "pods.ready", "extra"])
    return st.tuples(keys, JSON, st.booleans()).map(_mutate)


def _mutate(change: tuple[str, object, bool]) -> dict:
    key, value, drop = change
    body = json.loads(json.dumps(STATUS))
    if key == "pods.ready":
        body["pods"]["ready"] = value
    elif drop and key in body:
        del body[key]
    else:
        body[key] = value
    return body


BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    near_status().map(lambda v: json.dumps(v).encode()),
)
CODES = st.sampled_from([200, 201, 202, 204, 299, 300, 302, 400, 401, 403, 404, 409, 418, 422, 429, 500, 502, 503, 599])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=CODES, body=BODIES, call=st.sampled_from(["whoami", "status", "health", "promote", "rollback"]))
def test_fuzz_any_response_is_a_model_or_an_ops_error(code, body, call):
    async def go() -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(code, content=body))
        client = OpsClient(
            "http://ops:8080", TOKEN, transport=transport, retry_deadline=0.0, rollback_deadline=0.0, rng=lambda: 0.0
        )
        try:
            result = await {
                "whoami": client.whoami,
                "status": client.status,
                "health": lambda: client.health_check("database"),
                "promote": lambda: client.promote(25, "s:promote:25"),
                "rollback": lambda: client.rollback("MANUAL", "x", "s:rollback"),
            }[call]()
        except OpsError as exc:
            assert "\n" not in str(exc) and TOKEN not in str(exc)
        else:
            assert 200 <= code < 300 and result.model_dump()
        finally:
            await client.aclose()

    asyncio.run(go())


PLAN_DATA = tomllib.loads(QUICK_TOML.read_text())
PLAN_KEYS = st.sampled_from(
    [*PLAN_DATA, "stages.0.weight", "stages.0.bake", "rules.0.threshold", "rules.0.sustain", "rules.0.comparator"]
    + ["rules.6.by", "rules.6.series", "items.0.handling", "items.0.target", "shown.0.unit", "items.2.phase"]
)


def _plan_mutation(change: tuple[str, object, bool]) -> dict:
    key, value, drop = change
    data = json.loads(json.dumps(PLAN_DATA))
    *path, last = key.split(".")
    target = data
    for part in path:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last_key: object = int(last) if isinstance(target, list) else last
    if drop and not isinstance(target, list):
        target.pop(last_key, None)
    else:
        target[last_key] = value
    return data


@settings(max_examples=300, deadline=None)
@given(st.tuples(PLAN_KEYS, JSON | st.dates() | st.times(), st.booleans()).map(_plan_mutation))
def test_fuzz_any_plan_data_is_a_plan_or_a_plan_error(data):
    with mock.patch("console.plan.tomllib.loads", return_value=data):
        try:
            plan = parse_plan("", "fuzz.toml")
        except PlanError as exc:
            assert str(exc).startswith("fuzz.toml: ") and "\n" not in str(exc)
        else:
            assert plan.stages[-1].weight == 100


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzz_any_plan_file_bytes_are_a_plan_or_a_plan_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("plan") / "plan.toml"
    path.write_bytes(raw)
    try:
        load_plan(path)
    except PlanError as exc:
        assert str(exc).startswith(f"cannot read plan {path}") or str(exc).startswith(str(path))


# -- what the screen does about faults ----------------------------------------------------------------------------


async def test_the_screen_says_when_the_store_cannot_write_and_when_it_can_again(tmp_path, monkeypatch):
    from textual.widgets import Static
    from tui_support import live_app

    real_append = EventStore.append
    failing = {"on": False}

    def append(self, session, records):
        if failing["on"]:
            raise StoreError(f"cannot append in {self.path}: database is locked")
        return real_append(self, session, records)

    monkeypatch.setattr(EventStore, "append", append)
    app = live_app(tmp_path, speed=20.0)

    def shown() -> str:
        return " ".join(str(w.render()) for w in app.screen.query(Static) if w.display and "store" in str(w.render()))

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        failing["on"] = True
        await pilot.pause(0.6)
        assert "store unavailable" in shown() and "database is locked" in shown()
        failing["on"] = False
        await pilot.pause(0.6)
        assert "store unavailable" not in shown()


async def test_the_guard_still_rolls_back_while_the_controls_are_locked(tmp_path):
    """Item 15: the idle lock only locks this console's keys; the runner decides and rolls back meanwhile."""
    from console.app import CanaryApp
    from console.commands import Rollout
    from console.live import LiveSession

    async def prepare() -> Rollout:
        clock = SteppedClock(20.0)
        model = SimModel("healthy", 7, poll_interval=QUICK.poll_interval)
        marks = [(i.id, "test") for i in QUICK.manual_items()]
        return Rollout(QUICK, LocalOps(model, clock), Breaching(model, QUICK, 3.0), clock, OPERATOR, ["admin"], marks)

    app = CanaryApp(LiveSession(prepare, db=tmp_path / "s.db", auto_promote=True), QUICK, speed=20.0)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.main
        now = [0.0]
        screen.idle.clock = lambda: now[0]
        screen.idle.touch()
        now[0] = screen.idle.after + 1
        screen._check_idle()
        assert screen.idle.locked
        for _ in range(100):
            await pilot.pause(0.05)
            if screen.state.outcome:
                break
        assert screen.state.outcome == "rolled_back" and screen.state.rollback.by == "conductor"
        assert screen.idle.locked and screen.check_action("promote", ()) is False


# -- items 1 and 4: what reaches the session log when the ops API refuses or fails -------------------------------


class RefusingOps(LocalOps):
    """Every promote is refused with a 422, as OpsClient reports it (no retry: the request itself is wrong)."""

    calls = 0

    async def promote(self, weight: int, key: str):
        self.calls += 1
        raise InvalidRequest(f"ops API rejected POST /internal/ops/canary/promote (422): weight {weight} not allowed")


def refused_rollout(tmp_path: Path, *, auto: bool, polls: int = 10) -> tuple[RefusingOps, list, str]:
    import io

    from console.headless import Printer

    model, clock = SimModel("healthy", 7, poll_interval=QUICK.poll_interval), ManualClock()
    ops, out = RefusingOps(model, clock), io.StringIO()

    async def go() -> list:
        with EventStore(tmp_path / "s.db") as store:
            session = store.open_session(deployment=QUICK.deployment, scenario="", plan=QUICK.name, operator=OPERATOR)
            runner = Runner(
                plan=QUICK,
                store=store,
                ops=ops,
                metrics=SimulatorSource(model, QUICK),
                clock=clock,
                session=session,
                listeners=[Printer(out)],
            )
            start = ev.SessionStarted(**{**started(session).payload(), "at": 0.0, "auto_promote": auto})
            await runner.start(
                start, [ev.ItemAttested(at=0.0, item=i.id, operator=OPERATOR) for i in QUICK.manual_items()]
            )
            await runner.tick()
            if not auto:
                await runner.feed(ev.PromoteRequested(at=clock.now(), operator=OPERATOR))
            for _ in range(polls):
                clock.advance(QUICK.poll_interval)
                await runner.tick()
            return [(e.kind, e.payload) for e in store.events(session)]

    return ops, asyncio.run(go()), out.getvalue()


def test_a_promotion_refused_with_422_is_not_retried_and_is_audited_and_shown(tmp_path):
    ops, logged, printed = refused_rollout(tmp_path, auto=False)
    assert ops.calls == 1 and model_weight_untouched(logged)
    [failed] = [p for kind, p in logged if kind == "promote_failed"]
    assert failed["weight"] == 10 and "(422): weight 10 not allowed" in failed["error"]
    assert "promotion to 10% failed: ops API rejected POST /internal/ops/canary/promote (422)" in printed


def model_weight_untouched(logged: list) -> bool:
    return not [p for kind, p in logged if kind == "promoted"]


def test_auto_promote_stops_after_a_422_and_says_why(tmp_path):
    ops, logged, _ = refused_rollout(tmp_path, auto=True)
    assert ops.calls == 1
    assert any(kind == "paused" and "422" in p["reason"] for kind, p in logged)


def test_every_rollback_attempt_is_in_the_session_log(tmp_path, monkeypatch, capsys):
    code, _, err, _ = run_over_http(tmp_path, monkeypatch, capsys, Faults(fail_next_rollback=2))
    assert code == 1, err
    events = EventStore(tmp_path / "s.db").events(EventStore(tmp_path / "s.db").sessions()[0].id)
    attempts = [e.payload for e in events if "attempt" in e.kind]
    assert [a.get("outcome") for a in attempts if a.get("action") == "rollback"] == ["http 500", "http 500", "ok"]


def test_every_test_named_in_docs_faults_md_exists():
    doc = (ROOT / "docs" / "faults.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", doc))
    assert len(named) > 60
    missing = []
    for file, name in sorted(named):
        tree = ast.parse((ROOT / file).read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        if name not in defined:
            missing.append(f"{file}::{name}")
    assert not missing, missing
