"""Team communication: milestone notifications, emergency contacts, the review flag.

The receiver is the simulator's `/sim/webhook`, served over real HTTP by uvicorn in a thread
on a loopback port. Rollouts run on a ManualClock (session time moves only with polls), so
a notifier that held the runner up would show as a later decision, never as a flaky timing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from prom_helpers import free_port

from console import events as ev
from console.cli import main
from console.clock import ManualClock, ScaledClock
from console.contacts import calls
from console.engine import evolve, initial
from console.headless import line
from console.metrics import SimulatorSource
from console.milestones import Milestones
from console.notify import Notifier, Settings, Target, notifier_for, targets
from console.ops import LocalOps
from console.plan import PlanError, parse_plan
from console.plan_view import plan_json
from console.runner import Runner
from console.sim import SimModel
from console.sim_server import build_app
from console.view import contacts_rows
from sessions.export import build
from sessions.export_render import markdown, to_json
from sessions.review import review_reasons
from sessions.store import EventStore
from widgets.contacts import contacts_text

ROOT = Path(__file__).resolve().parents[1]
QUICK_TOML = (ROOT / "docs" / "examples" / "quick.toml").read_text(encoding="utf-8")
SECRET = "T0001/B0002/s3cr3t-slack-token"
OPERATOR = "ana@bastion-1"
BREACH_AT = 4.0  # session seconds: the "db" rollout's DB failures go bad from here
COMMS = """
[[channels]]
name = "ops-alerts"
kind = "slack"
url_env = "TEST_SLACK_URL"

[[channels]]
name = "deploy-hook"
kind = "webhook"
url_env = "TEST_HOOK_URL"

[[contacts]]
name = "Primary On-Call"
role = "primary-oncall"
channel = "Slack #ops-alerts or PagerDuty"
on_rollback = true

[[contacts]]
name = "Database Team"
role = "database"
channel = "Slack #database-support"
rules = ["db_connection_failures"]

[[contacts]]
name = "Security Team"
role = "security"
channel = "Slack #security-incidents"
rules = ["webhook_signatures"]
"""
PLAN = parse_plan(
    QUICK_TOML.replace('validation = "15s"', 'validation = "3s"').replace('bake = "10s"', 'bake = "3s"') + COMMS,
    "test plan",
)
FAST = Settings(queue_size=20, timeout=1.0, attempts=4, backoff=0.02, deadline=3.0)
HEALTHY = ["started", "promoted", "promoted", "promoted", "promoted", "promoted", "succeeded"]
ROLLED_BACK = ["started", "promoted", "breach", "rollback", "rolled_back"]


# -- the receiver -------------------------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    server: object

    def clear(self) -> None:
        self.server.received.clear()
        self.server.faults.update({"webhook_fail_next": 0, "webhook_slow_seconds": 0.0})

    def received(self) -> list[dict]:
        return httpx.get(f"{self.url}/sim/webhook", timeout=5).json()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    app = build_app(SimModel("healthy"), ScaledClock(1.0), token=None)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the simulator did not start"
    try:
        yield Receiver(f"http://127.0.0.1:{port}", app.state.sim)
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def hook(receiver: Receiver) -> Iterator[Receiver]:
    receiver.clear()
    yield receiver
    receiver.clear()


def channels(receiver_url: str, slack: str | None = None) -> list[Target]:
    env = {
        "TEST_SLACK_URL": slack or f"{receiver_url}/sim/webhook/{SECRET}",
        "TEST_HOOK_URL": f"{receiver_url}/sim/webhook",
    }
    return targets(PLAN, env)


# -- a rollout on a manual clock ------------------------------------------------------------------


class DbSource(SimulatorSource):
    """The simulator's samples; with `breach`, DB connection failures at 20% from BREACH_AT."""

    def __init__(self, model: SimModel, breach: bool) -> None:
        super().__init__(model, PLAN)
        self.breach = breach

    async def sample(self, now: float) -> dict[str, float | None]:
        values = await super().sample(now)
        if self.breach and now >= BREACH_AT:
            values["db_connection_failures"] = 0.2
        return values


@dataclass
class Rollout:
    outcome: str
    session: str
    events: list[ev.Event]
    lines: list[str]
    run_seconds: float  # real time runner.run() took


async def rollout(store: EventStore, notifier: Notifier | None, *, breach: bool = False) -> Rollout:
    clock = ManualClock()
    model = SimModel("healthy", 7, poll_interval=PLAN.poll_interval)
    session = store.open_session(deployment=PLAN.deployment, scenario="", plan=PLAN.name, operator=OPERATOR)
    lines: list[str] = []
    runner = Runner(
        plan=PLAN,
        store=store,
        ops=LocalOps(model, clock),
        metrics=DbSource(model, breach),
        clock=clock,
        session=session,
        listeners=[lambda e, s: lines.append(line(e, s) or "")],
    )
    if notifier is not None:
        notifier.attach(runner)
    started = ev.SessionStarted(
        at=0.0,
        session=session,
        deployment=PLAN.deployment,
        plan=PLAN.name,
        operator=OPERATOR,
        roles=["admin"],
        auto_promote=True,
    )
    marks = [ev.ItemAttested(at=0.0, item=i.id, operator=OPERATOR) for i in PLAN.manual_items()]
    began = time.monotonic()
    try:
        await runner.start(started, marks)
        outcome = await asyncio.wait_for(runner.run(), timeout=30)
        run_seconds = time.monotonic() - began
        if notifier is not None:
            await notifier.finish()
    finally:
        if notifier is not None:
            await notifier.aclose()
    events = [ev.from_record(*r) for r in store.records(session)]
    return Rollout(outcome, session, events, [x for x in lines if x], run_seconds)


def kinds(events: list[ev.Event], kind: type[ev.Event]) -> list[ev.Event]:
    return [e for e in events if isinstance(e, kind)]


def milestones_of(bodies: list[dict], kind: str) -> list[str]:
    """The milestones a channel received, in order: Slack bodies carry only text."""
    if kind == "webhook":
        return [b["event"] for b in bodies if "event" in b]
    return [b["text"] for b in bodies if set(b) == {"text"}]


# -- the expected messages, in order, each once ----------------------------------------------------


async def test_a_healthy_rollout_tells_each_milestone_once_in_order(hook, tmp_path):
    with EventStore(tmp_path / "s.db") as store:
        r = await rollout(store, Notifier(PLAN, channels(hook.url), settings=FAST))
        assert r.outcome == "succeeded"
        bodies = hook.received()
        assert milestones_of(bodies, "webhook") == HEALTHY
        slack = milestones_of(bodies, "slack")
        assert len(slack) == len(HEALTHY)
        assert "started by ana@bastion-1: v1.41.0 → v1.42.0" in slack[0]
        assert [w for w in (b.get("weight") for b in bodies if "event" in b and b["event"] == "promoted")] == [
            10,
            25,
            50,
            75,
            100,
        ]
        final = [b for b in bodies if b.get("event") == "succeeded"][0]
        assert final["session"] == r.session and final["deployment"] == "publisher-api"
        assert (final["review_required"], final["review_reasons"]) == (False, [])
        assert "SUCCEEDED after validation" in slack[-1] and "no review needed" in slack[-1]
        sent = kinds(r.events, ev.NotificationSent)
        assert sorted((e.channel, e.milestone) for e in sent) == sorted(
            [(c, m) for c in ("ops-alerts", "deploy-hook") for m in HEALTHY]
        )
        assert all(e.attempts == 1 for e in sent)
        assert not kinds(r.events, ev.NotificationFailed)
        info = store.session(r.session)
        assert info.outcome == "succeeded"  # closed once the last outcome was logged
        assert isinstance(r.events[-1], ev.NotificationSent)


async def test_a_rolled_back_rollout_tells_breach_rollback_and_whom_to_call(hook, tmp_path):
    with EventStore(tmp_path / "s.db") as store:
        r = await rollout(store, Notifier(PLAN, channels(hook.url), settings=FAST), breach=True)
        assert r.outcome == "rolled_back"
        bodies = [b for b in hook.received() if "event" in b]
        assert [b["event"] for b in bodies] == ROLLED_BACK
        assert milestones_of(hook.received(), "slack")[2].count("db_connection_failures pending") == 1
        by = {b["event"]: b for b in bodies}
        assert by["breach"]["call"] == "Database Team (Slack #database-support)"
        rollback = by["rollback"]
        assert "ROLLING BACK (SLO_VIOLATION, automatic)" in rollback["text"]
        assert "breaching samples" in rollback["text"]  # the evidence, summarised
        assert (
            rollback["call"]
            == "Primary On-Call (Slack #ops-alerts or PagerDuty), Database Team (Slack #database-support)"
        )
        final = by["rolled_back"]
        assert final["review_required"] is True
        assert final["review_reasons"][0].startswith("rolled back (SLO_VIOLATION, automatic): db_connection_failures")
        assert "post-deployment review required: rolled back" in final["text"]
        decided = kinds(r.events, ev.RollbackDecided)[0]
        assert "call: Primary On-Call (Slack #ops-alerts or PagerDuty), Database Team" in next(
            x for x in r.lines if "ROLL BACK" in x
        )
        assert decided.by == "conductor"
        assert len(kinds(r.events, ev.NotificationSent)) == 2 * len(ROLLED_BACK)


# -- the receiver down or slow -------------------------------------------------------------------


async def test_a_dead_receiver_does_not_slow_the_rollback_and_every_failure_is_logged(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with EventStore(tmp_path / "a.db") as store:
        baseline = await rollout(store, None, breach=True)
    with EventStore(tmp_path / "b.db") as store:
        settings = Settings(queue_size=20, timeout=0.5, attempts=50, backoff=0.02, deadline=0.6)
        began = time.monotonic()
        r = await rollout(store, Notifier(PLAN, channels(dead), settings=settings), breach=True)
        total = time.monotonic() - began
    assert r.outcome == baseline.outcome == "rolled_back"
    assert [e.at for e in kinds(r.events, ev.RollbackDecided)] == [
        e.at for e in kinds(baseline.events, ev.RollbackDecided)
    ]
    assert [e.at for e in kinds(r.events, ev.Finished)] == [e.at for e in kinds(baseline.events, ev.Finished)]
    assert r.run_seconds < 5.0  # the rollout itself never waits on a message
    failed = kinds(r.events, ev.NotificationFailed)
    assert sorted((e.channel, e.milestone) for e in failed) == sorted(
        [(c, m) for c in ("ops-alerts", "deploy-hook") for m in ROLLED_BACK]
    )
    first = [e for e in failed if e.channel == "deploy-hook"][0]
    assert 2 <= first.attempts < 50 and "deadline of 0.6s reached" in first.error  # retried, then the deadline
    assert total < 0.6 + 0.5 + 3.0  # every message gave up by its deadline
    shown = [x for x in r.lines if "NOTIFICATION FAILED" in x]
    assert len(shown) == len(failed) and "(started) after" in shown[0]


async def test_a_slow_receiver_times_out_and_retries_stop_at_the_deadline(hook, tmp_path):
    hook.server.faults.update({"webhook_slow_seconds": 2.0})
    settings = Settings(queue_size=20, timeout=0.2, attempts=20, backoff=0.05, deadline=0.7)
    notifier = Notifier(PLAN, channels(hook.url)[1:], settings=settings)
    with EventStore(tmp_path / "s.db") as store:
        baseline = await rollout(store, None, breach=True)
        began = time.monotonic()
        r = await rollout(store, notifier, breach=True)
        total = time.monotonic() - began
    assert [e.at for e in kinds(r.events, ev.RollbackDecided)] == [
        e.at for e in kinds(baseline.events, ev.RollbackDecided)
    ]
    failed = kinds(r.events, ev.NotificationFailed)
    assert [e.milestone for e in failed] == ROLLED_BACK
    assert 2 <= failed[0].attempts < 20 and failed[0].error.startswith("no answer within")
    assert "deadline of 0.7s reached" in failed[0].error
    assert total < 0.7 + 0.2 + 2.0


async def test_a_full_queue_is_a_logged_failure_not_a_silent_drop(hook, tmp_path):
    hook.server.faults.update({"webhook_slow_seconds": 0.3})
    settings = Settings(queue_size=1, timeout=1.0, attempts=1, backoff=0.01, deadline=2.0)
    with EventStore(tmp_path / "s.db") as store:
        r = await rollout(store, Notifier(PLAN, channels(hook.url)[1:], settings=settings))
    failed = kinds(r.events, ev.NotificationFailed)
    sent = kinds(r.events, ev.NotificationSent)
    assert failed and all(e.attempts == 0 and "already waiting" in e.error for e in failed)
    assert sorted(e.milestone for e in failed + sent) == sorted(HEALTHY)


async def test_a_refusing_receiver_is_not_retried_forever(tmp_path):
    """A 4xx is final (another try gets the same answer); a 5xx is retried. httpx's MockTransport
    stands in for a receiver whose answers the test chooses."""
    answers = iter([503, 503, 200] + [404] * 20)
    seen: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(next(answers))

    notifier = Notifier(PLAN, channels("http://receiver")[1:], settings=FAST, transport=httpx.MockTransport(handle))
    with EventStore(tmp_path / "s.db") as store:
        r = await rollout(store, notifier)
    sent, failed = kinds(r.events, ev.NotificationSent), kinds(r.events, ev.NotificationFailed)
    assert (sent[0].milestone, sent[0].attempts) == ("started", 3)
    assert [(e.milestone, e.attempts, e.error) for e in failed][0] == ("promoted", 1, "HTTP 404")
    assert len(seen) == 3 + len(HEALTHY) - 1


# -- the Slack URL is a secret -----------------------------------------------------------------------


async def test_the_slack_url_never_reaches_the_log_the_store_or_the_export(hook, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    refused = f"http://127.0.0.1:{free_port()}/services/{SECRET}"  # fails: the error text must not carry it
    good = channels(hook.url)[0]
    notifier = Notifier(PLAN, [good, Target("deploy-hook", "webhook", refused)], settings=FAST)
    db = tmp_path / "s.db"
    store = EventStore(db)
    try:
        r = await rollout(store, notifier, breach=True)
        assert kinds(r.events, ev.NotificationFailed) and kinds(r.events, ev.NotificationSent)
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                assert SECRET.encode() not in path.read_bytes(), path
        info, stored = store.session(r.session), store.events(r.session)
    finally:
        store.close()
    assert SECRET.encode() not in db.read_bytes()
    report = build(info, stored, PLAN)
    assert SECRET not in to_json(report) and SECRET not in markdown(report)
    assert {m["channel"] for m in report["communication"]} == {"ops-alerts", "deploy-hook"}
    assert SECRET not in "\n".join(r.lines) + caplog.text + capsys.readouterr().err
    assert SECRET not in repr(good) and SECRET not in repr(notifier.targets)


def test_a_url_in_the_plan_is_kept_secret():
    plan = parse_plan(
        QUICK_TOML + f'[[channels]]\nname = "x"\nkind = "slack"\nurl = "https://hooks.example/{SECRET}"\n'
    )
    assert SECRET not in plan_json(plan) and SECRET not in repr(plan)
    with pytest.raises(PlanError) as bad:
        parse_plan(QUICK_TOML + f'[[channels]]\nname = "x"\nkind = "slack"\nurl = "ftp://{SECRET}"\n', "p.toml")
    assert SECRET not in str(bad.value) and "url must start with https://" in str(bad.value)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ('[[channels]]\nname = "x"\nkind = "slack"\n', "channels.0: channel x: give either url or url_env"),
        (
            '[[channels]]\nname = "x"\nkind = "webhook"\nurl = "https://a"\nurl_env = "B"\n',
            "channels.0: channel x: give either url or url_env",
        ),
        ('[[channels]]\nname = "x"\nkind = "pager"\nurl_env = "B"\n', "channels.0.kind"),
        ('[[channels]]\nname = "x"\nkind = "slack"\nurl_env = "A"\n' * 2, "channels.1: duplicate name 'x'"),
        (
            '[[contacts]]\nname = "A"\nrole = "database"\nchannel = "c"\nrules = ["db"]\n',
            "contacts.0.rules: unknown rule 'db'",
        ),
        ('[[contacts]]\nname = "A"\nrole = "cto"\nchannel = "c"\n', "contacts.0.role"),
    ],
)
def test_channels_and_contacts_are_checked(extra, error):
    with pytest.raises(PlanError, match=error.replace(".", r"\.")):
        parse_plan(QUICK_TOML + extra, "p.toml")


def test_the_default_plan_has_the_checklist_contacts_and_sends_nothing_unless_configured(monkeypatch):
    from console.plan import default_plan

    plan = default_plan()
    assert [(c.name, c.role, c.channel) for c in plan.contacts] == [
        ("Primary On-Call", "primary-oncall", "Slack #ops-alerts or PagerDuty"),
        ("Database Team", "database", "Slack #database-support"),
        ("Security Team", "security", "Slack #security-incidents"),
        ("Platform Engineering", "platform", "Slack #platform-eng"),
    ]
    assert all(c.url is None and c.url_env for c in plan.channels)
    monkeypatch.delenv("CANARY_SLACK_WEBHOOK", raising=False)
    monkeypatch.delenv("CANARY_NOTIFY_WEBHOOK", raising=False)
    assert targets(plan) == []
    monkeypatch.setenv("CANARY_NOTIFY_WEBHOOK", "https://hooks.example/x")
    assert [t.name for t in targets(plan)] == ["deploy-webhook"]
    assert notifier_for(plan, {"no_notify": True}).targets == []  # --no-notify
    assert notifier_for(plan, {}).targets != []


def test_no_notify_is_an_option_of_demo_and_run(tmp_path, capsys, monkeypatch):
    """`--no-notify` parses, and a headless demo with it sends nothing even with a channel configured."""
    monkeypatch.setenv("CANARY_NOTIFY_WEBHOOK", f"http://127.0.0.1:{free_port()}/hook")
    db = tmp_path / "s.db"
    args = ["--db", str(db), "demo", "--headless", "--auto-promote", "--speed", "100000", "--no-notify"]
    assert main([*args, "--scenario", "error-spike"]) == 1
    assert "notif" not in capsys.readouterr().out.lower()
    store = EventStore(db)
    try:
        sid = store.sessions()[0].id
        assert not [e for e in store.events(sid) if e.kind.startswith("notification")]
        assert store.session(sid).meta["no_notify"] is True  # a resume keeps it
    finally:
        store.close()


# -- breach episodes ------------------------------------------------------------------------------


def changed(at: float, series: str, verdict: str, previous: str) -> ev.RuleChanged:
    return ev.RuleChanged(
        at=at, series=series, rule=series.split(":")[0], verdict=verdict, previous=previous, value=0.0, detail=""
    )


def test_a_breach_is_told_once_per_episode_not_every_poll():
    m = Milestones(PLAN)
    s = initial(PLAN)
    s = evolve(s, ev.SessionStarted(at=0, session="S", deployment="d", plan="p", operator="o", roles=["admin"]))
    m(ev.SessionResumed(at=0, operator="o", roles=[], gap=0), s)  # nothing to announce
    said = []
    flaps = [
        changed(10, "error_rate", "pending", "ok"),
        changed(11, "error_rate", "ok", "pending"),
        changed(12, "error_rate", "pending", "ok"),  # back within the window (5s): same episode
        changed(14, "error_rate", "breached", "pending"),  # pending → breached: same episode
        changed(15, "error_rate", "ok", "breached"),
        changed(30, "error_rate", "pending", "ok"),  # ok for 15s ≥ 5s: a new episode
        changed(30, "db_connection_failures", "pending", "ok"),
    ]
    for e in flaps:
        said += [(msg.milestone, e.at, e.series) for msg in m(e, s)]
    assert said == [
        ("breach", 10, "error_rate"),
        ("breach", 30, "error_rate"),
        ("breach", 30, "db_connection_failures"),
    ]


# -- the review flag ------------------------------------------------------------------------------


def test_review_reasons_for_each_case():
    assert review_reasons([changed(1, "error_rate", "ok", "unknown")]) == []
    rollback = ev.RollbackDecided(
        at=5,
        reason="SLO_VIOLATION",
        detail="db 20% > 5%",
        key="k",
        by="conductor",
        evidence={"series": "db_connection_failures"},
    )
    events = [
        changed(1, "db_connection_failures", "pending", "ok"),
        changed(2, "publish_success:tiktok", "pending", "ok"),
        changed(3, "publish_success:tiktok", "breached", "pending"),  # a hold rule: no rollback
        changed(4, "error_rate", "pending", "ok"),
        changed(4.5, "error_rate", "ok", "pending"),  # recovered
        changed(5, "db_connection_failures", "breached", "pending"),
        rollback,
        ev.ItemWaived(at=6, item="feature-flags", operator="ana", reason="no flags in this release"),
        ev.NotificationFailed(at=7, channel="ops-alerts", milestone="rollback", error="HTTP 503", attempts=4),
    ]
    assert review_reasons(events) == [
        "rolled back (SLO_VIOLATION, automatic): db 20% > 5%",
        "publish_success:tiktok went breached without causing a rollback",
        "error_rate went pending without causing a rollback",
        "waived feature-flags (ana): no flags in this release",
        "notification rollback to ops-alerts not delivered after 4 attempt(s): HTTP 503",
    ]
    manual = ev.RollbackDecided(at=1, reason="MANUAL", detail="customers", key="k", by="ana", evidence={})
    assert review_reasons([manual]) == ["rolled back (MANUAL, by ana): customers"]


async def test_sessions_and_the_export_show_the_review_and_every_message(hook, tmp_path, capsys):
    db = tmp_path / "s.db"
    with EventStore(db) as store:
        healthy = await rollout(store, Notifier(PLAN, channels(hook.url), settings=FAST))
        dead = Target("deploy-hook", "webhook", f"http://127.0.0.1:{free_port()}/hook")
        settings = Settings(queue_size=20, timeout=0.2, attempts=2, backoff=0.01, deadline=0.5)
        broken = await rollout(store, Notifier(PLAN, [dead], settings=settings))
        info, stored = store.session(broken.session), store.events(broken.session)
    assert main(["--db", str(db), "sessions", "--json"]) == 0
    listed = {s["id"]: s for s in json.loads(capsys.readouterr().out)}
    assert (listed[healthy.session]["review_required"], listed[healthy.session]["review_reasons"]) == (False, [])
    assert listed[broken.session]["review_required"] is True
    assert listed[broken.session]["review_reasons"][0].startswith("notification started to deploy-hook not delivered")
    assert main(["--db", str(db), "sessions"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "REVIEW" in table[0]
    assert " yes " in next(x for x in table if x.startswith(broken.session))
    assert " no " in next(x for x in table if x.startswith(healthy.session))
    report = build(info, stored, PLAN)
    assert report["review"]["required"] is True
    assert [(m["channel"], m["milestone"], m["status"]) for m in report["communication"]] == [
        ("deploy-hook", m, "failed") for m in HEALTHY
    ]
    md = markdown(report)
    assert "## Post-deployment review" in md and "**Required**, because:" in md
    assert "## Communication" in md and "| deploy-hook | started | ✖ failed | 2 |" in md


# -- the contacts panel -----------------------------------------------------------------------------


def fold(values: list[dict[str, float]], *extra: ev.Event):
    s = initial(PLAN)
    s = evolve(s, ev.SessionStarted(at=0, session="S", deployment="d", plan="p", operator="o", roles=["admin"]))
    healthy = {n: 0.0 for n in PLAN.series()} | {"success_rate": 1.0, "webhook_signatures": 1.0}
    healthy |= {n: 1.0 for n in PLAN.series() if n.startswith("publish_success")}
    for n, v in enumerate(values):
        s = evolve(s, ev.Samples(at=float(n), values=healthy | v))
    for e in extra:
        s = evolve(s, e)
    return s


def test_the_contacts_panel_puts_the_database_team_in_front_on_a_db_breach():
    calm = contacts_rows(fold([{}, {}]))
    assert [(r.name, r.call) for r in calm] == [("Primary On-Call", ""), ("Database Team", ""), ("Security Team", "")]
    pending = {r.name: r.call for r in contacts_rows(fold([{}, {"db_connection_failures": 0.2}]))}
    assert pending == {"Primary On-Call": "", "Database Team": "db_connection_failures pending", "Security Team": ""}
    text = contacts_text(contacts_rows(fold([{"db_connection_failures": 0.2}] * 4))).plain
    assert "☎ CALL Database Team" in text and "db_connection_failures breached" in text
    assert "☎ CALL Primary" not in text and "☎ CALL Security" not in text


def test_security_on_a_signature_breach_and_on_call_on_any_rollback():
    s = fold([{"webhook_signatures": 0.9}])
    assert calls(s) == {"Security Team": "webhook_signatures breached"}
    rollback = ev.RollbackDecided(at=2, reason="MANUAL", detail="", key="k", by="o", evidence={})
    assert calls(fold([{}], rollback)) == {"Primary On-Call": "rollback"}
