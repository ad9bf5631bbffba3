"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

# --- Prometheus integration (tests/prom_helpers.py) -----------------------------------------------
from prom_helpers import Exposition, PrometheusServer


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
