"""Worker settings that would break a guarantee are refused when the worker starts."""

from __future__ import annotations

import pytest

from batchline.errors import ConfigurationError
from batchline.workers.settings import WorkerSettings


def test_a_poll_lease_shorter_than_the_interval_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="BATCHLINE_POLL_LEASE"):
        WorkerSettings(poll_interval=600.0, poll_lease=300.0, visibility_timeout=7200)


def test_a_visibility_timeout_shorter_than_a_task_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="BATCHLINE_VISIBILITY_TIMEOUT"):
        WorkerSettings(task_time_limit=600, visibility_timeout=300)


def test_the_defaults_hold_together() -> None:
    settings = WorkerSettings()
    assert settings.poll_lease > settings.poll_interval
    assert settings.visibility_timeout > settings.task_time_limit
