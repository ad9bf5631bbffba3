"""What the simulated service does: series names, healthy baselines and the failure scenarios.

Each value is drawn uniformly from a `(low, high)` range. A scenario's breach starts at its
onset: the session time the canary weight first reached the anchor stage, plus a delay.
"""

from __future__ import annotations

PLATFORMS = ("instagram", "tiktok", "reddit")

RULE_SERIES = (
    "p95_latency",
    "error_rate",
    "success_rate",
    "webhook_signatures",
    "db_connection_failures",
    "critical_alerts",
    *(f"publish_success:{p}" for p in PLATFORMS),
)

SHOWN_SERIES = (
    "memory_mb",
    "cpu_ratio",
    "exceptions_per_min",
    "rate_limited_per_min",
    "queue_backlog",
    "active_users",
    "db_pool_in_use",
    "publish_per_min",
    "webhook_latency_p95",
    "integration_failures_per_min",
)

SERIES = RULE_SERIES + SHOWN_SERIES

# Healthy values, comfortably inside every SLO of the default plan.
BASELINE: dict[str, tuple[float, float]] = {
    "p95_latency": (1.3, 2.3),
    "error_rate": (0.0015, 0.0035),
    "success_rate": (0.991, 0.997),
    "webhook_signatures": (0.9995, 1.0),
    "db_connection_failures": (0.0, 0.008),
    "critical_alerts": (0.0, 0.0),
    **{f"publish_success:{p}": (0.972, 0.993) for p in PLATFORMS},
    "memory_mb": (470.0, 490.0),
    "cpu_ratio": (0.32, 0.46),
    "exceptions_per_min": (1.0, 6.0),
    "rate_limited_per_min": (0.0, 3.0),
    "queue_backlog": (8.0, 40.0),
    "db_pool_in_use": (0.28, 0.42),
    "webhook_latency_p95": (0.18, 0.35),
    "integration_failures_per_min": (0.0, 2.0),
}

# Series that scale with the share of traffic a version serves: value at 100% traffic.
PER_TRAFFIC: dict[str, tuple[float, float]] = {
    "active_users": (13300.0, 14700.0),
    "publish_per_min": (810.0, 990.0),
}

SCENARIOS: tuple[str, ...] = (
    "healthy",
    "latency-regression",
    "error-spike",
    "webhook-signatures",
    "db-failures",
    "p1-alert",
    "memory-leak",
    "flapping",
    "no-data",
)

SUMMARIES: dict[str, str] = {
    "healthy": "nothing goes wrong; the rollout reaches 100%",
    "latency-regression": "canary P95 latency ~14 s from 5 min after 25%",
    "error-spike": "canary error rate 4-6% from 2 min after 50%",
    "webhook-signatures": "webhook signature checks at 97% from 1 min after 25%",
    "db-failures": "12% DB connection failures from 10 min after 10%",
    "p1-alert": "a P1 incident fires 200 s after 50%",
    "memory-leak": "memory grows ~40 MB per 10 min; SLOs stay green",
    "flapping": "error rate 3% for just under 5 min after 25% (+5 min); no rollback",
    "no-data": "every rule series is missing for 3 min from 2 min after 25%; no rollback",
}

# scenario -> (anchor stage weight, delay in seconds after the weight first reached it)
ONSETS: dict[str, tuple[int, float]] = {
    "latency-regression": (25, 300.0),
    "error-spike": (50, 120.0),
    "webhook-signatures": (25, 60.0),
    "db-failures": (10, 600.0),
    "p1-alert": (50, 200.0),
    "flapping": (25, 300.0),
    "no-data": (25, 120.0),
}

# Canary values while a scenario's breach is active (overrides BASELINE).
EFFECTS: dict[str, dict[str, tuple[float, float]]] = {
    "latency-regression": {"p95_latency": (12.5, 15.5), "cpu_ratio": (0.78, 0.88), "queue_backlog": (350.0, 500.0)},
    "error-spike": {
        "error_rate": (0.04, 0.06),
        "success_rate": (0.925, 0.935),
        "exceptions_per_min": (80.0, 120.0),
        "integration_failures_per_min": (8.0, 14.0),
    },
    "webhook-signatures": {"webhook_signatures": (0.968, 0.972), "integration_failures_per_min": (4.0, 7.0)},
    "db-failures": {
        "db_connection_failures": (0.11, 0.13),
        "db_pool_in_use": (0.95, 1.0),
        "exceptions_per_min": (30.0, 50.0),
    },
    "p1-alert": {"critical_alerts": (1.0, 1.0), "exceptions_per_min": (20.0, 40.0)},
    "flapping": {"error_rate": (0.029, 0.031), "exceptions_per_min": (30.0, 40.0)},
}

NO_DATA_SECONDS = 180.0
FLAP_SECONDS = 300.0  # the flapping breach lasts this minus one poll interval: just short of a 5 min sustain
LEAK_MB_PER_SECOND = 40.0 / 600.0


def breach_length(scenario: str, poll_interval: float) -> float | None:
    """How long a scenario's breach lasts from its onset; None for good."""
    if scenario == "flapping":
        return FLAP_SECONDS - poll_interval
    if scenario == "no-data":
        return NO_DATA_SECONDS
    return None
