"""examples/fastapi_app.py run exactly as its docstring says, from the repository root in a
fresh environment (no PYTHONPATH): ``batchline worker``, ``batchline beat`` and
``uvicorn --factory examples.fastapi_app:app_from_env --port N`` as separate processes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx

from batchline.sandbox import Sandbox
from batchline.sandbox.server import free_port
from tests.workers.conftest import settings_env, settings_for
from tests.workers.helpers import started

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_documented_commands_run_a_job_to_its_webhook(
    sandbox: Sandbox, prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **sandbox.env, **settings_env(settings_for(prefix)), "PUBLIC_URL": url}
    env.pop("PYTHONPATH", None)
    worker = [str(BIN / "batchline"), "worker", "--concurrency=4", "--", "--without-mingle"]
    beat = [str(BIN / "batchline"), "beat", "--schedule", str(tmp_path / "beat-schedule")]
    api = [str(BIN / "uvicorn"), "--factory", "examples.fastapi_app:app_from_env"]
    with (
        started(worker, env, REPO, tmp_path / "worker.log"),
        started(beat, env, REPO, tmp_path / "beat.log"),
        started([*api, "--port", str(port)], env, REPO, tmp_path / "api.log"),
    ):
        deadline = time.monotonic() + 60
        while True:
            try:
                reviews = {"reviews": ["Great pasta!", "Cold soup, rude staff."]}
                response = httpx.post(f"{url}/jobs", json=reviews, timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                time.sleep(0.2)
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        while (status := httpx.get(f"{url}/jobs/{job_id}", timeout=5).json())["report"] is None:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)
    assert status["report"]["reviews"] == 2
    assert status["report"]["failed"] == 0
