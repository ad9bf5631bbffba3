"""PrometheusSource against a real Prometheus (Debian's binary) scraping a test exposition."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from prom_helpers import Exposition, PrometheusServer, StubServer, free_port, wait_for

from console.metrics import series_names
from console.plan import Plan, Rule, Shown, Stage, default_plan
from console.prom import PrometheusError, PrometheusSource

Sample = Callable[..., Awaitable[tuple[dict[str, float | None], PrometheusSource]]]
CRITICAL = 'count(ALERTS{alertstate="firing",severity=~"P0|P1"}) or vector(0)'


def rule(name: str, query: str, comparator: str = ">", **extra: object) -> Rule:
    return Rule(name=name, title=name, query=query, comparator=comparator, threshold=0.5, **extra)


def make_plan(rules: list[Rule], shown: list[Shown] = ()) -> Plan:
    return Plan(
        name="test", deployment="d", poll_interval=1, stages=[Stage(weight=100, bake=0)], rules=rules, shown=shown
    )


@pytest.fixture(scope="module")
def scraped(prometheus: PrometheusServer) -> Iterator[PrometheusServer]:
    """Prometheus scraping one exposition with every sample these tests read."""
    server = Exposition()
    server.set("ptest_latency", 1.5, version="canary")
    server.set("ptest_nan", math.nan, version="canary")
    server.set("ptest_inf", math.inf, version="canary")
    server.set("ptest_publish", 0.99, platform="instagram")
    server.set("ptest_publish", 0.9, platform="tiktok")
    server.set("ptest_multi", 0.2, pod="a")
    server.set("ptest_multi", 0.7, pod="b")
    # An explicit timestamp a minute old: Prometheus keeps answering it for 5 minutes.
    server.set("ptest_old", 7, timestamp_ms=int(time.time() * 1000) - 60_000, version="canary")
    server.set("canary_incident_active", 1, severity="P1")
    prometheus.set_targets([server.address])
    try:
        wait_for(lambda: prometheus.query("ptest_latency") and prometheus.query("ptest_old"))
        yield prometheus
    finally:
        # End the P1 incident and see the alert stop before the target goes: a target removed
        # without a fresh scrape leaves no stale marker, and the alert would fire on for minutes.
        server.set("canary_incident_active", 0, severity="P1")
        wait_for(lambda: not prometheus.query(f'ALERTS{{alertstate="firing",instance="{server.address}"}}'))
        prometheus.set_targets([])
        server.close()


@pytest.fixture
async def sample() -> AsyncIterator[Sample]:
    """`await sample(url, plan)`: one poll of a new source, returned too; closed after the test."""
    sources: list[PrometheusSource] = []

    async def poll(url: str, plan: Plan, **kwargs: float) -> tuple[dict[str, float | None], PrometheusSource]:
        sources.append(PrometheusSource(url, plan, **kwargs))
        return await sources[-1].sample(0.0), sources[-1]

    yield poll
    for source in sources:
        await source.aclose()


async def test_gauge_arrives_as_float(scraped: PrometheusServer, sample: Sample) -> None:
    plan = make_plan(
        [rule("latency", 'ptest_latency{version="canary"}')],
        [Shown(name="inf", title="inf", query="ptest_inf")],
    )
    values, source = await sample(scraped.url, plan)
    assert values == {"latency": 1.5, "inf": math.inf}
    assert source.last_error is None


async def test_nan_and_missing_metric_are_none(scraped: PrometheusServer, sample: Sample) -> None:
    plan = make_plan([rule("nan", "ptest_nan"), rule("missing", "ptest_never_exposed")])
    values, source = await sample(scraped.url, plan)
    assert values == {"nan": None, "missing": None}
    assert source.last_error is None


async def test_vector_by_label_gives_one_series_per_label(scraped: PrometheusServer, sample: Sample) -> None:
    publish = rule("publish", "ptest_publish", "<=", by="platform", series=["instagram", "tiktok", "reddit"])
    values, _ = await sample(scraped.url, make_plan([publish]))
    assert values == {"publish:instagram": 0.99, "publish:tiktok": 0.9, "publish:reddit": None}


async def test_several_elements_count_as_the_worst_case(scraped: PrometheusServer, sample: Sample) -> None:
    plan = make_plan(
        [rule("above", "ptest_multi", ">"), rule("below", "ptest_multi", "<"), rule("below_eq", "ptest_multi", "<=")],
        [Shown(name="shown", title="shown", query="ptest_multi")],
    )
    values, _ = await sample(scraped.url, plan)
    assert values == {"above": 0.7, "below": 0.2, "below_eq": 0.2, "shown": 0.7}


async def test_sample_older_than_three_polls_is_none(scraped: PrometheusServer, sample: Sample) -> None:
    assert float(scraped.query("ptest_old")[0]["value"][1]) == 7  # Prometheus itself still answers it
    values, _ = await sample(scraped.url, make_plan([rule("old", "ptest_old"), rule("fresh", "ptest_latency")]))
    assert values == {"old": None, "fresh": 1.5}
    # With a 30 s poll the limit is 105 s, so the same minute-old sample counts.
    slow = make_plan([rule("old", "ptest_old")]).model_copy(update={"poll_interval": 30.0})
    values, _ = await sample(scraped.url, slow)
    assert values == {"old": 7.0}


async def test_p1_incident_fires_critical_alerts(scraped: PrometheusServer) -> None:
    source = PrometheusSource(scraped.url, make_plan([rule("critical_alerts", CRITICAL)]))
    try:
        deadline = time.monotonic() + 20
        values = await source.sample(0.0)
        while values["critical_alerts"] != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            values = await source.sample(0.0)
        assert values == {"critical_alerts": 1.0}
    finally:
        await source.aclose()


async def test_default_plan_answers_every_series(scraped: PrometheusServer, sample: Sample) -> None:
    plan = default_plan()
    values, source = await sample(scraped.url, plan)
    assert list(values) == series_names(plan)
    assert values["critical_alerts"] is not None  # `or vector(0)` always answers
    assert values["p95_latency"] is None and source.last_error is None


async def test_bad_query_is_none_with_one_line_error(scraped: PrometheusServer, sample: Sample) -> None:
    plan = make_plan([rule("bad", "sum(ptest_latency"), rule("good", "ptest_latency")])
    values, source = await sample(scraped.url, plan)
    assert values == {"bad": None, "good": 1.5}
    assert source.last_error is not None
    assert "HTTP 400" in source.last_error and "\n" not in source.last_error


async def test_prometheus_down_gives_none_quickly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    plan = default_plan()
    source = PrometheusSource(url, plan)
    try:
        started = time.monotonic()
        values = await source.sample(0.0)
        assert time.monotonic() - started < 3
        assert list(values) == series_names(plan)
        assert set(values.values()) == {None}
        assert source.last_error == f"Prometheus unreachable at {url}: connection refused"
        with pytest.raises(PrometheusError) as raised:
            await source.check()
        assert str(raised.value) == f"Prometheus unreachable at {url}: connection refused"
    finally:
        await source.aclose()


async def test_credentials_in_the_url_are_not_shown() -> None:
    port = free_port()
    source = PrometheusSource(f"http://user:s3cret@127.0.0.1:{port}", make_plan([rule("x", "x")]))
    try:
        with pytest.raises(PrometheusError) as raised:
            await source.check()
    finally:
        await source.aclose()
    assert "s3cret" not in str(raised.value) and f"127.0.0.1:{port}" in str(raised.value)


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer(lambda path: (200, "{}", 0.0))
    try:
        yield server
    finally:
        server.close()


async def test_server_503_is_none(stub: StubServer, sample: Sample) -> None:
    body = json.dumps({"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"})
    stub.respond = lambda path: (503, body, 0.0)
    values, source = await sample(stub.url, make_plan([rule("x", "x")]))
    assert values == {"x": None}
    assert source.last_error == f"Prometheus at {stub.url} answered HTTP 503: query timed out in expression evaluation"
    with pytest.raises(PrometheusError, match="HTTP 503"):
        await source.check()


async def test_hanging_server_times_out_to_none(stub: StubServer, sample: Sample) -> None:
    stub.respond = lambda path: (200, "{}", 3.0)
    started = time.monotonic()
    values, source = await sample(stub.url, make_plan([rule("x", "x")]), timeout=0.5)
    assert time.monotonic() - started < 2
    assert values == {"x": None}
    assert source.last_error == f"Prometheus at {stub.url} timed out after 0.5s"


async def test_restarted_prometheus_answers_again_on_the_same_url(scraped: PrometheusServer) -> None:
    source = PrometheusSource(scraped.url, make_plan([rule("latency", "ptest_latency")]))
    try:
        scraped.stop()
        try:
            assert await source.sample(0.0) == {"latency": None}
            assert source.last_error is not None and "connection refused" in source.last_error
        finally:
            scraped.start()
        deadline = time.monotonic() + 20
        while (values := await source.sample(0.0)) != {"latency": 1.5} and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert values == {"latency": 1.5}
        assert source.last_error is None
    finally:
        await source.aclose()
