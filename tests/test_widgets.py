"""Widgets: pure helpers, key handling and looks (snapshots at 80x24 and 120x40)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.message import Message

from widgets.advisory import AdvisoryPanel, AdvisoryRow
from widgets.banner import Banner
from widgets.checklist import ChecklistRow, ChecklistTable, fit_widths
from widgets.eventlog import EventLog
from widgets.header import HeaderInfo, SessionHeader, header_line
from widgets.ladder import StageLadder, ladder_line, promote_line
from widgets.slo import SloRow, SloTable
from widgets.spark import spark
from widgets.status import LABELS, status_text

# --- spark -----------------------------------------------------------------------------------------


def test_spark_scales_between_min_and_max() -> None:
    assert spark([0, 1, 2, 3, 4, 5, 6, 7], 8) == "▁▂▃▄▅▆▇█"


def test_spark_shows_only_the_last_width_values() -> None:
    assert spark([100, 0, 7], 2) == "▁█"


def test_spark_left_pads_short_series() -> None:
    assert spark([0, 1], 5) == "   ▁█"


def test_spark_flat_series_is_the_middle_block() -> None:
    assert spark([3, 3, 3], 3) == "▄▄▄"


def test_spark_missing_values_are_dots() -> None:
    assert spark([None, 0, None, 1], 4) == "·▁·█"
    assert spark([None, None], 3) == " ··"
    assert spark([float("nan"), 2.0], 2) == "·▄"


def test_spark_uses_given_bounds_and_clamps() -> None:
    assert spark([0, 5, 10], 3, lo=0, hi=10) == "▁▅█"
    assert spark([-5, 50], 2, lo=0, hi=10) == "▁█"
    assert spark([2, 2], 2, lo=0, hi=4) == "▅▅"


def test_spark_zero_width_and_empty() -> None:
    assert spark([1, 2], 0) == ""
    assert spark([], 3) == "   "


# --- status ----------------------------------------------------------------------------------------

EXPECTED_LABELS = {
    "ok": "✔ ok",
    "pending": "⚠ pending",
    "breached": "✖ breach",
    "unknown": "◌ no data",
    "open": "☐ open",
    "running": "… running",
    "failed": "✖ failed",
    "attested": "✔ attested",
    "waived": "⊘ waived",
}


@pytest.mark.parametrize(("status", "label"), EXPECTED_LABELS.items())
def test_status_text_is_glyph_and_word(status: str, label: str) -> None:
    assert LABELS[status][0] == label
    assert status_text(status).plain == label


def test_status_colours() -> None:
    assert "green" in str(status_text("ok").style)
    assert "yellow" in str(status_text("pending").style)
    assert {"bold", "red"} <= set(str(status_text("breached").style).split())
    assert "dim" in str(status_text("unknown").style)


def test_unknown_status_shows_its_word() -> None:
    assert status_text("mystery").plain == "mystery"


# --- header ----------------------------------------------------------------------------------------

INFO = HeaderInfo(
    service="publisher-api",
    stable="v1.41.0",
    canary="v1.42.0",
    weight=25,
    phase="baking",
    operator="demo@host",
    session="20261128-0853-3fa2",
    clock="+00:31:20",
    speed=60.0,
)


def test_header_full_width_has_every_part() -> None:
    line = header_line(INFO, 118).plain
    for part in (
        "canary-console",
        "publisher-api v1.41.0 → v1.42.0",
        "25%",
        "baking",
        "demo@host",
        "20261128-0853-3fa2",
    ):
        assert part in line
    assert line.endswith("+00:31:20 ×60")
    assert len(line) == 118


def test_header_narrow_drops_the_least_important_parts() -> None:
    line = header_line(INFO, 78).plain
    assert "canary-console" not in line and "20261128" not in line
    assert "v1.42.0" in line and "25%" in line and "+00:31:20" in line
    assert len(line) <= 78


def test_header_readonly_survives_narrow_widths() -> None:
    info = replace(INFO, readonly=True, speed=None)
    line = header_line(info, 40).plain
    assert "READ-ONLY" in line and "×" not in header_line(info, 120).plain


# --- ladder and column fitting ----------------------------------------------------------------------

WEIGHTS = [10, 25, 50, 75, 100]


def test_ladder_marks_done_current_and_pending() -> None:
    assert ladder_line(WEIGHTS, 25, 50).plain == " 10% ━━ [25%] ── →50% ── 75% ── 100%"
    assert ladder_line(WEIGHTS, 0, None).plain == " 10% ── 25% ── 50% ── 75% ── 100%"


def test_promote_line_says_what_p_does_or_why_not() -> None:
    assert promote_line(WEIGHTS, 25, None, [], True).plain == "P promote → 50%"
    assert promote_line(WEIGHTS, 0, None, [], True).plain == "P promote → 10%"
    blocked = promote_line(WEIGHTS, 25, None, ["bake 12m left", "tiktok held"], False).plain
    assert blocked == "promotion blocked: bake 12m left; …"
    assert promote_line(WEIGHTS, 25, 50, [], False).plain == "promoting → 50% …"
    assert promote_line(WEIGHTS, 100, None, [], False).plain == "final stage reached"


def test_fit_widths_narrows_then_drops_in_order() -> None:
    natural = {"a": 10, "b": 20, "c": 5}
    steps = (("b", 8), ("c", None), ("a", 4))
    assert fit_widths(natural, 100, 2, steps) == natural
    assert fit_widths(natural, 36, 2, steps) == {"a": 10, "b": 15, "c": 5}
    assert fit_widths(natural, 27, 2, steps) == {"a": 10, "b": 8}
    assert fit_widths(natural, 20, 2, steps) == {"a": 8, "b": 8}
    assert fit_widths(natural, 12, 2, steps) == {"a": 4, "b": 8}  # as narrow as allowed, even if too wide


# --- harness ---------------------------------------------------------------------------------------

CHECKLIST = [
    ChecklistRow("ops-database", "Pre-Deployment / Ops", "Database connectivity verified", "ops", "ok", "ops"),
    ChecklistRow("ops-redis", "Pre-Deployment / Ops", "Redis connectivity verified", "ops", "running"),
    ChecklistRow(
        "ops-webhooks", "Pre-Deployment / Ops", "Webhook endpoints responding", "ops", "failed", "ops", "tiktok"
    ),
    ChecklistRow(
        "tests-passing",
        "Pre-Deployment / Team",
        "All tests passing (unit, integration, e2e)",
        "manual",
        "attested",
        "demo",
        "CI #4411",
    ),
    ChecklistRow("security-scans", "Pre-Deployment / Team", "Security scans completed", "manual", "open"),
    ChecklistRow(
        "feature-flags", "Pre-Deployment / Team", "Feature flags configured", "manual", "waived", "demo", "n/a", False
    ),
    ChecklistRow("slo-latency", "Phase 1: Launch 10% Canary", "P95 latency < 10s for 5 minutes", "rule", "pending"),
]

HISTORY = (0.31, 0.33, None, 0.35, 0.4, 0.52, 0.9, 1.4, 2.2, 3.1, 4.0, 6.5, 8.8, 10.4, 11.2, 12.0)
SLO = [
    SloRow("p95_latency", "P95 latency", "breached", "12.0s", "> 10s", "breaching 3m12s of 5m", HISTORY, 10.0),
    SloRow("error_rate", "Error rate", "ok", "0.20%", "> 1%", "", (0.002, 0.003, 0.002, 0.002), 0.01),
    SloRow(
        "success_rate", "Success rate", "pending", "94.8%", "< 95%", "breaching 40s of 5m", (0.99, 0.97, 0.948), 0.95
    ),
    SloRow("webhook_signatures", "Webhook signature verification", "ok", "100.0%", "< 99.9%", "", (1.0,) * 12, 0.999),
    SloRow("critical_alerts", "Critical alerts", "unknown", "no data", "> 0", "no data 1m10s", (0, 0, None, None), 0),
    SloRow("publish_success:tiktok", "Publish success (tiktok)", "ok", "98.1%", "≤ 95%", "", (0.98, 0.981), 0.95),
]

ADVISORY = [
    AdvisoryRow("Memory", "1,812 MB", "↗", "memory grows 40 MB/min: check for a leak", True),
    AdvisoryRow("CPU", "41%", "→", "", False),
    AdvisoryRow("Queue backlog", "120", "↘", "", False),
]


class Harness(App[None]):
    """Every panel widget with realistic data; side by side at 120 wide, stacked at 80."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    CSS = """
    #body { height: 1fr; }
    .-wide #body { layout: horizontal; }
    .-wide #left, .-wide #right { width: 1fr; }
    .-narrow #body { layout: vertical; }
    .-narrow #left, .-narrow #right { height: auto; }
    .-narrow ChecklistTable { height: 6; }
    .-narrow EventLog { height: 3; }
    SloTable { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        yield Banner()
        with Vertical(id="body"):
            with Vertical(id="left"):
                yield StageLadder()
                yield SloTable()
                yield AdvisoryPanel()
            with Vertical(id="right"):
                yield ChecklistTable()
                yield EventLog()

    def on_mount(self) -> None:
        self.query_one(SessionHeader).show(INFO)
        self.query_one(Banner).show("Prometheus unreachable: connection refused (retrying every 10s)", "warning")
        self.query_one(StageLadder).show(
            [10, 25, 50, 75, 100],
            25,
            None,
            "baking",
            "bake 12m30s of 15m left",
            ["P95 latency breaching", "publish success (tiktok) held"],
            False,
            fraction=2.5 / 15,
        )
        self.query_one(SloTable).set_rows(SLO)
        self.query_one(AdvisoryPanel).show(ADVISORY)
        self.query_one(ChecklistTable).set_rows(CHECKLIST)
        log = self.query_one(EventLog)
        log.add("+00:30:00 promoted to 25% by demo")
        log.add("+00:31:10 p95_latency breaching (12.0s > 10s)", "alert")
        log.add("+00:31:20 hold: promotion blocked while p95_latency breaches", "decision")

    def on_checklist_table_tick(self, message: ChecklistTable.Tick) -> None:
        self.messages.append(message)

    def on_checklist_table_waive(self, message: ChecklistTable.Waive) -> None:
        self.messages.append(message)

    def on_slo_table_chosen(self, message: SloTable.Chosen) -> None:
        self.messages.append(message)


def test_snapshot_80x24(snap_compare) -> None:
    assert snap_compare(Harness(), terminal_size=(80, 24))


def test_snapshot_120x40(snap_compare) -> None:
    assert snap_compare(Harness(), terminal_size=(120, 40))


# --- keys and messages -----------------------------------------------------------------------------


async def test_checklist_moves_and_posts_tick_and_waive_for_items_only() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ChecklistTable)
        table.focus()
        await pilot.pause()
        assert table.cursor_row == 0 and table.current_item() is None
        await pilot.press("space", "w")
        await pilot.pause()
        assert app.messages == []
        await pilot.press("j")
        assert table.current_item() == "ops-database"
        await pilot.press("space")
        await pilot.press("j", "j", "w")
        await pilot.pause()
        assert [(type(m).__name__, m.item_id, m.control) for m in app.messages] == [
            ("Tick", "ops-database", table),
            ("Waive", "ops-webhooks", table),
        ]
        await pilot.press("k")
        assert table.current_item() == "ops-redis"
        await pilot.press("G")
        assert table.current_item() == "slo-latency"
        await pilot.press("g")
        assert table.cursor_row == 0


async def test_checklist_headings_group_sections() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)):
        table = app.query_one(ChecklistTable)
        keys = [row.key.value for row in table.ordered_rows]
        assert keys == [
            "§Pre-Deployment / Ops",
            "ops-database",
            "ops-redis",
            "ops-webhooks",
            "§Pre-Deployment / Team",
            "tests-passing",
            "security-scans",
            "feature-flags",
            "§Phase 1: Launch 10% Canary",
            "slo-latency",
        ]


async def test_checklist_keeps_the_cursor_when_statuses_change() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ChecklistTable)
        table.focus()
        await pilot.press("j", "j", "j", "j", "j", "j")
        assert table.current_item() == "security-scans"
        column = table.columns["status"]
        changed = [replace(r, status="attested") if r.id == "security-scans" else r for r in CHECKLIST]
        table.set_rows(changed)
        await pilot.pause()
        assert table.columns["status"] is column  # updated in place, not rebuilt
        assert table.current_item() == "security-scans"
        assert table.get_cell("security-scans", "status").plain == "✔ attested"
        # A new item earlier in the list shifts the rows; the cursor follows the item.
        table.set_rows([ChecklistRow("first", "Pre-Deployment / Ops", "New", "manual", "open"), *changed])
        await pilot.pause()
        assert table.current_item() == "security-scans"


async def test_slo_enter_posts_chosen_and_updates_keep_cursor() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(SloTable)
        table.focus()
        await pilot.press("j", "j", "enter")
        await pilot.pause()
        assert [(m.series, m.control) for m in app.messages] == [("success_rate", table)]
        worse = [replace(r, status="breached") if r.series == "success_rate" else r for r in SLO]
        table.set_rows(worse)
        await pilot.pause()
        assert table.current_series() == "success_rate"
        assert table.get_cell("success_rate", "status").plain == "✖ breach"
        await pilot.press("G")
        assert table.current_series() == "publish_success:tiktok"
        await pilot.press("g", "k")
        assert table.current_series() == "p95_latency"


async def test_tables_fit_a_narrow_pane() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for table in (app.query_one(SloTable), app.query_one(ChecklistTable)):
            assert table.virtual_size.width <= table.scrollable_content_region.width
        assert "limit" not in app.query_one(SloTable).columns
        assert "id" not in app.query_one(ChecklistTable).columns


async def test_eventlog_shows_markup_literally() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(EventLog)
        log.clear_log()
        log.add("[bold]x[/]", "alert")
        await pilot.pause()
        assert [line.text for line in log.lines] == ["[bold]x[/]"]


async def test_banner_starts_hidden_and_toggles() -> None:
    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Banner()

    app = One()
    async with app.run_test() as pilot:
        banner = app.query_one(Banner)
        assert not banner.display
        banner.show("[b]rolled back[/b]")
        await pilot.pause()
        assert banner.display and banner.has_class("-error")
        assert "[b]rolled back[/b]" in str(banner.render())
        banner.hide()
        assert not banner.display
