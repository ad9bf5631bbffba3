"""Status labels: every status is glyph + word + colour, never colour alone."""

from __future__ import annotations

from rich.text import Text

LABELS: dict[str, tuple[str, str]] = {
    "ok": ("✔ ok", "success"),
    "pending": ("⚠ pending", "warning"),
    "breached": ("✖ breach", "error"),
    "unknown": ("◌ no data", "muted"),
    "open": ("☐ open", "normal"),
    "running": ("… running", "accent"),
    "failed": ("✖ failed", "error"),
    "attested": ("✔ attested", "success"),
    "waived": ("⊘ waived", "muted"),
}
"""status → (glyph + word, kind). The kind names a colour role, like the CSS theme variables."""

# ANSI colour names so the label still reads on a 16-colour terminal.
KIND_STYLES: dict[str, str] = {
    "success": "green",
    "warning": "yellow",
    "error": "bold red",
    "muted": "dim",
    "normal": "",
    "accent": "cyan",
}

LABEL_WIDTH = max(len(label) for label, _ in LABELS.values())


def status_text(status: str) -> Text:
    """The glyph + word for `status`, coloured; an unknown status shows as its own word."""
    label, kind = LABELS.get(status, (status, "normal"))
    return Text(label, style=KIND_STYLES[kind], no_wrap=True, overflow="ellipsis")
