"""A detail chart of one series: values over session minutes, the threshold, and the breach spans."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Label, Static


def render_chart(
    times: list[float],
    values: list[float | None],
    threshold: float | None,
    breach_spans: list[tuple[float, float]],
    width: int,
    height: int,
    colorless: bool = False,
) -> str:
    """Draw the chart as text (ANSI colour codes unless `colorless`); times are session seconds, x is in minutes.

    Needs at least one value that is not None; None values leave gaps in the line.
    """
    import plotext

    points = [(t / 60, v) for t, v in zip(times, values, strict=True) if v is not None]
    fig = plotext.figure
    fig.clear()
    plotext.terminal.limit(False, False)
    fig.plot_size(width, height)
    fig.theme("simple")
    fig.legend(False)
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    levels = ys + ([threshold] if threshold is not None else [])
    low, high = min(levels), max(levels)
    pad = (high - low) * 0.05 or abs(high) * 0.1 or 1.0
    fig.ruler("y").lim(low - pad, high + pad)
    if xs[0] == xs[-1]:
        fig.ruler("x").lim(max(0.0, xs[0] - 1), xs[0] + 1)
    series = fig.signal(xs, ys, marker=plotext.marker("hd").fill("cyan"))
    series.lines()
    drawn = 0
    for i, value in enumerate(values):
        if value is None:
            continue
        if drawn and values[i - 1] is None:
            series.line(drawn, False)  # no segment back across the gap
        drawn += 1
    fig.draw(series)
    if threshold is not None:
        fig.line(threshold, pixel=plotext.pixel(foreground="yellow"), style="dotted")
    breached = [
        (t / 60, v)
        for t, v in zip(times, values, strict=True)
        if v is not None and any(start <= t <= end for start, end in breach_spans)
    ]
    if breached:
        marks = fig.signal(
            [x for x, _ in breached], [y for _, y in breached], marker=plotext.marker("xmark").fill("red")
        )
        fig.draw(marks)
    return fig.build().string(colorless=colorless)


class _Plot(Static):
    """Redraws the chart at its own size whenever that size changes."""

    def __init__(self, modal: ChartModal) -> None:
        super().__init__(id="chart")
        self._modal = modal

    def on_resize(self, event: Resize) -> None:
        self.update(self._modal.draw(self.content_size.width, self.content_size.height))


class ChartModal(ModalScreen[None]):
    """A large chart of one series; escape, q or enter close it."""

    DEFAULT_CSS = """
    ChartModal {
        align: center middle;
    }
    ChartModal > #dialog {
        width: 90%;
        height: 90%;
        border: thick $primary;
        background: $panel;
        padding: 0 1;
    }
    ChartModal #title {
        text-style: bold;
    }
    ChartModal #chart {
        height: 1fr;
        width: 1fr;
    }
    ChartModal #link, ChartModal #hint {
        color: $text-muted;
    }
    """

    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="chart.close")]

    def __init__(
        self,
        title: str,
        times: list[float],
        values: list[float | None],
        threshold: float | None,
        breach_spans: list[tuple[float, float]],
        unit: str,
        link: str | None = None,
        link_text: str = "",
    ) -> None:
        super().__init__()
        self._title = title
        self._times = times
        self._values = values
        self._threshold = threshold
        self._breach_spans = breach_spans
        self._unit = unit
        self._link = link
        self._link_text = link_text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self._title, id="title", markup=False)
            yield _Plot(self)
            yield Static(self._legend(), id="legend")
            if self._link:
                yield Static(Text(self._link_text or self._link, style=Style(link=self._link)), id="link")
            yield Label("x: minutes since session start · esc / q / enter close", id="hint")

    def _legend(self) -> Text:
        unit = f" {self._unit}" if self._unit else ""
        legend = Text()
        legend.append("▚ value", style="cyan")
        legend.append(f" ({self._unit})" if self._unit else "")
        if self._threshold is not None:
            legend.append(f"  ┈ threshold {self._threshold:.4g}{unit}", style="yellow")
        if self._breach_spans:
            spans = len(self._breach_spans)
            legend.append(f"  ✗ breach ({spans} span{'s' if spans > 1 else ''})", style="bold red")
        return legend

    def draw(self, width: int, height: int) -> Text:
        """The chart sized to `width` x `height` cells, or a one-line notice."""
        if not any(v is not None for v in self._values):
            return Text("◌ no data")
        if width < 20 or height < 6:
            return Text("window too small for the chart")
        chart = render_chart(
            self._times,
            self._values,
            self._threshold,
            self._breach_spans,
            width,
            height,
            colorless=self.app.no_color,
        )
        return Text.from_ansi(chart, no_wrap=True, overflow="crop")

    def action_close(self) -> None:
        self.dismiss(None)
