"""Volatile Redis is refused loudly: private ``redis-server`` processes with and without an
append-only file (and one with ``CONFIG`` disabled), and real worker and beat processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from batchline.demo.processes import free_port
from batchline.errors import VolatileRedisError
from batchline.workers.persistence import check_persistence
from batchline.workers.runtime import Runtime
from tests.workers.conftest import settings_for

ROOT = Path(__file__).resolve().parents[2]
BATCHLINE = str(Path(sys.executable).with_name("batchline"))
REDIS_SERVER = shutil.which("redis-server") or "redis-server"


@contextmanager
def private_redis(tmp_path: Path, *options: str) -> Iterator[str]:
    """A ``redis-server`` of this test's own on a free port; stopped by its PID."""
    port = free_port()
    argv = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    argv += ["--save", "", *options]
    with open(tmp_path / f"redis-{port}.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "no redis-server"
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def runtime(url: str, **overrides: object) -> Runtime:
    return Runtime(settings_for("bltest-persist", redis_url=url, **overrides))


def test_a_redis_without_aof_or_snapshots_is_refused(tmp_path: Path) -> None:
    with private_redis(tmp_path) as url:
        rt = runtime(url, allow_volatile_redis=False)
        with pytest.raises(VolatileRedisError, match="keeps nothing on disk") as raised:
            check_persistence(rt, "worker")
        assert "BATCHLINE_ALLOW_VOLATILE_REDIS=1" in str(raised.value)
        rt.redis.close()


def test_a_volatile_redis_is_allowed_when_the_setting_says_so(tmp_path: Path) -> None:
    with private_redis(tmp_path) as url:
        rt = runtime(url, allow_volatile_redis=True)
        assert "keeps nothing on disk" in check_persistence(rt, "beat")
        rt.redis.close()


def test_a_redis_with_an_append_only_file_is_accepted(tmp_path: Path) -> None:
    with private_redis(tmp_path, "--appendonly", "yes") as url:
        rt = runtime(url, allow_volatile_redis=False)
        assert "keeps an append-only file" in check_persistence(rt, "worker")
        rt.redis.close()


def test_a_redis_with_config_disabled_is_reported_as_unverified(tmp_path: Path) -> None:
    with private_redis(tmp_path, "--rename-command", "CONFIG", "") as url:
        rt = runtime(url, allow_volatile_redis=False)
        line = check_persistence(rt, "worker")
        assert "persistence could not be verified" in line
        rt.redis.close()


def _service_env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHLINE_")}
    env.update(
        REDIS_URL=url,
        BATCHLINE_KEY_PREFIX="bltest-persist",
        BATCHLINE_QUEUE="bltest-persist.q",
        HOME=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.mark.parametrize("command", [["worker", "--concurrency=1"], ["beat"]])
def test_worker_and_beat_refuse_to_start_on_a_volatile_redis(
    tmp_path: Path, command: list[str]
) -> None:
    with private_redis(tmp_path) as url:
        argv = [BATCHLINE, *command]
        if command[0] == "beat":
            argv.append(f"--schedule={tmp_path / 'beat-schedule'}")
        done = subprocess.run(
            argv,
            env=_service_env(url, tmp_path),
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
        )
    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 1, output
    assert "keeps nothing on disk" in output
    assert "BATCHLINE_ALLOW_VOLATILE_REDIS=1" in output
