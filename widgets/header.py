"""The one-line session header."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from widgets.linebar import LineBar


@dataclass(frozen=True)
class HeaderInfo:
    """What the header shows about the session."""

    service: str
    stable: str
    canary: str
    weight: int
    phase: str
    operator: str
    session: str
    clock: str
    speed: float | None
    readonly: bool = False


# (text, style, priority): the lowest priority parts are dropped first when the line is too narrow.
_Part = tuple[str, str, int]


def _parts(info: HeaderInfo) -> tuple[list[_Part], list[_Part]]:
    """The left-aligned and right-aligned parts of the line."""
    left: list[_Part] = [("canary-console", "bold", 0)]
    if info.readonly:
        left.append(("READ-ONLY", "bold reverse yellow", 9))
    left += [
        (f"{info.service} {info.stable} → {info.canary}", "", 5),
        (f"{info.weight}%", "bold", 8),
        (info.phase, "bold", 7),
    ]
    clock = info.clock if info.speed is None else f"{info.clock} ×{info.speed:g}"
    right: list[_Part] = [(info.operator, "", 2), (info.session, "dim", 1), (clock, "", 6)]
    return left, right


def _width(parts: list[_Part]) -> int:
    return sum(len(text) for text, _, _ in parts) + 2 * max(len(parts) - 1, 0)


def header_line(info: HeaderInfo, width: int) -> Text:
    """The header for `info`, fitted to `width` cells by dropping the least important parts."""
    left, right = _parts(info)
    gap = 3 if left and right else 0
    while left + right and _width(left) + gap + _width(right) > width:
        lowest = min(left + right, key=lambda part: part[2])
        for side in (left, right):
            if lowest in side:
                side.remove(lowest)
        gap = 3 if left and right else 0
    line = Text(no_wrap=True, overflow="ellipsis")
    for index, (text, style, _) in enumerate(left):
        line.append("  " if index else "")
        line.append(text, style=style)
    line.append(" " * max(width - _width(left) - _width(right), gap if left and right else 0))
    for index, (text, style, _) in enumerate(right):
        line.append("  " if index else "")
        line.append(text, style=style)
    return line


class SessionHeader(LineBar):
    """One line: service, versions, weight, phase, operator, session id and the session clock."""

    def line(self, info: HeaderInfo | None, width: int) -> Text:
        if info is None:
            return Text("canary-console", style="bold")
        return header_line(info, width)
