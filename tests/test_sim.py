"""The simulator model: determinism, healthy baselines, each scenario's onset and shape."""

from __future__ import annotations

import pytest

from console.scenarios import PLATFORMS, RULE_SERIES, SHOWN_SERIES
from console.sim import CHECK_TARGETS, SCENARIOS, SERIES, SimModel

POLL = 10.0
# The default plan's stages: (weight, bake seconds), then 2 h of validation at 100%.
ROLLOUT = [(10, 1800), (25, 900), (50, 900), (75, 600), (100, 7200)]

# The SLO rules of the brief: series -> does this value breach?
BREACHES = {
    "p95_latency": lambda v: v > 10,
    "error_rate": lambda v: v > 0.01,
    "success_rate": lambda v: v < 0.95,
    "webhook_signatures": lambda v: v < 0.999,
    "db_connection_failures": lambda v: v > 0.05,
    "critical_alerts": lambda v: v > 0,
    **{f"publish_success:{p}": (lambda v: v <= 0.95) for p in PLATFORMS},
}


def run_rollout(model: SimModel, start: float = 0.0, step: float = POLL) -> list[tuple[float, dict]]:
    """Promote through every stage from `start`, sampling every `step` seconds; returns (now, sample)."""
    samples = []
    now = start
    for weight, bake in ROLLOUT:
        model.promote(weight, now)
        end = now + bake
        while now < end:
            samples.append((now, model.sample(now)))
            now += step
    return samples


def breached(sample: dict) -> set[str]:
    return {name for name, rule in BREACHES.items() if sample[name] is not None and rule(sample[name])}


# -- determinism ------------------------------------------------------------------------


def test_same_seed_same_values():
    a, b = SimModel("error-spike", seed=7), SimModel("error-spike", seed=7)
    assert run_rollout(a) == run_rollout(b)


def test_different_seeds_differ():
    a, b = SimModel("healthy", seed=1), SimModel("healthy", seed=2)
    for m in (a, b):
        m.promote(10, 0.0)
    assert a.sample(100.0) != b.sample(100.0)


def test_sampling_more_often_does_not_change_values():
    often, rarely = SimModel("latency-regression", seed=3), SimModel("latency-regression", seed=3)
    fine = dict(run_rollout(often, step=1.0))
    coarse = dict(run_rollout(rarely, step=POLL))
    for now, values in coarse.items():
        assert fine[now] == values


def test_values_hold_within_a_poll_tick():
    model = SimModel("healthy", seed=4)
    model.promote(10, 0.0)
    assert model.sample(100.0) == model.sample(109.9)
    assert model.sample(100.0) != model.sample(110.0)


# -- healthy ----------------------------------------------------------------------------


def test_healthy_never_breaches_over_a_full_rollout():
    for seed in range(3):
        samples = run_rollout(SimModel("healthy", seed=seed))
        assert len(samples) == 3 * 3600 // 10 + 10 * 6  # 3h10m at 10 s ticks
        for now, values in samples:
            assert breached(values) == set(), (seed, now)
            assert 1.2 <= values["p95_latency"] <= 2.5
            assert 0.001 <= values["error_rate"] <= 0.004
            assert 0.99 <= values["success_rate"] <= 0.997
            assert values["webhook_signatures"] >= 0.9991
            assert 0.0 <= values["db_connection_failures"] <= 0.01
            assert values["critical_alerts"] == 0
            assert all(0.97 <= values[f"publish_success:{p}"] <= 0.995 for p in PLATFORMS)


def test_sample_has_every_series():
    model = SimModel("healthy")
    model.promote(10, 0.0)
    sample = model.sample(0.0)
    assert list(sample) == list(SERIES) == [*RULE_SERIES, *SHOWN_SERIES]
    assert all(isinstance(v, float) for v in sample.values())


def test_traffic_series_follow_the_weight():
    model = SimModel("healthy", seed=5)
    model.promote(10, 0.0)
    at_10 = model.sample(0.0)["active_users"]
    assert model.stable_sample(0.0)["active_users"] == pytest.approx(9 * at_10, rel=0.15)
    model.promote(50, 5.0)
    assert model.sample(5.0)["active_users"] == pytest.approx(5 * at_10, abs=5)
    model.promote(100, 6.0)
    assert model.stable_sample(6.0)["active_users"] == 0


# -- no canary traffic ------------------------------------------------------------------


def test_series_unknown_before_first_promote_and_after_rollback():
    model = SimModel("error-spike", seed=1)
    assert set(model.sample(0.0).values()) == {None}
    model.promote(10, 10.0)
    assert None not in model.sample(20.0).values()
    model.rollback("SLO_VIOLATION", "error_rate > 1% for 5m", 30.0)
    assert set(model.sample(40.0).values()) == {None}
    assert None not in model.stable_sample(40.0).values()


def test_stable_stays_healthy_during_a_scenario():
    model = SimModel("latency-regression", seed=2)
    model.promote(25, 0.0)
    assert model.sample(400.0)["p95_latency"] > 10
    assert breached(model.stable_sample(400.0)) == set()


# -- scenarios: onset and shape ---------------------------------------------------------

# (scenario, anchor stage, delay after it, series, value check before onset, value check from onset on)
SHAPES = [
    ("latency-regression", 25, 300, "p95_latency", lambda v: v <= 10, lambda v: 11 < v < 17),
    ("error-spike", 50, 120, "error_rate", lambda v: v <= 0.01, lambda v: 0.04 <= v <= 0.06),
    ("error-spike", 50, 120, "success_rate", lambda v: v >= 0.95, lambda v: 0.92 <= v <= 0.94),
    ("webhook-signatures", 25, 60, "webhook_signatures", lambda v: v >= 0.9991, lambda v: 0.96 < v < 0.98),
    ("db-failures", 10, 600, "db_connection_failures", lambda v: v <= 0.05, lambda v: 0.1 <= v <= 0.13),
    ("p1-alert", 50, 200, "critical_alerts", lambda v: v == 0, lambda v: v == 1),
]


@pytest.mark.parametrize(("scenario", "stage", "delay", "series", "before", "after"), SHAPES)
def test_scenario_onset_and_shape(scenario, stage, delay, series, before, after):
    model = SimModel(scenario, seed=11)
    now, onset = 3.0, None  # promotes off the poll ticks: the onset is a formula, not a tick
    for weight, bake in ROLLOUT:
        model.promote(weight, now)
        if weight == stage:
            onset = now + delay
        assert model.scenario_onset() == onset
        end = now + bake
        while now < end and (onset is None or now < onset + 1200):
            value = model.sample(now)[series]
            assert (after if onset is not None and now >= onset else before)(value), (now, value)
            now += POLL
        if onset is not None:
            break
    assert after(model.sample(onset)[series])
    assert before(model.sample(onset - 0.001)[series])


def test_onset_anchor_is_first_reach_of_the_stage():
    model = SimModel("latency-regression")
    model.promote(10, 0.0)
    assert model.scenario_onset() is None
    model.promote(50, 100.0)  # skipping 25 still reaches it
    model.promote(75, 200.0)
    assert model.reached_at(25) == 100.0
    assert model.scenario_onset() == 400.0


def test_p1_alert_fires_an_incident():
    model = SimModel("p1-alert")
    model.promote(50, 0.0)
    assert model.incidents(199.0) == {"P0": 0.0, "P1": 0.0}
    assert model.incidents(200.0) == {"P0": 0.0, "P1": 1.0}
    model.rollback("SLO_VIOLATION", "P1 incident", 210.0)
    assert model.incidents(220.0)["P1"] == 0.0


@pytest.mark.parametrize("poll", [10.0, 5.0, 15.0])
def test_flapping_breaches_just_short_of_five_minutes(poll):
    model = SimModel("flapping", seed=9, poll_interval=poll)
    model.promote(10, 0.0)
    model.promote(25, 1800.0)
    onset = 1800.0 + 300
    assert model.scenario_onset() == onset
    t = 1800.0
    while t < onset + 900:
        flapping = onset <= t < onset + 300 - poll
        assert (model.sample(t)["error_rate"] > 0.01) is flapping, t
        t += poll
    assert model.sample(onset + 300 - 2 * poll)["error_rate"] > 0.01
    assert model.sample(onset + 300 - poll)["error_rate"] <= 0.01


def test_no_data_blanks_rule_series_for_three_minutes():
    model = SimModel("no-data", seed=6)
    model.promote(10, 0.0)
    model.promote(25, 1800.0)
    onset = 1800.0 + 120
    assert model.scenario_onset() == onset
    for t in range(1800, 1800 + 900, 10):
        values = model.sample(float(t))
        missing = onset <= t < onset + 180
        assert all((values[s] is None) is missing for s in RULE_SERIES), t
        assert None not in [values[s] for s in SHOWN_SERIES]
        assert breached(values) == set()


def test_memory_leak_grows_while_slos_stay_green():
    model = SimModel("memory-leak", seed=8)
    samples = run_rollout(model)
    assert model.scenario_onset() is None
    assert all(breached(values) == set() for _, values in samples)
    first, last = samples[0], samples[-1]
    growth = last[1]["memory_mb"] - first[1]["memory_mb"]
    assert growth == pytest.approx(40 * (last[0] - first[0]) / 600, abs=25)
    healthy = SimModel("healthy", seed=8)
    assert max(v["memory_mb"] for _, v in run_rollout(healthy)) < 500


@pytest.mark.parametrize("scenario", ["healthy", "memory-leak"])
def test_no_onset_for_scenarios_without_a_breach(scenario):
    model = SimModel(scenario)
    run_rollout(model)
    assert model.scenario_onset() is None


def test_series_return_to_unknown_after_rollback_mid_breach():
    model = SimModel("db-failures")
    model.promote(10, 0.0)
    assert model.sample(600.0)["db_connection_failures"] > 0.05
    model.rollback("SLO_VIOLATION", "db", 720.0)
    assert model.sample(730.0)["db_connection_failures"] is None


def test_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match="unknown scenario"):
        SimModel("meltdown")
    assert len(SCENARIOS) == 9
    for name in SCENARIOS:
        SimModel(name)


# -- ops: status, promote, rollback, checks ---------------------------------------------


def test_status_through_a_rollout():
    model = SimModel("healthy")
    status = model.status()
    assert status == {
        "deployment": "publisher-api",
        "stable_version": "v1.41.0",
        "canary_version": "v1.42.0",
        "weight": 0,
        "pods": {"ready": 0, "desired": 10},
        "state": "idle",
    }
    assert model.promote(10, 0.0)["state"] == "progressing"
    assert model.status()["pods"] == {"ready": 10, "desired": 10}
    assert model.promote(100, 10.0)["state"] == "promoted"
    rolled = model.rollback("SLO_VIOLATION", "manual", 20.0)
    assert (rolled["weight"], rolled["state"]) == (0, "rolled_back")
    assert model.last_rollback == {"at": 20.0, "reason": "SLO_VIOLATION", "detail": "manual"}


def test_promote_and_rollback_are_idempotent():
    model = SimModel("latency-regression")
    assert model.rollback("x", "y", 0.0)["state"] == "idle"
    first = model.promote(25, 0.0)
    assert model.promote(25, 50.0) == first
    assert model.scenario_onset() == 300.0  # the repeat did not move the anchor
    model.rollback("a", "b", 60.0)
    assert model.rollback("c", "d", 70.0)["state"] == "rolled_back"
    assert model.last_rollback["reason"] == "a"


@pytest.mark.parametrize("weight", [0, 101, -5, 2.5, True, "10", None])
def test_invalid_weight_is_refused(weight):
    model = SimModel("healthy")
    with pytest.raises(ValueError, match="weight"):
        model.promote(weight, 0.0)
    assert model.status()["weight"] == 0


def test_pods_become_ready_after_the_delay():
    model = SimModel("healthy", pods_delay=30.0)
    model.promote(10, 100.0)
    assert model.status()["pods"]["ready"] == 0
    assert model.status(129.0)["pods"]["ready"] == 0
    assert model.status(130.0)["pods"]["ready"] == 10


def test_health_checks():
    model = SimModel("healthy", seed=1, failing_checks=frozenset({"redis"}))
    for target in CHECK_TARGETS:
        result = model.health_check(target, 5.0)
        assert result["target"] == target
        assert result["ok"] is (target != "redis")
        assert result["latency_ms"] > 0
    assert model.health_check("redis", 5.0)["detail"] == "connection refused"
    db = model.health_check("database", 5.0)
    assert db["detail"] == f"connected ({db['latency_ms']:.0f} ms)"
    assert model.health_check("mainframe", 5.0) == {
        "target": "mainframe",
        "ok": False,
        "detail": "unknown target",
        "latency_ms": 0.0,
    }
    with pytest.raises(ValueError, match="mainframe"):
        SimModel("healthy", failing_checks=frozenset({"mainframe"}))


def test_whoami():
    assert SimModel("healthy").whoami() == {"user": "demo", "roles": ["admin"]}
    assert SimModel("healthy", user="ro", roles=("viewer",)).whoami() == {"user": "ro", "roles": ["viewer"]}
