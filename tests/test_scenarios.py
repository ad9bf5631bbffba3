"""Every simulator scenario end to end, headless, in simulated time: runner, LocalOps, store, default plan.

Each scenario runs once, all of them side by side in threads (each with its own event loop and
store file), so that the stores' fsyncs overlap; the tests then look at the recorded runs.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from session_helpers import simulated, start_events

from console import engine
from console import events as ev
from console.clock import ManualClock
from console.plan import default_plan
from console.rules import Verdict
from console.scenarios import RULE_SERIES, SCENARIOS
from console.sim import SimModel
from sessions.store import EventStore

PLAN = default_plan()

# scenario -> the rule whose sustained breach rolls back (None: the rollout must succeed)
EXPECTED: dict[str, str | None] = {
    "healthy": None,
    "memory-leak": None,
    "flapping": None,
    "no-data": None,
    "latency-regression": "p95_latency",
    "error-spike": "error_rate",
    "webhook-signatures": "webhook_signatures",
    "db-failures": "db_connection_failures",
    "p1-alert": "critical_alerts",
}


@dataclass
class Run:
    outcome: str
    model: SimModel
    events: list[ev.Event]
    state: engine.State
    verified: list
    highest_weight: int

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def polls(self) -> list[ev.Samples]:
        return self.of(ev.Samples)


async def rollout(scenario: str, db: Path, seed: int = 7) -> Run:
    with EventStore(db) as store:
        session = store.open_session(deployment=PLAN.deployment, scenario=scenario, plan=PLAN.name, operator="t")
        runner, model = simulated(PLAN, scenario, store, session, ManualClock(), seed)
        await runner.start(*start_events(PLAN, session, scenario, operator="t"))
        outcome = await runner.run()
        events = [ev.from_record(*r) for r in store.records(session)]
        info = store.session(session)
        return Run(outcome, model, events, runner.state, store.verify(session), info.highest_weight)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("scenarios")
    with ThreadPoolExecutor(len(SCENARIOS)) as pool:
        done = pool.map(lambda s: asyncio.run(rollout(s, folder / f"{s}.db")), SCENARIOS)
        return dict(zip(SCENARIOS, done, strict=True))


def test_expectations_cover_every_scenario():
    assert set(EXPECTED) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_end_to_end(scenario, runs):
    run = runs[scenario]
    rule = EXPECTED[scenario]

    assert [r.ok for r in run.verified] == [True], run.verified
    (finished,) = run.of(ev.Finished)
    assert run.events[-1] == finished
    folded = engine.initial(PLAN)
    for e in run.events:
        folded = engine.evolve(folded, e)
    assert folded == run.state  # the stored log alone rebuilds the live state

    if rule is None:
        assert run.outcome == "succeeded" and not run.of(ev.RollbackDecided)
        assert run.highest_weight == 100 and run.model.last_rollback is None
        (validation,) = run.of(ev.ValidationStarted)
        assert finished.at - validation.at >= PLAN.validation
        assert [s.weight for s in run.of(ev.StageStarted)] == [10, 25, 50, 75, 100]
        return

    assert run.outcome == "rolled_back"
    (decided,) = run.of(ev.RollbackDecided)
    assert (decided.reason, decided.by, decided.evidence["rule"]) == ("SLO_VIOLATION", "conductor", rule)
    times = [p.at for p in run.polls()]
    onset = run.model.scenario_onset()
    first_bad = next(t for t in times if t >= onset)
    expected = next(t for t in times if t >= first_bad + PLAN.rule(rule).sustain)
    assert decided.at == expected
    assert decided.evidence["window_start"] == first_bad
    assert run.model.last_rollback["at"] == decided.at and run.model.status()["weight"] == 0
    (rolled,) = run.of(ev.RolledBack)
    assert rolled.key == decided.key and finished.outcome == "rolled_back"


def test_flapping_goes_pending_but_never_breaches(runs):
    run = runs["flapping"]
    changes = [c for c in run.of(ev.RuleChanged) if c.series == "error_rate"]
    assert Verdict.PENDING in {c.verdict for c in changes}
    assert Verdict.BREACHED not in {c.verdict for c in changes}
    assert run.outcome == "succeeded"


def test_no_data_does_not_pause_and_extends_the_bake_by_the_unknown_period(runs):
    run = runs["no-data"]
    assert run.outcome == "succeeded"
    assert not run.of(ev.Paused) and not run.of(ev.RollbackDecided)
    unknown = {c.series for c in run.of(ev.RuleChanged) if c.verdict == Verdict.UNKNOWN and c.at > 0}
    assert unknown == set(RULE_SERIES)

    onset = run.model.scenario_onset()
    polls = run.polls()
    last_known = max(p.at for p in polls if p.at < onset)
    back = min(p.at for p in polls if p.at > onset and all(p.values[s] is not None for s in RULE_SERIES))
    assert back - onset >= 180
    started = next(s for s in run.of(ev.StageStarted) if s.weight == 25)
    first = min(p.at for p in polls if p.at > started.at)  # bake time counts from the first poll at 25%
    served = next(b for b in run.of(ev.BakeServed) if b.weight == 25)
    assert served.at - first == PLAN.stages[1].bake + (back - last_known)
