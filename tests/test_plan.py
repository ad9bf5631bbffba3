"""The plan: the checklist as data, its validation, durations and the `plan` listing."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from console.plan import PlanError, default_plan, load_plan, parse_duration, parse_plan
from console.plan_view import plan_json, plan_rows, render_plan

ROOT = Path(__file__).parents[1]
SHARED_CHECKLIST = Path(__file__).parents[2] / "shared" / "CHECKLIST.md"
OPS_TARGETS = {
    "database",
    "redis",
    "storage",
    "webhook-instagram",
    "webhook-tiktok",
    "webhook-meta",
    "monitoring",
    "pagerduty",
    "audit-log",
    "smoke-tests",
    "integration-tests",
    "load-test",
    "backup",
}

# Every `- [ ]` line of CHECKLIST.md, in order, as written after "- [ ] " (trailing spaces stripped).
CHECKBOXES = (
    "Database connectivity verified (`/internal/ops/execute` → `health-check`)",
    "Redis connectivity verified",
    "S3/storage accessibility confirmed",
    "Webhook endpoints responding (Instagram, TikTok, Meta)",
    "Monitoring dashboards accessible (Grafana, Prometheus)",
    "PagerDuty integration tested and alerts configured",
    "Internal ops team authenticated with appropriate roles",
    "Audit logging enabled and functioning",
    "IP allowlists configured for operations access",
    "Backup and rollback procedures tested",
    "All tests passing (unit, integration, e2e)",
    "Security scans completed with no critical issues",
    "Database migrations applied and tested",
    "Feature flags configured for gradual rollout",
    "Container images built and scanned for vulnerabilities",
    "Execute canary deployment via `/internal/ops/canary/promote`",
    "Verify canary pods are running and healthy",
    "Monitor SLO metrics via internal dashboard:",
    "P95 latency < 10 seconds",
    "Success rate ≥ 95%",
    "Error rate < 1%",
    "Webhook signature verification ≥ 99.9%",
    "Check application logs for errors",
    "Validate business metrics (publishing rates, user activity)",
    "**Wait 30+ minutes** for traffic pattern establishment",
    "SLO compliance maintained for 30+ minutes",
    "No critical alerts triggered",
    "Application logs show normal behavior",
    "Database performance within normal ranges",
    "External API rate limits not exceeded",
    "Customer success metrics stable",
    "Promote to 25% via operations interface",
    "**Wait 15 minutes** → Verify SLOs maintained",
    "Promote to 50% via operations interface",
    "**Wait 15 minutes** → Verify SLOs maintained",
    "Promote to 75% via operations interface",
    "**Wait 10 minutes** → Verify SLOs maintained",
    "Promote to 100% (full deployment)",
    "P95 response time trends",
    "Error rate patterns",
    "Database connection pool status",
    "Memory and CPU utilization",
    "Active user counts",
    "Publishing success rates per platform",
    "Content publishing rates normal",
    "User engagement metrics stable",
    "Platform-specific metrics within ranges:",
    "Instagram: Post success rate > 95%",
    "TikTok: Video upload success rate > 95%",
    "Reddit: Comment/post success rate > 95%",
    "Webhook processing latency acceptable",
    "No user complaints or support tickets",
    "**P95 latency** exceeds 10 seconds for 5+ consecutive minutes",
    "**Error rate** exceeds 1% for 5+ consecutive minutes",
    "**Success rate** drops below 95% for 5+ consecutive minutes",
    "**Webhook signatures** verification drops below 99.9%",
    "**Database** connection failures > 5% for 2+ minutes",
    "**Critical alerts** fired (P0/P1 incidents)",
    "Memory leaks detected (steady memory growth)",
    "Unusual log patterns or exception spikes",
    "External API rate limiting triggered",
    "Customer reports of degraded experience",
    "Publishing queues backing up significantly",
    "Third-party integration failures",
    "All SLO targets met consistently",
    "Application logs show normal operation",
    "Database performance stable",
    "No pending alerts or warnings",
    "Smoke tests pass end-to-end",
    "Load testing confirms performance",
    "Business metrics returned to baseline",
    "Integration tests with all platforms pass",
    "Backup and monitoring systems functioning",
    "Documentation updated with any changes",
    "All deployment actions logged in audit system",
    "SLO compliance data recorded",
    "Performance metrics baseline updated",
    "Any issues or anomalies documented",
    "Engineering team notified of successful deployment",
    "Operations team briefed on any configuration changes",
    "Customer success team updated on feature availability",
    "Post-deployment review scheduled if issues occurred",
    "Traffic routed to stable version",
    "SLO metrics recovering",
    "Error rates decreasing",
    "Collect logs and metrics from failed deployment",
    "Document root cause",
    "Update deployment checklist based on learnings",
    "**100% traffic** on new version for 2+ hours",
    "**All SLOs** consistently within targets",
    "**No critical incidents** related to deployment",
    "**Business metrics** at or above baseline",
    "**Monitoring and alerting** functioning normally",
    "**Team confidence** in system stability",
)


def checklist_lines(text: str) -> list[tuple[str, str]]:
    """(section, text) of every checkbox: "Heading / Subheading[ / parent item]"."""
    heads: list[str] = []
    parents: list[tuple[int, str]] = []
    out = []
    for line in text.splitlines():
        if m := re.match(r"^(##+) (.*)$", line):
            heads = heads[: len(m.group(1)) - 2] + [m.group(2).strip().removesuffix(" Checklist")]
            parents = []
            continue
        m = re.match(r"^( *)(?:- \[ \] (.*)|\d+\. (.*))$", line)
        if not m:
            continue
        indent = len(m.group(1))
        parents = [p for p in parents if p[0] < indent]
        if m.group(2) is None:  # a numbered step such as "2. **Verify Rollback**:"
            parents.append((indent, m.group(3).replace("**", "").strip().rstrip(":")))
            continue
        out.append((" / ".join(heads + [p[1] for p in parents]), m.group(2).rstrip()))
        parents.append((indent, m.group(2).rstrip()))
    return out


# -- (a) checklist coverage ---------------------------------------------------------------


def test_every_checkbox_is_exactly_one_item_in_order():
    texts = [i.text for i in default_plan().items]
    assert len(CHECKBOXES) == 94
    assert texts == list(CHECKBOXES)
    counts = Counter(texts)
    for line in CHECKBOXES:
        assert counts[line] == CHECKBOXES.count(line), line


@pytest.mark.skipif(not SHARED_CHECKLIST.exists(), reason="shared CHECKLIST.md not present")
def test_checklist_file_matches_the_literal_list_and_the_sections():
    parsed = checklist_lines(SHARED_CHECKLIST.read_text(encoding="utf-8"))
    assert [t for _, t in parsed] == list(CHECKBOXES)
    assert [(i.section, i.text) for i in default_plan().items] == parsed


def test_item_sections_and_handlings():
    plan = default_plan()
    by_text = {i.text: i for i in plan.items}
    assert by_text["Redis connectivity verified"].section == "Pre-Deployment / Infrastructure Readiness"
    nested = by_text["P95 latency < 10 seconds"]
    assert nested.section == (
        "Deployment Execution / Phase 1: Launch 10% Canary / Monitor SLO metrics via internal dashboard:"
    )
    assert (nested.handling, nested.rule) == ("rule", "p95_latency")
    assert by_text["Traffic routed to stable version"].section == "Rollback Procedure / Verify Rollback"
    assert by_text["Traffic routed to stable version"].phase == "rollback"
    webhooks = by_text["Webhook endpoints responding (Instagram, TikTok, Meta)"]
    assert webhooks.target == "webhook-instagram,webhook-tiktok,webhook-meta"
    for platform in ("Instagram: Post success rate > 95%", "Reddit: Comment/post success rate > 95%"):
        assert by_text[platform].rule == "publish_success"
    assert by_text["Memory leaks detected (steady memory growth)"].shown == "memory_mb"
    prompt = by_text["Customer reports of degraded experience"]
    assert (prompt.handling, prompt.required) == ("manual", False)
    auto = by_text["All deployment actions logged in audit system"]
    assert auto.handling == "auto" and "hash-chained" in auto.how


def test_items_reference_known_targets_and_carry_what_they_need():
    plan = default_plan()
    for item in plan.items:
        if item.handling == "ops":
            assert {t.strip() for t in (item.target or "").split(",")} <= OPS_TARGETS, item.id
        if item.handling in ("gate", "auto"):
            assert item.how, item.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", item.id), item.id
    automatic = [i.rule for i in plan.items if i.section == "Rollback Triggers / Automatic Rollback Conditions"]
    assert automatic == [r.name for r in plan.rules if r.action == "rollback"]


# -- (b) default plan values ----------------------------------------------------------------


def test_default_plan_stages_and_timings():
    plan = default_plan()
    assert (plan.name, plan.deployment) == ("default", "publisher-api")
    assert [(s.weight, s.bake) for s in plan.stages] == [(10, 1800), (25, 900), (50, 900), (75, 600), (100, 0)]
    assert (plan.poll_interval, plan.validation, plan.no_data_limit, plan.cumulative_cap) == (10, 7200, 300, 0.5)


def test_default_plan_rules():
    rules = {r.name: (r.comparator, r.threshold, r.sustain, r.action, r.unit) for r in default_plan().rules}
    assert rules == {
        "p95_latency": (">", 10, 300, "rollback", "s"),
        "error_rate": (">", 0.01, 300, "rollback", "ratio"),
        "success_rate": ("<", 0.95, 300, "rollback", "ratio"),
        "webhook_signatures": ("<", 0.999, 0, "rollback", "ratio"),
        "db_connection_failures": (">", 0.05, 120, "rollback", "ratio"),
        "critical_alerts": (">", 0, 0, "rollback", "count"),
        "publish_success": ("<=", 0.95, 300, "hold", "ratio"),
    }


def test_default_plan_series_and_boundaries():
    plan = default_plan()
    assert set(plan.series()) == {
        "p95_latency",
        "error_rate",
        "success_rate",
        "webhook_signatures",
        "db_connection_failures",
        "critical_alerts",
        "publish_success:instagram",
        "publish_success:tiktok",
        "publish_success:reddit",
    }
    assert plan.rule("p95_latency").query == 'slo:latency_p95_seconds{version="canary"}'
    # "Success rate ≥ 95%": exactly 95% is fine. "Post success rate > 95%": exactly 95% breaches.
    assert not plan.rule("success_rate").breaches(0.95)
    assert plan.rule("publish_success").breaches(0.95)
    assert not plan.rule("p95_latency").breaches(10.0)
    assert plan.rule("critical_alerts").breaches(1)
    assert {s.name for s in plan.shown} == {
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
    }
    assert all(s.advice for s in plan.shown)


# -- (c) bad plan files ---------------------------------------------------------------------

GOOD = """
name = "t"
deployment = "d"
stages = [{ weight = 50, bake = "1m" }, { weight = 100, bake = 0 }]

[[rules]]
name = "r"
title = "R"
query = "q"
comparator = ">"
threshold = 1

[[items]]
id = "a"
section = "S"
text = "A"
handling = "rule"
phase = "rollout"
rule = "r"
"""


def test_the_base_plan_is_valid():
    assert parse_plan(GOOD).rule("r").comparator == ">"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("weight = 50", "weight = 100", r"stages\.1\.weight: weights must strictly increase"),
        ("weight = 100, bake = 0", "weight = 90, bake = 0", r"stages\.1\.weight: the last stage must be 100"),
        ('bake = "1m"', 'bake = "-5m"', r"stages\.0\.bake: .*greater than or equal to 0"),
        ('bake = "1m"', 'bake = "abc"', r"stages\.0\.bake: not a duration"),
        ('comparator = ">"', 'comparator = "=>"', r"rules\.0\.comparator"),
        ('rule = "r"', 'rule = "nope"', r"items\.0\.rule: unknown rule 'nope'"),
        ('title = "R"', 'title = "R"\ncolour = "red"', r"rules\.0\.colour: Extra inputs are not permitted"),
        ('name = "t"', 'name = "t"\npoll_interval = 0', r"poll_interval"),
        ('name = "t"', 'name = "t"\n[broken', r"not valid TOML"),
    ],
)
def test_bad_plans_name_the_field(old, new, expected):
    assert old in GOOD
    with pytest.raises(PlanError, match=expected) as err:
        parse_plan(GOOD.replace(old, new, 1), "bad.toml")
    assert str(err.value).startswith("bad.toml: ")
    assert "\n" not in str(err.value)


def test_duplicate_rule_names_and_item_ids():
    rule = GOOD.split("[[rules]]")[1].split("[[items]]")[0]
    with pytest.raises(PlanError, match=r"rules\.1: duplicate name 'r'"):
        parse_plan(GOOD + "\n[[rules]]" + rule)
    item = GOOD.split("[[items]]")[1]
    with pytest.raises(PlanError, match=r"items\.1: duplicate name 'a'"):
        parse_plan(GOOD + "\n[[items]]" + item)


def test_load_plan_reports_a_missing_file(tmp_path):
    with pytest.raises(PlanError, match="cannot read plan"):
        load_plan(tmp_path / "absent.toml")


# -- (d) durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("1h30m", 5400), (12, 12), ("0", 0), (1.5, 1.5)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "5 minutes", "m5", True, None])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# -- (e) the quick example ------------------------------------------------------------------


def test_quick_plan_loads_and_mirrors_the_default_rules():
    quick = load_plan(ROOT / "docs" / "examples" / "quick.toml")
    default = default_plan()
    assert quick.poll_interval == 1 and quick.validation == 15 and quick.no_data_limit == 10
    assert [s.weight for s in quick.stages] == [10, 25, 50, 75, 100]
    assert all(5 <= s.bake <= 10 for s in quick.stages[:-1])
    assert quick.series().keys() == default.series().keys()
    for rule in quick.rules:
        ref = default.rule(rule.name)
        assert (rule.comparator, rule.threshold, rule.action) == (ref.comparator, ref.threshold, ref.action)
        assert rule.sustain == {300: 5, 120: 2, 0: 0}[ref.sustain], rule.name
    handlings = Counter(i.handling for i in quick.items)
    assert set(handlings) == {"ops", "manual"} and handlings["manual"] <= 2


def test_plan_reference_embeds_the_quick_plan_verbatim():
    doc = (ROOT / "docs" / "plan.md").read_text(encoding="utf-8")
    quick = (ROOT / "docs" / "examples" / "quick.toml").read_text(encoding="utf-8")
    assert f"```toml\n{quick}```" in doc


# -- (f) the listing ------------------------------------------------------------------------


def test_render_plan_mentions_every_item_and_rule():
    plan = default_plan()
    text = render_plan(plan)
    for item in plan.items:
        assert item.text in text and f"[{item.id} · {item.phase}]" in text, item.id
    for rule in plan.rules:
        assert rule.name in text and rule.query in text
    assert "Stages: 10% (bake 30m) → 25% (bake 15m) → 50% (bake 15m) → 75% (bake 10m) → 100%; validation 2h" in text
    assert "SLO rule: p95_latency > 10 s for 5m → rollback" in text
    assert "SLO rule: publish_success <= 95% for 5m → hold" in text
    assert "SLO rule: webhook_signatures < 99.9% at once → rollback" in text
    assert "ops health-check: webhook-instagram, webhook-tiktok, webhook-meta" in text
    assert "operator attestation (optional)" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "\x1b" not in text


def test_render_plan_groups_items_by_section():
    plan = default_plan()
    lines = render_plan(plan).splitlines()
    sections = list(dict.fromkeys(i.section for i in plan.items))
    positions = [lines.index(s) for s in sections]
    assert positions == sorted(positions)


def test_plan_rows_and_json():
    plan = default_plan()
    rows = plan_rows(plan)
    assert [r["text"] for r in rows] == list(CHECKBOXES)
    row = next(r for r in rows if r["id"] == "ops-database")
    assert row["does"] == "ops health-check: database"
    assert row["section"] == "Pre-Deployment / Infrastructure Readiness"
    data = json.loads(plan_json(plan))
    assert data["items"] == rows
    assert data["stages"][0] == {"weight": 10, "bake": 1800.0}
    assert [r["name"] for r in data["rules"]] == [r.name for r in plan.rules]
