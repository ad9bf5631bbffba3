"""The replay timeline: playing or paused, position / duration, a progress bar and the speed."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from widgets.linebar import LineBar


@dataclass(frozen=True)
class ReplayInfo:
    """Where the replay is: session seconds from `start` to `end`, at `position`."""

    position: float
    start: float
    end: float
    speed: float
    playing: bool


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"+{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def bar_line(info: ReplayInfo | None, width: int) -> Text:
    """The bar for `info` (None: still loading), fitted to `width` cells."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("REPLAY", style="bold reverse")
    if info is None:
        line.append("  loading the session…")
        return line
    state = "▶ playing" if info.playing else "■ end" if info.position >= info.end else "‖ paused"
    where = f"{clock(info.position)} / {clock(info.end)}"
    line.append(f"  {state}  ", style="bold")
    line.append(where)
    hint = "  p play · [ ] step · < > speed · :goto 50%"
    speed = f"  ×{info.speed:g}"
    room = width - len(line) - len(speed) - 2
    if room - len(hint) >= 12:
        room -= len(hint)
    else:
        hint = ""
    if room >= 6:
        span = info.end - info.start
        done = round(room * (info.position - info.start) / span) if span > 0 else room
        line.append("  ")
        line.append("━" * done, style="bold")
        line.append("─" * (room - done), style="dim")
    line.append(speed, style="bold")
    line.append(hint, style="dim")
    return line


class ReplayBar(LineBar):
    """One line under the panes while replaying."""

    def line(self, info: ReplayInfo | None, width: int) -> Text:
        return bar_line(info, width)
