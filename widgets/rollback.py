"""The rollback dialog: pick a reason, add an optional detail, confirm with y (never with escape)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList

from widgets.note import clean_text

ROLLBACK_REASONS = ("MANUAL", "SLO_VIOLATION", "ERROR_SPIKE", "CUSTOMER_IMPACT", "DEPENDENCY_FAILURE", "SECURITY")
DETAIL_MAX = 200


class RollbackModal(ModalScreen[tuple[str, str] | None]):
    """Dismisses with (reason, detail) on y, the Roll back button or enter in the detail; None on n or escape."""

    DEFAULT_CSS = """
    RollbackModal {
        align: center middle;
    }
    RollbackModal > #dialog {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $error;
        background: $panel;
        padding: 0 1;
    }
    RollbackModal #title {
        text-style: bold;
        margin-bottom: 1;
    }
    RollbackModal #reasons {
        height: auto;
        border: none;
        padding: 0;
    }
    RollbackModal #buttons {
        height: auto;
        align-horizontal: right;
    }
    RollbackModal Button {
        margin-left: 2;
    }
    RollbackModal #hint {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("y", "confirm", "Roll back", id="rollback.yes"),
        Binding("n,escape", "cancel", "Cancel", id="rollback.no"),
        Binding("j", "move(1)", show=False),
        Binding("k", "move(-1)", show=False),
    ]
    AUTO_FOCUS = "#reasons"

    def __init__(self, weight: int, service: str, *, reason: str = "MANUAL", detail: str = "") -> None:
        super().__init__()
        self._weight = weight
        self._service = service
        self._reason = reason if reason in ROLLBACK_REASONS else "MANUAL"
        self._detail = clean_text(detail, DETAIL_MAX)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Roll back {self._service} from {self._weight}% to 0%?", id="title", markup=False)
            yield Label(id="reason")
            reasons = OptionList(*ROLLBACK_REASONS, id="reasons")
            reasons.highlighted = ROLLBACK_REASONS.index(self._reason)
            yield reasons
            yield Label("Detail (optional)")
            yield Input(self._detail, placeholder="what you saw", max_length=DETAIL_MAX, id="detail")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Roll back", id="rollback", variant="error")
            yield Label("y roll back · n/esc cancel · tab next field", id="hint")

    def _choice(self) -> tuple[str, str]:
        index = self.query_one("#reasons", OptionList).highlighted
        reason = ROLLBACK_REASONS[index] if index is not None else "MANUAL"
        return reason, clean_text(self.query_one("#detail", Input).value, DETAIL_MAX)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.query_one("#reason", Label).update(f"Reason: {ROLLBACK_REASONS[event.option_index]}  (↑/↓ to change)")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#detail", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self._choice())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self._choice() if event.button.id == "rollback" else None)

    def action_move(self, step: int) -> None:
        reasons = self.query_one("#reasons", OptionList)
        if not reasons.has_focus:
            return
        if step > 0:
            reasons.action_cursor_down()
        else:
            reasons.action_cursor_up()

    def action_confirm(self) -> None:
        self.dismiss(self._choice())

    def action_cancel(self) -> None:
        self.dismiss(None)
