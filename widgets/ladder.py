"""The stage ladder: stages, bake progress and whether promotion is possible."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

BAR_WIDTH = 12


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar like ▕████░░░░▏ filled to `fraction` (clamped to 0..1)."""
    filled = round(min(max(fraction, 0.0), 1.0) * width)
    return "▕" + "█" * filled + "░" * (width - filled) + "▏"


def ladder_line(weights: list[int], current: int, pending: int | None) -> Text:
    """ " 10% ━━ 25% ━━ [50%] ── →75% ── 100%": done stages bold, the current one bracketed, the pending one "→"."""
    line = Text(" ", no_wrap=True, overflow="ellipsis")
    for index, weight in enumerate(weights):
        if index:
            line.append(" ━━ " if weight <= current else " ── ", style="" if weight <= current else "dim")
        if weight == current:
            line.append(f"[{weight}%]", style="bold reverse")
        elif weight == pending:
            line.append(f"→{weight}%", style="bold yellow")
        elif weight < current:
            line.append(f"{weight}%", style="bold green")
        else:
            line.append(f"{weight}%", style="dim")
    return line


def promote_line(weights: list[int], current: int, pending: int | None, blockers: list[str], can_promote: bool) -> Text:
    """What P would do now, or why it cannot."""
    following = [weight for weight in weights if weight > current]
    if pending is not None:
        return Text(f"promoting → {pending}% …", style="bold yellow")
    if not following:
        return Text("final stage reached", style="dim")
    if can_promote:
        line = Text()
        line.append("P", style="bold reverse")
        line.append(f" promote → {following[0]}%")
        return line
    if blockers:
        more = "; …" if len(blockers) > 1 else ""
        return Text(f"promotion blocked: {blockers[0]}{more}", style="yellow")
    return Text("promotion not available", style="dim")


class StageLadder(Static):
    """Three lines: the stages, the phase with its progress, and what P would do."""

    DEFAULT_CSS = """
    StageLadder {
        height: auto;
        min-height: 3;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(
        self,
        weights: list[int],
        current: int,
        pending: int | None,
        phase: str,
        progress: str,
        blockers: list[str],
        can_promote: bool,
        *,
        fraction: float | None = None,
    ) -> None:
        """Render the ladder; `fraction` (0..1), when given, draws a bar after `progress`."""
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(phase, style="bold")
        if progress:
            status.append(f"  {progress}")
        if fraction is not None:
            status.append(" " + progress_bar(fraction))
        lines = [
            ladder_line(weights, current, pending),
            status,
            promote_line(weights, current, pending, blockers, can_promote),
        ]
        self.update(Text("\n").join(lines))
