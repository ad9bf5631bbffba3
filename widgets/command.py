"""Command mode: the `:` line and the pure parser behind it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.binding import Binding
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input

from widgets.note import NOTE_MAX, clean_text
from widgets.rollback import DETAIL_MAX, ROLLBACK_REASONS

_TRY = "(try: promote, rollback, attest, waive, quit, help)"
_WEIGHT = re.compile(r"\d+%?")
_GOTO = re.compile(r"\d{1,3}%|[+-]?(?=\d)(\d+h)?(\d+m)?(\d+s)?")


@dataclass(frozen=True)
class Command:
    """A parsed command: `verb` plus its arguments."""

    verb: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandError:
    """Why a command line could not be parsed, as one line for the user."""

    message: str


def _promote(rest: str) -> Command | CommandError:
    if not rest:
        return Command("promote", {"weight": None})
    if len(rest.split()) > 1:
        return CommandError(f"promote: expected one weight, got '{rest}'")
    weight = int(rest.rstrip("%")) if _WEIGHT.fullmatch(rest) else 0
    if not 1 <= weight <= 100:
        return CommandError(f"promote: weight must be a whole number from 1 to 100, not '{rest}'")
    return Command("promote", {"weight": weight})


def _rollback(rest: str) -> Command | CommandError:
    if not rest:
        return Command("rollback", {"reason": None, "detail": ""})
    word, _, detail = rest.partition(" ")
    reason = word.upper()
    if reason not in ROLLBACK_REASONS:
        return CommandError(f"rollback: reason must be one of {', '.join(ROLLBACK_REASONS)}, not '{word}'")
    detail = detail.strip()
    if len(detail) > DETAIL_MAX:
        return CommandError(f"rollback: detail must be at most {DETAIL_MAX} characters, not {len(detail)}")
    return Command("rollback", {"reason": reason, "detail": detail})


def _item_and_text(verb: str, rest: str, text_name: str, required: bool) -> Command | CommandError:
    usage = f"{verb} <item> <{text_name}>" if required else f"{verb} <item> [{text_name}]"
    item, _, text = rest.partition(" ")
    text = text.strip()
    if not item:
        return CommandError(f"{verb}: which item? ({usage})")
    if required and not text:
        return CommandError(f"{verb}: a {text_name} is required ({usage})")
    if len(text) > NOTE_MAX:
        return CommandError(f"{verb}: {text_name} must be at most {NOTE_MAX} characters, not {len(text)}")
    return Command(verb, {"item": item, text_name: text})


def _goto(rest: str) -> Command | CommandError:
    if not _GOTO.fullmatch(rest) or (rest.endswith("%") and int(rest[:-1]) > 100):
        return CommandError(f"goto: target must be a point like 50% or a time like +1h12m, not '{rest}'")
    return Command("goto", {"target": rest})


def _bare(verb: str) -> Callable[[str], Command | CommandError]:
    def parse(rest: str) -> Command | CommandError:
        return CommandError(f"{verb}: takes no arguments, got '{rest}'") if rest else Command(verb, {})

    return parse


_PARSERS: dict[str, Callable[[str], Command | CommandError]] = {
    "promote": _promote,
    "rollback": _rollback,
    "attest": lambda rest: _item_and_text("attest", rest, "note", required=False),
    "waive": lambda rest: _item_and_text("waive", rest, "reason", required=True),
    "goto": _goto,
    "quit": _bare("quit"),
    "q": _bare("quit"),
    "help": _bare("help"),
}


def parse_command(text: str) -> Command | CommandError:
    """Parse one command line (a leading ':' is allowed); control characters are dropped first."""
    text = clean_text(text, len(text)).removeprefix(":").strip()
    verb, _, rest = text.partition(" ")
    if not verb:
        return CommandError(f"empty command {_TRY}")
    parser = _PARSERS.get(verb.lower())
    if parser is None:
        return CommandError(f"unknown command '{verb}' {_TRY}")
    return parser(rest.strip())


class CommandLine(Input):
    """The one-line command input; enter parses, escape cancels."""

    DEFAULT_CSS = """
    CommandLine {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
        &:focus {
            border: none;
        }
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False, id="command.cancel")]

    class Submitted(Message):
        """A command parsed cleanly."""

        def __init__(self, command_line: CommandLine, command: Command) -> None:
            super().__init__()
            self.command_line = command_line
            self.command = command

        @property
        def control(self) -> CommandLine:
            return self.command_line

    class Failed(Message):
        """The line did not parse; `error` is one line for the user. The text stays for editing."""

        def __init__(self, command_line: CommandLine, error: str) -> None:
            super().__init__()
            self.command_line = command_line
            self.error = error

        @property
        def control(self) -> CommandLine:
            return self.command_line

    class Cancelled(Message):
        """Escape, or enter on an empty line."""

        def __init__(self, command_line: CommandLine) -> None:
            super().__init__()
            self.command_line = command_line

        @property
        def control(self) -> CommandLine:
            return self.command_line

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        words = ["promote ", "rollback ", "attest ", "waive ", "goto ", "quit", "help"]
        words += [f"rollback {reason} " for reason in ROLLBACK_REASONS]
        super().__init__(
            placeholder="promote [weight] · rollback [reason [detail]] · attest <item> · waive <item> <reason> · help",
            suggester=SuggestFromList(words, case_sensitive=False),
            id=id,
            classes=classes,
        )

    async def action_submit(self) -> None:
        if not self.value.strip():
            self.action_cancel()
            return
        result = parse_command(self.value)
        if isinstance(result, CommandError):
            self.post_message(self.Failed(self, result.message))
            return
        self.value = ""
        self.post_message(self.Submitted(self, result))

    def action_cancel(self) -> None:
        self.value = ""
        self.post_message(self.Cancelled(self))
