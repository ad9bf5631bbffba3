"""A seeded model of the service behind the ops API: traffic split, SLO series and health checks.

Values depend only on the seed, the scenario, `now` and the promote/rollback history, never
on how often they are read: each series' noise is a BLAKE2b hash of (seed, version, series,
poll tick) scaled into the series' range. `now` is seconds on the session clock. The
scenarios are described in `scenarios.py`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from console.scenarios import (
    BASELINE,
    EFFECTS,
    LEAK_MB_PER_SECOND,
    ONSETS,
    PER_TRAFFIC,
    RULE_SERIES,
    SCENARIOS,
    SERIES,
    breach_length,
)

__all__ = ["CHECK_TARGETS", "SCENARIOS", "SERIES", "SimModel"]

DESIRED_PODS = 10

# target -> (what a passing check reports, latency range in ms)
_CHECKS: dict[str, tuple[str, float, float]] = {
    "database": ("connected", 2.0, 8.0),
    "redis": ("connected", 1.0, 4.0),
    "storage": ("bucket reachable", 20.0, 60.0),
    "webhook-instagram": ("endpoint responding", 80.0, 160.0),
    "webhook-tiktok": ("endpoint responding", 90.0, 180.0),
    "webhook-meta": ("endpoint responding", 70.0, 150.0),
    "monitoring": ("Prometheus and Grafana reachable", 10.0, 30.0),
    "pagerduty": ("test event accepted", 150.0, 300.0),
    "audit-log": ("writing", 3.0, 9.0),
    "smoke-tests": ("12/12 passed", 900.0, 1500.0),
    "integration-tests": ("48/48 passed", 2500.0, 4000.0),
    "load-test": ("p95 1.9 s at 2x traffic", 3000.0, 5000.0),
    "backup": ("latest backup restored in staging", 40.0, 90.0),
}
CHECK_TARGETS = tuple(_CHECKS)


class SimModel:
    """The simulated deployment: one canary of `canary_version` next to `stable_version`."""

    SCENARIOS = SCENARIOS

    def __init__(
        self,
        scenario: str,
        seed: int = 0,
        *,
        deployment: str = "publisher-api",
        stable_version: str = "v1.41.0",
        canary_version: str = "v1.42.0",
        poll_interval: float = 10.0,
        pods_delay: float = 0.0,
        user: str = "demo",
        roles: tuple[str, ...] = ("admin",),
        failing_checks: frozenset[str] = frozenset(),
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r} (choose from {', '.join(SCENARIOS)})")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be more than 0")
        unknown = sorted(set(failing_checks) - set(_CHECKS))
        if unknown:
            raise ValueError(f"unknown health-check target {unknown[0]!r}")
        self.scenario = scenario
        self.seed = seed
        self.deployment = deployment
        self.stable_version = stable_version
        self.canary_version = canary_version
        self.poll_interval = float(poll_interval)
        self.pods_delay = pods_delay
        self.user = user
        self.roles = tuple(roles)
        self.failing_checks = frozenset(failing_checks)
        self.last_rollback: dict[str, Any] | None = None
        self._weight = 0
        self._promotes: list[tuple[float, int]] = []  # (now, weight), in order
        self._rolled_back = False
        self._clock = 0.0  # the latest `now` seen, for status() without a time

    # -- ops API --------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        return {"user": self.user, "roles": list(self.roles)}

    def status(self, now: float | None = None) -> dict[str, Any]:
        now = self._seen(now)
        ready = 0
        if self._weight > 0 and now - self._promotes[-1][0] >= self.pods_delay:
            ready = DESIRED_PODS
        if self._weight == 100:
            state = "promoted"
        elif self._weight > 0:
            state = "progressing"
        else:
            state = "rolled_back" if self._rolled_back else "idle"
        return {
            "deployment": self.deployment,
            "stable_version": self.stable_version,
            "canary_version": self.canary_version,
            "weight": self._weight,
            "pods": {"ready": ready, "desired": DESIRED_PODS},
            "state": state,
        }

    def health_check(self, target: str, now: float) -> dict[str, Any]:
        self._seen(now)
        if target not in _CHECKS:
            return {"target": target, "ok": False, "detail": "unknown target", "latency_ms": 0.0}
        text, low, high = _CHECKS[target]
        tick = self._tick(now)
        if target in self.failing_checks:
            ms = round(self._draw("check", target, tick, 0.3, 2.0), 1)
            return {"target": target, "ok": False, "detail": "connection refused", "latency_ms": ms}
        ms = round(self._draw("check", target, tick, low, high), 1)
        return {"target": target, "ok": True, "detail": f"{text} ({ms:.0f} ms)", "latency_ms": ms}

    def promote(self, weight: int, now: float) -> dict[str, Any]:
        """Send `weight` percent of traffic to the canary; the same weight again changes nothing."""
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise ValueError(f"weight must be a whole number from 1 to 100, not {weight!r}")
        self._seen(now)
        if weight != self._weight:
            self._weight = weight
            self._promotes.append((now, weight))
            self._rolled_back = False
        return self.status()

    def rollback(self, reason: str, detail: str, now: float) -> dict[str, Any]:
        """Send all traffic back to stable; a no-op when the canary has none."""
        self._seen(now)
        if self._weight > 0:
            self._weight = 0
            self._rolled_back = True
            self.last_rollback = {"at": now, "reason": reason, "detail": detail}
        return self.status()

    # -- scenario -------------------------------------------------------------------

    def reached_at(self, stage: int) -> float | None:
        """When the canary weight first reached `stage` percent or more; None if it never has."""
        return next((t for t, w in self._promotes if w >= stage), None)

    def scenario_onset(self) -> float | None:
        """Session time the scenario's breach begins; None until its anchor stage is reached, or never."""
        if self.scenario not in ONSETS:
            return None
        stage, delay = ONSETS[self.scenario]
        reached = self.reached_at(stage)
        return None if reached is None else reached + delay

    def breaching(self, now: float) -> bool:
        """True while the scenario's fault is active at `now` (whatever the weight)."""
        onset = self.scenario_onset()
        if onset is None or now < onset:
            return False
        length = breach_length(self.scenario, self.poll_interval)
        return length is None or now < onset + length

    # -- series ---------------------------------------------------------------------

    def sample(self, now: float) -> dict[str, float | None]:
        """The canary's value of every series; all None while it takes no traffic."""
        self._seen(now)
        if self._weight == 0:
            return dict.fromkeys(SERIES, None)
        values: dict[str, float | None] = self._values("canary", now, self._weight)
        if self.scenario == "memory-leak":
            values["memory_mb"] += LEAK_MB_PER_SECOND * (now - self._promotes[0][0])
        if self.breaching(now):
            if self.scenario == "no-data":
                values.update(dict.fromkeys(RULE_SERIES, None))
            else:
                tick = self._tick(now)
                for name, (low, high) in EFFECTS[self.scenario].items():
                    values[name] = self._draw("canary", name, tick, low, high)
        return values

    def stable_sample(self, now: float) -> dict[str, float]:
        """The stable version's values: always healthy; traffic series follow its share."""
        self._seen(now)
        return self._values("stable", now, 100 - self._weight)

    def incidents(self, now: float) -> dict[str, float]:
        """Firing incidents by severity (0 or 1), as `canary_incident_active{severity=...}`."""
        firing = self.scenario == "p1-alert" and self._weight > 0 and self.breaching(now)
        return {"P0": 0.0, "P1": 1.0 if firing else 0.0}

    def _values(self, version: str, now: float, weight: int) -> dict[str, float]:
        tick = self._tick(now)
        values = {name: self._draw(version, name, tick, low, high) for name, (low, high) in BASELINE.items()}
        for name, (low, high) in PER_TRAFFIC.items():
            values[name] = float(round(weight / 100 * self._draw(version, name, tick, low, high)))
        return {name: values[name] for name in SERIES}

    def _draw(self, version: str, name: str, tick: int, low: float, high: float) -> float:
        key = f"{self.seed}|{version}|{name}|{tick}".encode()
        noise = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64
        return low + (high - low) * noise

    def _tick(self, now: float) -> int:
        return int(now // self.poll_interval)

    def _seen(self, now: float | None) -> float:
        if now is not None:
            self._clock = max(self._clock, now)
        return self._clock
