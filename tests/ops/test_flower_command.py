"""``batchline flower`` refuses to expose Flower without credentials, run as a user would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.ops.processes import BATCHLINE


def run_flower(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    clean.update(env, HOME=str(tmp_path))
    return subprocess.run(
        [BATCHLINE, "flower", *args], env=clean, capture_output=True, text=True, timeout=30
    )


def test_flower_will_not_start_without_basic_auth(tmp_path: Path) -> None:
    done = run_flower(tmp_path)
    assert done.returncode == 1
    assert "FLOWER_BASIC_AUTH=user:password" in done.stderr
    assert "--unauthenticated" in done.stderr


@pytest.mark.parametrize("value", ["admin:", ":secret,ops:pw"])
def test_flower_rejects_credentials_without_a_user_or_a_password(
    tmp_path: Path, value: str
) -> None:
    done = run_flower(tmp_path, FLOWER_BASIC_AUTH=value)
    assert done.returncode == 1
    assert "FLOWER_BASIC_AUTH must be user:password" in done.stderr
    # The message never repeats what was typed: it may be a password.
    assert "secret" not in done.stderr and "pw" not in done.stderr.replace("password", "")
