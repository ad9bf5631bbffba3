"""Textual widgets: presentational only, fed by reactive data."""
