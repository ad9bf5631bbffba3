"""Metrics sources: where the samples of every series come from.

A source returns, for one poll, a value per series (rule series and shown metrics); None
means UNKNOWN (NaN, empty result, error). `SimulatorSource` reads the embedded simulator;
`PrometheusSource` (console/prom.py) asks a real Prometheus.
"""

from __future__ import annotations

from typing import Any, Protocol

from console.plan import Plan


class MetricsSource(Protocol):
    async def sample(self, now: float) -> dict[str, float | None]: ...

    async def aclose(self) -> None: ...


def series_names(plan: Plan) -> list[str]:
    """Every series a source must answer for: rule series, then shown metrics."""
    return [*plan.series(), *(s.name for s in plan.shown)]


class SimulatorSource:
    """The embedded simulator's values, no setup needed."""

    def __init__(self, model: Any, plan: Plan) -> None:
        self._model = model
        self._names = series_names(plan)

    async def sample(self, now: float) -> dict[str, float | None]:
        values = self._model.sample(now)
        return {name: values.get(name) for name in self._names}

    async def aclose(self) -> None:
        return None
