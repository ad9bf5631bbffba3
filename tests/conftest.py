"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from prom_helpers import Exposition, PrometheusServer


@pytest.fixture(autouse=True, scope="session")
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing a test runs writes to the real user dirs: sessions.db, console.log, anchor.key, keymap."""
    home = tmp_path_factory.mktemp("home")
    names = {"XDG_DATA_HOME": "data", "XDG_STATE_HOME": "state", "XDG_CONFIG_HOME": "config"}
    saved = {k: os.environ.get(k) for k in [*names, "CANARY_ANCHOR_KEY"]}
    for var, sub in names.items():
        os.environ[var] = str(home / sub)
    os.environ["CANARY_ANCHOR_KEY"] = str(home / "anchor.key")
    yield
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


# --- Prometheus integration (tests/prom_helpers.py) -----------------------------------------------


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus (Debian's binary) for the whole run, scraping `set_targets([...])`.

    Skips when the binary is absent, except in CI (CI=true), where that is a failure.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "the prometheus binary is not installed (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    server = PrometheusServer(binary, tmp_path_factory.mktemp("prometheus"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def exposition() -> Iterator[Exposition]:
    """A /metrics endpoint on a free port whose gauges the test sets; closed after the test."""
    server = Exposition()
    try:
        yield server
    finally:
        server.close()


# --- end Prometheus integration --------------------------------------------------------------------
