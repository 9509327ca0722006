"""Shared fixtures: one sandbox server per test process, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchline.config import get_settings
from batchline.sandbox import FakeModel, Faults, Sandbox

#: Tests keep the sandbox quick; the product default (about a second) is for humans.
TEST_COMPLETION_DELAY = 0.3

#: Result lines the providers wrote; where each file came from is in its folder's README.md.
REAL_OUTPUTS = Path(__file__).resolve().parent / "fixtures" / "real-batch-outputs"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    with Sandbox(faults=Faults(completion_delay=TEST_COMPLETION_DELAY)) as sb:
        yield sb


@pytest.fixture
def sandbox(sandbox_server: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The running sandbox with default faults and model, its env exported for this test."""
    sandbox_server.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    sandbox_server.model = FakeModel()
    for key, value in sandbox_server.env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield sandbox_server
    get_settings.cache_clear()
