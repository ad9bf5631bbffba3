"""The conductor (console.engine.decide) fed hand-built events; time is the events' `at` (a manual clock)."""

from __future__ import annotations

import pytest
from helpers import Driver, of

from console import engine
from console import events as ev
from console.plan import Stage, default_plan
from console.rules import Verdict

PLAN = default_plan()
BAKES = [(st.weight, st.bake) for st in PLAN.stages]  # (10, 1800), (25, 900), (50, 900), (75, 600), (100, 0)


@pytest.fixture
def d() -> Driver:
    return Driver(PLAN)


def at_stage(d: Driver, weight: int = 10, *, auto: bool = False) -> float:
    """Pre-flight done, promoted to `weight` at t=100, one healthy poll at 110; returns 110."""
    d.start(0, auto=auto)
    d.ready(1)
    d.feed(ev.PromotionDecided(at=100, from_weight=0, to_weight=weight, key=f"s1:promote:{weight}", by="ana"))
    d.promoted(weight, 100)
    d.sample(110)
    return 110.0


def awaiting(d: Driver) -> float:
    """At 10% with the bake served and every SLO green; returns the time of the last poll."""
    t = at_stage(d)
    end = t + 1800
    d.samples_until(t + 10, end)
    assert d.state.phase == "awaiting"
    return end


def refused(decisions, commands) -> str:
    """The one refusal's reason; fails when anything was promoted."""
    assert not of(ev.PromotionDecided, decisions)
    assert not [c for c in commands if isinstance(c, ev.Promote)]
    (refusal,) = of(ev.PromoteRefused, decisions)
    return refusal.reason


# -- pre-flight -----------------------------------------------------------------------------------


def test_session_start_runs_a_check_for_every_preflight_ops_target(d):
    _, commands = d.start(0)
    wanted = {
        (i.id, t.strip())
        for i in PLAN.items
        if i.phase == "preflight" and i.handling == "ops"
        for t in (i.target or "").split(",")
    }
    assert len(wanted) >= 10
    assert all(isinstance(c, ev.RunCheck) for c in commands)
    assert {(c.item, c.target) for c in commands} == wanted
    assert len(commands) == len(wanted)


def test_promotion_refused_while_preflight_items_are_open(d):
    d.start(0)
    reason = refused(*d.feed(ev.PromoteRequested(at=1, operator="ana")))
    assert "pre-flight" in reason and "ops-database" in reason
    d.pass_checks(2)
    reason = refused(*d.feed(ev.PromoteRequested(at=3, operator="ana")))
    assert PLAN.manual_items()[0].id in reason and "ops-database" not in reason


def test_failed_preflight_check_blocks_promotion(d):
    d.start(0)
    d.attest_all(1)
    checks, d.checks = d.checks, []
    for c in checks:
        d.feed(ev.CheckResult(at=2, item=c.item, target=c.target, ok=c.target != "redis", detail="refused"))
    assert d.state.items["ops-redis"].status == "failed"
    assert "ops-redis" in refused(*d.feed(ev.PromoteRequested(at=3, operator="ana")))


def test_promotion_allowed_when_preflight_is_done(d):
    d.start(0)
    d.ready(1)
    decisions, commands = d.feed(ev.PromoteRequested(at=2, operator="ana", weight=10))
    (decided,) = of(ev.PromotionDecided, decisions)
    assert (decided.from_weight, decided.to_weight, decided.by, decided.key) == (0, 10, "ana", "s1:promote:10")
    assert commands == [ev.Promote(10, "s1:promote:10")]


# -- refusals after the first stage ---------------------------------------------------------------


def test_promotion_refused_while_bake_time_remains(d):
    t = at_stage(d)
    d.samples_until(t + 10, t + 600)
    reason = refused(*d.feed(ev.PromoteRequested(at=t + 600, operator="ana")))
    assert "bake" in reason and "20m" in reason


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"error_rate": None}, "error_rate unknown"),
        ({"p95_latency": 12.0}, "p95_latency pending"),
        ({"publish_success__reddit": 0.5}, "publish_success:reddit pending"),
    ],
)
def test_promotion_refused_while_a_rule_is_not_green(d, values, named):
    t = awaiting(d)
    d.sample(t + 10, **values)
    reason = refused(*d.feed(ev.PromoteRequested(at=t + 11, operator="ana")))
    assert named in reason


def test_promotion_refused_while_pods_not_ready(d):
    t = awaiting(d)
    d.feed(ev.StatusRead(at=t + 5, weight=10, ready=4, desired=10, state="progressing"))
    assert "pods not ready" in refused(*d.feed(ev.PromoteRequested(at=t + 6, operator="ana")))


def test_promotion_allowed_after_the_bake_with_all_green(d):
    t = awaiting(d)
    decisions, commands = d.feed(ev.PromoteRequested(at=t + 1, operator="ana"))
    (decided,) = of(ev.PromotionDecided, decisions)
    assert (decided.from_weight, decided.to_weight, decided.key) == (10, 25, "s1:promote:25")
    assert decided.evidence["served"] == 1800
    assert commands == [ev.Promote(25, "s1:promote:25")]
    assert "in flight" in refused(*d.feed(ev.PromoteRequested(at=t + 2, operator="ana")))


def test_promotion_to_the_wrong_weight_refused(d):
    t = awaiting(d)
    reason = refused(*d.feed(ev.PromoteRequested(at=t + 1, operator="ana", weight=50)))
    assert "25%" in reason and "50%" in reason


def test_promotion_refused_to_a_viewer():
    d = Driver(PLAN)
    d.start(0, roles=("viewer",))
    d.ready(1)
    assert "admin" in refused(*d.feed(ev.PromoteRequested(at=2, operator="ana")))


def test_promotion_and_rollback_refused_to_another_operator(d):
    t = awaiting(d)
    refused(*d.feed(ev.PromoteRequested(at=t + 1, operator="bob")))
    decisions, commands = d.feed(ev.RollbackRequested(at=t + 2, operator="bob"))
    assert of(ev.RollbackRefused, decisions) and not commands and d.state.rollback is None


def test_refusal_to_another_operator_names_the_session_operator(d):
    t = awaiting(d)
    assert "ana" in refused(*d.feed(ev.PromoteRequested(at=t + 1, operator="bob")))
    (refusal,) = of(ev.RollbackRefused, d.feed(ev.RollbackRequested(at=t + 2, operator="bob"))[0])
    assert "ana" in refusal.reason


# -- auto-promote ---------------------------------------------------------------------------------


def test_auto_promote_only_on_a_samples_event(d):
    _, commands = d.start(0, auto=True)
    d.ready(1)  # allowed now, but check results and attestations are not polls
    assert not of(ev.PromotionDecided, d.log)
    decisions, commands = d.feed(ev.StatusRead(at=2, weight=0, ready=0, desired=10, state="idle"))
    assert not of(ev.PromotionDecided, decisions) and not commands
    decisions, commands = d.sample(10, **dict.fromkeys(["p95_latency", "error_rate"], None))
    (decided,) = of(ev.PromotionDecided, decisions)
    assert (decided.to_weight, decided.by, decided.key) == (10, "auto", "s1:promote:10")
    assert commands == [ev.Promote(10, decided.key)]


def test_auto_promote_waits_for_the_bake_then_promotes_on_the_serving_poll(d):
    t = at_stage(d, auto=True)
    decisions = d.samples_until(t + 10, t + 1790)
    assert not of(ev.PromotionDecided, decisions)
    decisions, commands = d.sample(t + 1800)
    assert [type(e) for e in decisions] == [ev.BakeServed, ev.PromotionDecided]
    assert commands == [ev.Promote(25, "s1:promote:25")]


def test_auto_promote_needs_the_admin_role():
    d = Driver(PLAN)
    d.start(0, auto=True, roles=("viewer",))
    d.ready(1)
    assert not of(ev.PromotionDecided, d.samples_until(10, 100))


# -- the whole rollout ------------------------------------------------------------------------------


def test_stages_bake_then_validate_then_succeed(d):
    d.start(0)
    d.ready(0)
    t = 0.0
    starts, served = [], []
    for weight, _ in BAKES:
        decisions, commands = d.feed(ev.PromoteRequested(at=t, operator="ana"))
        assert commands == [ev.Promote(weight, f"s1:promote:{weight}")], decisions
        decisions, commands = d.promoted(weight, t)
        (stage,) = of(ev.StageStarted, decisions)
        starts.append((stage.weight, stage.bake))
        if weight == 100:
            break
        d.sample(t)  # a poll right after the promotion: healthy at this weight from here on
        begin = t
        while d.state.phase == "baking":
            t += 10
            d.sample(t)
        served.append(t - begin)
        assert d.state.phase == "awaiting" and d.state.weight == weight
    assert starts == BAKES
    assert served == [bake for _, bake in BAKES[:-1]]
    assert d.state.phase == "validating"
    post = {"smoke-tests", "load-test", "integration-tests", "backup", "monitoring", "pagerduty"}
    assert {c.target for c in d.checks} == post
    d.sample(t)
    begin = t
    while t - begin < PLAN.validation:
        assert d.state.outcome is None
        t += 10
        decisions, _ = d.sample(t)
    assert d.state.outcome is None  # validation served, but the post checks have not answered
    d.pass_checks(t)  # the last post check completes the session
    (finished,) = of(ev.Finished, d.log)
    assert finished is d.log[-1] and finished.at == t
    assert finished.outcome == "succeeded" and d.state.phase == "succeeded"
    assert d.sample(t + 20) == ([], [])  # a finished session decides nothing more


@pytest.mark.parametrize("stages", [[(10, 60), (25, 60), (100, 0)], [(10, 60), (100, 0)]], ids=["bake", "validation"])
def test_the_poll_before_a_promotion_does_not_count_toward_the_new_weight(stages):
    d = Driver(PLAN.model_copy(update={"stages": [Stage(weight=w, bake=b) for w, b in stages]}))
    t = at_stage(d)
    d.samples_until(t + 10, t + 60)
    assert d.state.phase == "awaiting"
    d.feed(ev.PromoteRequested(at=t + 60, operator="ana"))
    d.promoted(stages[1][0], t + 65)
    assert d.state.served == 0
    d.sample(t + 70)  # the first poll at the new weight: nothing observed at it before
    assert d.state.served == 0


def test_time_with_a_rule_unknown_or_pods_not_ready_does_not_count_as_served(d):
    t = at_stage(d)
    d.sample(t + 10)
    d.sample(t + 20, error_rate=None)  # t+10 .. t+30 not observed healthy at both ends
    d.sample(t + 30)
    assert d.state.served == 10
    d.feed(ev.StatusRead(at=t + 35, weight=10, ready=3, desired=10, state="progressing"))
    d.sample(t + 40)
    d.feed(ev.StatusRead(at=t + 45, weight=10, ready=10, desired=10, state="progressing"))
    d.sample(t + 50)
    d.sample(t + 60, p95_latency=11.0)  # pending: not healthy either
    d.sample(t + 70)
    d.sample(t + 80)
    assert d.state.served == 20


def test_a_gap_in_polling_does_not_count_as_served(d):
    t = at_stage(d)
    d.sample(t + 10)
    d.sample(t + 300)
    assert d.state.served == 10


# -- rollback -------------------------------------------------------------------------------------


def breach_to_rollback(d: Driver) -> tuple[float, ev.RollbackDecided]:
    """p95_latency 12 s from t0 at 25% until the rollback; returns (t0, the decision)."""
    t = awaiting(d)
    d.feed(ev.PromoteRequested(at=t, operator="ana"))
    d.promoted(25, t)
    t0 = t + 10
    before = d.samples_until(t0, t0 + 290, p95_latency=12.0)
    assert not of(ev.RollbackDecided, before)
    assert d.state.trackers["p95_latency"].verdict == Verdict.PENDING
    decisions, commands = d.sample(t0 + 300, p95_latency=12.0)
    (decided,) = of(ev.RollbackDecided, decisions)
    assert commands == [ev.Rollback(decided.reason, decided.detail, decided.key)]
    return t0, decided


def test_sustained_breach_rolls_back_with_evidence(d):
    t0, decided = breach_to_rollback(d)
    assert (decided.reason, decided.by, decided.key, decided.at) == (
        "SLO_VIOLATION",
        "conductor",
        "s1:rollback",
        t0 + 300,
    )
    e = decided.evidence
    assert (e["rule"], e["series"], e["comparator"], e["threshold"], e["sustain"]) == (
        "p95_latency",
        "p95_latency",
        ">",
        10,
        300,
    )
    assert (e["window_start"], e["window_end"], e["samples"]) == (t0, t0 + 300, 31)
    assert e["min"] == e["max"] == 12.0 and e["recent"] == [12.0] * 10
    assert "p95_latency" in decided.detail and "5m" in decided.detail


def test_rollback_intent_is_never_duplicated_nor_downgraded(d):
    t0, decided = breach_to_rollback(d)
    later = d.samples_until(t0 + 310, t0 + 600, p95_latency=14.0, error_rate=0.5)
    assert not of(ev.RollbackDecided, later)
    assert refused(*d.feed(ev.PromoteRequested(at=t0 + 601, operator="ana"))) == "rollback in progress"
    decisions, commands = d.feed(ev.RollbackRequested(at=t0 + 602, operator="ana", reason="MANUAL"))
    (refusal,) = of(ev.RollbackRefused, decisions)
    assert "already rolling back (SLO_VIOLATION)" in refusal.reason
    assert not commands and not of(ev.RollbackDecided, decisions)
    assert d.state.rollback.reason == "SLO_VIOLATION" and d.state.rollback.by == "conductor"
    assert len(of(ev.RollbackDecided, d.log)) == 1


def test_failed_rollback_is_retried_with_the_same_key_then_finishes(d):
    t0, decided = breach_to_rollback(d)
    expected = ev.Rollback(decided.reason, decided.detail, decided.key)
    for n in range(3):
        decisions, commands = d.feed(ev.RollbackFailed(at=t0 + 301 + n, key=decided.key, error="503"))
        assert commands == [expected] and not decisions
    assert d.state.rollback.failures == 3
    decisions, commands = d.feed(ev.RolledBack(at=t0 + 310, key=decided.key, weight=0))
    (finished,) = of(ev.Finished, decisions)
    assert finished.outcome == "rolled_back" and finished.detail.startswith("SLO_VIOLATION")
    assert (d.state.outcome, d.state.weight, commands) == ("rolled_back", 0, [])


def test_manual_rollback_by_the_operator(d):
    t = awaiting(d)
    decisions, commands = d.feed(ev.RollbackRequested(at=t + 1, operator="ana", reason="MANUAL", detail="customers"))
    (decided,) = of(ev.RollbackDecided, decisions)
    assert (decided.reason, decided.by, decided.detail) == ("MANUAL", "ana", "customers")
    assert commands == [ev.Rollback("MANUAL", "customers", "s1:rollback")]


def test_hold_rule_breach_blocks_promotion_but_never_rolls_back(d):
    t = awaiting(d)
    decisions = d.samples_until(t + 10, t + 900, publish_success__tiktok=0.9)
    assert d.state.trackers["publish_success:tiktok"].verdict == Verdict.BREACHED
    assert not of(ev.RollbackDecided, decisions) and d.state.rollback is None
    assert "publish_success:tiktok breached" in refused(*d.feed(ev.PromoteRequested(at=t + 901, operator="ana")))


def test_a_breach_before_any_traffic_does_not_roll_back(d):
    d.start(0)
    decisions = d.samples_until(0, 600, p95_latency=20.0, critical_alerts=3.0)
    assert not of(ev.RollbackDecided, decisions)


def test_critical_alert_rolls_back_at_once(d):
    t = awaiting(d)
    decisions, commands = d.sample(t + 10, critical_alerts=1.0)
    (decided,) = of(ev.RollbackDecided, decisions)
    assert decided.evidence["rule"] == "critical_alerts" and decided.at == t + 10
    assert [type(c) for c in commands] == [ev.Rollback]


# -- missing data ---------------------------------------------------------------------------------


def test_no_data_beyond_the_limit_pauses_once_then_resumes_and_never_rolls_back(d):
    t = at_stage(d)
    t1 = t + 10
    decisions = d.samples_until(t1, t1 + 290, error_rate=None)
    assert not of(ev.Paused, decisions)
    decisions = d.samples_until(t1 + 300, t1 + 900, error_rate=None)
    (paused,) = of(ev.Paused, decisions)
    assert paused.at == t1 + 300 and "error_rate" in paused.reason and "5m" in paused.reason
    assert d.state.paused
    decisions, _ = d.sample(t1 + 910)
    assert of(ev.Resumed, decisions) and d.state.paused is None
    assert not of(ev.RollbackDecided, d.log)


def test_no_data_before_any_traffic_does_not_pause(d):
    d.start(0)
    decisions = d.samples_until(0, 900, **dict.fromkeys(["p95_latency", "error_rate"], None))
    assert not of(ev.Paused, decisions)


# -- the log is the truth -------------------------------------------------------------------------


def fold(log: list[ev.Event]) -> engine.State:
    state = engine.initial(PLAN)
    for e in log:
        state = engine.evolve(state, e)
    return state


def test_folding_the_logged_events_gives_the_live_state_after_a_rollback(d):
    t0, _ = breach_to_rollback(d)
    d.sample(t0 + 310, error_rate=None)
    assert fold(d.log) == d.state
    d.feed(ev.RolledBack(at=t0 + 320, key="s1:rollback"))
    stored = [ev.from_record(*ev.to_record(e)) for e in d.log]
    assert fold(stored) == d.state


def test_folding_the_logged_events_gives_the_live_state_at_every_step():
    d = Driver(PLAN)
    d.start(0, auto=True)
    d.ready(0)
    t = 0.0
    while d.state.outcome is None and t < 20000:
        t += 10
        _, commands = d.sample(t, error_rate=None if 3000 <= t < 3100 else 0.002)
        for c in commands:
            if isinstance(c, ev.Promote):
                d.promoted(c.weight, t)
        d.pass_checks(t)
        if t % 1000 == 0:
            assert fold(d.log) == d.state
    assert d.state.outcome == "succeeded"
    assert fold([ev.from_record(*ev.to_record(e)) for e in d.log]) == d.state


def test_a_promotion_after_a_long_preflight_does_not_pause_for_missing_data(d):
    """Before any canary traffic there is no data to miss: the first promotion must not pause."""
    d.start(0)
    d.ready(1)
    late = PLAN.no_data_limit + 600
    for at in range(10, int(late), 10):  # polls before any traffic: every series unknown
        d.feed(ev.Samples(at=float(at), values=dict.fromkeys(PLAN.series())))
    decisions, _ = d.feed(ev.PromoteRequested(at=late, operator="ana"))
    assert of(ev.PromotionDecided, decisions) and not of(ev.Paused, decisions)
