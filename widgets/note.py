"""A one-line note dialog (attestation notes, waiver reasons) and the free-text cleaner the dialogs share."""

from __future__ import annotations

import unicodedata

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

NOTE_MAX = 500


def clean_text(text: str, limit: int) -> str:
    """Drop control and format characters (tab/CR/LF become spaces), trim, and cut to `limit` characters."""
    kept = []
    for char in text:
        if char in "\t\r\n":
            kept.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cf"):
            kept.append(char)
    return "".join(kept).strip()[:limit]


class NoteModal(ModalScreen[str | None]):
    """Ask for one line of text: enter submits the cleaned text, escape gives None."""

    DEFAULT_CSS = """
    NoteModal {
        align: center middle;
    }
    NoteModal > #dialog {
        width: 70;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $panel;
        padding: 0 1;
    }
    NoteModal #title {
        text-style: bold;
        margin-bottom: 1;
    }
    NoteModal #error {
        color: $error;
        text-style: bold;
        display: none;
    }
    NoteModal.-invalid #error {
        display: block;
    }
    NoteModal #hint {
        color: $text-muted;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="note.cancel")]
    AUTO_FOCUS = "#note"

    def __init__(self, title: str, prompt: str, required: bool = False, placeholder: str = "") -> None:
        super().__init__()
        self._title = title
        self._prompt = prompt
        self._required = required
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self._title, id="title", markup=False)
            yield Static(self._prompt, id="prompt", markup=False)
            yield Input(placeholder=self._placeholder, max_length=NOTE_MAX, id="note")
            yield Label("✖ a reason is required", id="error")
            hint = "enter save · esc cancel" if self._required else "enter save (may be empty) · esc cancel"
            yield Label(hint, id="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = clean_text(event.value, NOTE_MAX)
        if self._required and not text:
            self.add_class("-invalid")
            return
        self.dismiss(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.remove_class("-invalid")

    def action_cancel(self) -> None:
        self.dismiss(None)
