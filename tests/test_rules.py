"""SLO rule evaluation (console.rules.observe): Prometheus `for:` semantics with a poll of 10 s, max_gap 20 s."""

from __future__ import annotations

import math

import pytest
from helpers import MAX_GAP, every, observe_all, rule
from hypothesis import given, settings
from hypothesis import strategies as st

from console.rules import Tracker, Verdict, describe, evidence

BAD, GOOD = 12.0, 2.0  # for rule("> 10")


def verdicts(trackers: list[Tracker]) -> list[Verdict]:
    return [t.verdict for t in trackers]


# -- sustain ------------------------------------------------------------------------------------


def test_breach_one_poll_short_of_sustain_then_recovery_never_breaches():
    r = rule(">", 10, sustain=60)
    trackers = observe_all(r, [*every(0, 50, BAD), (60, GOOD), (70, BAD), (80, GOOD)])
    assert Verdict.BREACHED not in verdicts(trackers)
    assert verdicts(trackers)[:6] == [Verdict.PENDING] * 6
    assert trackers[6].verdict == Verdict.OK and trackers[6].run_start is None


def test_breach_for_exactly_sustain_breaches_at_that_tick_not_before():
    r = rule(">", 10, sustain=60)
    trackers = observe_all(r, every(0, 60, BAD))
    assert verdicts(trackers) == [Verdict.PENDING] * 6 + [Verdict.BREACHED]
    last = trackers[-1]
    assert (last.run_start, last.last_at, last.run_count, last.capped) == (0, 60, 7, False)


@pytest.mark.parametrize("missing", [None, math.nan])
def test_unknown_sample_inside_a_breach_ends_the_run_and_the_breach_restarts(missing):
    r = rule(">", 10, sustain=60)
    trackers = observe_all(r, [*every(0, 40, BAD), (50, missing), *every(60, 130, BAD)])
    assert trackers[5].verdict == Verdict.UNKNOWN
    assert trackers[5].value is None and trackers[5].run_start is None
    after = trackers[6:]
    assert after[0].run_start == 60
    first_breach = next(t.last_at for t in after if t.verdict == Verdict.BREACHED)
    assert first_breach == 120  # 60 s after the restart, not 60 s after the first breaching sample


def test_a_gap_longer_than_max_gap_restarts_the_run():
    r = rule(">", 10, sustain=60)
    trackers = observe_all(r, [(0, BAD), (10, BAD), (40, BAD), *every(50, 110, BAD)])
    assert trackers[2].run_start == 40 and trackers[2].run_count == 1
    first_breach = next(t.last_at for t in trackers if t.verdict == Verdict.BREACHED)
    assert first_breach == 100


def test_a_gap_of_exactly_max_gap_keeps_the_run():
    r = rule(">", 10, sustain=60)
    trackers = observe_all(r, [(0, BAD), (MAX_GAP, BAD), (40, BAD), (60, BAD)])
    assert trackers[-1].run_start == 0
    assert trackers[-1].verdict == Verdict.BREACHED


# -- cumulative cap --------------------------------------------------------------------------------


def test_interleaved_failures_breach_through_the_cap_after_a_windows_worth_of_breaching_samples():
    r = rule(">", 10, sustain=60)  # a window is 60 / 10 + 1 = 7 samples
    samples = [(10.0 * k, BAD if k % 2 == 0 else GOOD) for k in range(20)]
    trackers = observe_all(r, samples, cap=0.5)
    breaching = [t for (at, v), t in zip(samples, trackers, strict=True) if v == BAD]
    assert [t.verdict for t in breaching[:6]] == [Verdict.PENDING] * 6
    seventh = breaching[6]
    assert seventh.verdict == Verdict.BREACHED and seventh.capped
    assert (seventh.stage_bad, seventh.stage_total) == (7, 13)
    first = next(t for t in trackers if t.verdict == Verdict.BREACHED)
    assert first is seventh


def test_interleaved_failures_below_the_cap_never_breach():
    r = rule(">", 10, sustain=60)
    samples = [(10.0 * k, BAD if k % 3 == 0 else GOOD) for k in range(60)]  # a third breach
    assert Verdict.BREACHED not in verdicts(observe_all(r, samples, cap=0.5))


def test_cap_evidence_reports_the_cumulative_counts():
    r = rule(">", 10, sustain=60)
    samples = [(10.0 * k, BAD if k % 2 == 0 else GOOD) for k in range(13)]
    last = observe_all(r, samples, cap=0.5)[-1]
    assert last.capped
    assert evidence(r, last, 120)["cumulative"] == {"breaching": 7, "total": 13}
    assert "7 of 13 samples" in describe(r, last, 120)


# -- at once ----------------------------------------------------------------------------------------


def test_sustain_zero_acts_at_the_first_breaching_sample():
    r = rule("<", 0.999, sustain=0)
    trackers = observe_all(r, [(0, 1.0), (10, 1.0), (20, 0.97)])
    assert verdicts(trackers) == [Verdict.OK, Verdict.OK, Verdict.BREACHED]


def test_critical_alerts_rule_breaches_at_once_on_one_alert():
    r = rule(">", 0, sustain=0, name="critical_alerts", unit="count")
    trackers = observe_all(r, [(0, 0.0), (10, 1.0)])
    assert verdicts(trackers) == [Verdict.OK, Verdict.BREACHED]


# -- comparators at the threshold -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparator", "below", "at", "above"),
    [
        (">", Verdict.OK, Verdict.OK, Verdict.BREACHED),
        (">=", Verdict.OK, Verdict.BREACHED, Verdict.BREACHED),
        ("<", Verdict.BREACHED, Verdict.OK, Verdict.OK),
        ("<=", Verdict.BREACHED, Verdict.BREACHED, Verdict.OK),
    ],
)
def test_comparators_at_below_and_above_the_threshold(comparator, below, at, above):
    r = rule(comparator, 0.95, sustain=0)
    got = [observe_all(r, [(0, v)])[0].verdict for v in (0.94, 0.95, 0.96)]
    assert got == [below, at, above]


# -- no data ----------------------------------------------------------------------------------------


def test_no_data_is_unknown_by_default_and_never_ok():
    r = rule(">", 10, sustain=60)
    trackers = observe_all(r, [(0, GOOD), (10, None), (20, math.nan), (30, None)])
    assert verdicts(trackers) == [Verdict.OK] + [Verdict.UNKNOWN] * 3
    assert trackers[-1].unknown_since == 10
    assert trackers[-1].unknown_for(40) == 30


def test_no_data_ok_counts_as_healthy_and_ends_a_breach():
    r = rule(">", 10, sustain=60, on_no_data="ok")
    trackers = observe_all(r, [*every(0, 50, BAD), (60, None), *every(70, 110, BAD)])
    assert trackers[6].verdict == Verdict.OK
    assert Verdict.BREACHED not in verdicts(trackers)


def test_no_data_breach_counts_as_breaching():
    r = rule(">", 10, sustain=60, on_no_data="breach")
    trackers = observe_all(r, every(0, 60, None))
    assert verdicts(trackers) == [Verdict.PENDING] * 6 + [Verdict.BREACHED]
    assert observe_all(rule(">", 10, sustain=0, on_no_data="breach"), [(0, None)])[0].verdict == Verdict.BREACHED


def test_no_data_breach_evidence_min_max_are_the_known_values():
    r = rule(">", 10, sustain=20, on_no_data="breach")
    last = observe_all(r, [(0, None), (10, 12.0), (20, 13.0)])[-1]
    assert last.verdict == Verdict.BREACHED
    found = evidence(r, last, 20)
    assert (found["min"], found["max"]) == (12.0, 13.0)


# -- describe ---------------------------------------------------------------------------------------


def test_describe_pending_tells_how_long_of_the_window():
    r = rule(">", 10, sustain=300, name="p95_latency", unit="s")
    tr = observe_all(r, every(0, 190, 12.3))[-1]
    assert tr.verdict == Verdict.PENDING
    assert describe(r, tr, 190) == "p95_latency 12.3 s > 10 s — breaching 3m10s of 5m"


def test_describe_breached_unknown_and_ok():
    r = rule(">", 10, sustain=300, name="p95_latency", unit="s")
    assert describe(r, observe_all(r, every(0, 300, 12.3))[-1], 300).endswith("breached for 5m (window 5m)")
    assert describe(r, observe_all(r, [(0, None)])[-1], 90) == "p95_latency no data for 1m30s"
    assert describe(r, observe_all(r, [(0, 2.0)])[-1], 0) == "p95_latency 2 s ok (breach > 10 s)"


def test_evidence_holds_rule_threshold_window_and_values():
    r = rule(">", 10, sustain=30, name="p95_latency", unit="s")
    tr = observe_all(r, [(0, 11.0), (10, 14.0), (20, 12.0), (30, 13.0)])[-1]
    found = evidence(r, tr, 30)
    assert found["rule"] == "p95_latency" and found["threshold"] == 10 and found["comparator"] == ">"
    assert (found["window_start"], found["window_end"], found["samples"]) == (0, 30, 4)
    assert (found["min"], found["max"], found["recent"]) == (11.0, 14.0, [11.0, 14.0, 12.0, 13.0])


# -- properties -------------------------------------------------------------------------------------

COMPARATORS = [">", ">=", "<", "<="]
value_strategy = st.one_of(st.none(), st.just(math.nan), st.sampled_from([0.0, 5.0, 9.99, 10.0, 10.01, 15.0]))
step_strategy = st.sampled_from([1.0, 5.0, 10.0, 10.0, 10.0, 15.0, 20.0, 25.0, 60.0])


@st.composite
def scenarios(draw, values=value_strategy):
    r = rule(
        draw(st.sampled_from(COMPARATORS)),
        10.0,
        sustain=draw(st.sampled_from([0.0, 10.0, 30.0, 60.0, 300.0])),
        on_no_data=draw(st.sampled_from(["unknown", "ok", "breach"])),
    )
    steps = draw(st.lists(step_strategy, min_size=1, max_size=60))
    times = [sum(steps[: k + 1]) for k in range(len(steps))]
    samples = [(at, draw(values)) for at in times]
    cap = draw(st.sampled_from([0.3, 0.5, 0.9, 1.0]))
    return r, samples, cap


def is_breaching(r, value) -> bool:
    if value is None or math.isnan(value):
        return r.on_no_data == "breach"
    return r.breaches(value)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_breached_without_cap_means_the_whole_window_breached(case):
    r, samples, cap = case
    for k, tr in enumerate(observe_all(r, samples, cap=cap)):
        at = samples[k][0]
        if tr.verdict not in (Verdict.BREACHED, Verdict.PENDING) or tr.capped:
            continue
        run = [(t, v) for t, v in samples[: k + 1] if t >= tr.run_start]
        assert run[0][0] == tr.run_start
        assert all(is_breaching(r, v) for _, v in run)
        assert all(b[0] - a[0] <= MAX_GAP for a, b in zip(run, run[1:], strict=False))
        assert len(run) == tr.run_count
        if tr.verdict == Verdict.BREACHED:
            assert at - tr.run_start >= r.sustain - 1e-6
        else:
            assert at - tr.run_start < r.sustain


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_property_no_breaching_sample_never_pending_or_breached(data):
    r, samples, cap = data.draw(scenarios())
    r = r.model_copy(update={"on_no_data": data.draw(st.sampled_from(["unknown", "ok"]))})
    samples = [(at, v) for at, v in samples if not is_breaching(r, v)]
    got = set(verdicts(observe_all(r, samples, cap=cap)))
    assert got <= {Verdict.OK, Verdict.UNKNOWN}


def comparable(tr: Tracker) -> tuple:
    """A tracker as a tuple in which NaN equals NaN."""
    return tuple("nan" if isinstance(x, float) and math.isnan(x) else x for x in tr.__dict__.values()) + tuple(
        "nan" if math.isnan(x) else x for x in tr.recent
    )


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.sampled_from([0.0, 7.0, 3600.0, 86400.0]))
def test_property_verdicts_depend_only_on_the_samples(case, shift):
    r, samples, cap = case
    first = observe_all(r, samples, cap=cap)
    again = observe_all(r, list(samples), cap=cap)
    assert [comparable(t) for t in first] == [comparable(t) for t in again]
    shifted = observe_all(r, [(at + shift, v) for at, v in samples], cap=cap)
    assert verdicts(shifted) == verdicts(first)
    assert [t.run_count for t in shifted] == [t.run_count for t in first]
