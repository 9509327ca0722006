"""Operations fixtures: real worker, beat and Flower processes on a private slice of Redis.

Each stack gets its own key prefix, queue and kombu prefix in Redis database ``OPS_DB``, so
stacks of parallel test processes never see each other's jobs or tasks, and everything under
the prefix is deleted afterwards.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from batchline.sandbox import FakeModel, Faults, Sandbox
from batchline.workers.app import BatchlineCelery, create_app
from batchline.workers.settings import WorkerSettings
from tests.conftest import TEST_COMPLETION_DELAY
from tests.ops.processes import BATCHLINE, free_port, start, stop, wait_until

#: Redis database of the operations tests (the workers' tests use 9, real use 0).
OPS_DB = 10
OPS_REDIS_URL = f"redis://127.0.0.1:6379/{OPS_DB}"
#: Lines ``batchline.jobs`` logs, one per job state change (logfmt after the message).
STATE_LINE = re.compile(r"job state change (?P<fields>.*)$")


@dataclass
class Stack:
    """A running worker, beat and Flower sharing one private prefix."""

    env: dict[str, str]
    app: BatchlineCelery
    flower_url: str
    flower_auth: tuple[str, str]
    logs: Path
    secrets: list[str] = field(default_factory=list)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def state_changes(self, job_id: str) -> list[dict[str, str]]:
        """The worker's structured state-change lines for ``job_id``, parsed."""
        changes = []
        for line in self.log("worker").splitlines():
            found = STATE_LINE.search(line)
            if found and f"job_id={job_id}" in line:
                changes.append(dict(part.split("=", 1) for part in found["fields"].split()))
        return changes


def private_env(prefix: str, sandbox: Sandbox, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWER_", "BATCHLINE_"))}
    env.update(sandbox.env)
    env.update(
        HOME=str(home),
        REDIS_URL=OPS_REDIS_URL,
        BATCHLINE_KEY_PREFIX=prefix,
        BATCHLINE_QUEUE=f"{prefix}.q",
        BATCHLINE_BROKER_KEY_PREFIX=f"{prefix}:kombu:",
        BATCHLINE_POLL_INTERVAL="0.5",
        BATCHLINE_PROVIDER_RATE_LIMIT="100",
        # The test Redis keeps nothing on disk; a real deployment's workers refuse that.
        BATCHLINE_ALLOW_VOLATILE_REDIS="1",
    )
    return env


def settings_from(env: dict[str, str]) -> WorkerSettings:
    """The settings the child processes read from ``env``, for enqueueing from the test."""
    return WorkerSettings(
        redis_url=env["REDIS_URL"],
        key_prefix=env["BATCHLINE_KEY_PREFIX"],
        queue=env["BATCHLINE_QUEUE"],
        broker_key_prefix=env["BATCHLINE_BROKER_KEY_PREFIX"],
        poll_interval=float(env["BATCHLINE_POLL_INTERVAL"]),
    )


def delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(OPS_REDIS_URL)
    try:
        doomed = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if doomed:
            client.delete(*doomed)
    finally:
        client.close()


@pytest.fixture(scope="module")
def stack(sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Flower, then a worker and beat (``batchline`` commands, as in docker-compose.yml)."""
    sandbox_server.faults = Faults(completion_delay=TEST_COMPLETION_DELAY)
    sandbox_server.model = FakeModel()
    logs = tmp_path_factory.mktemp("stack")
    prefix = f"bltest-ops-{uuid.uuid4().hex[:10]}"
    env = private_env(prefix, sandbox_server, logs)
    auth = ("ops", secrets.token_urlsafe(12))
    port = free_port()
    hostname = f"{prefix}@localhost"
    flower_env = {**env, "FLOWER_BASIC_AUTH": ":".join(auth)}
    url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        flower_argv = [BATCHLINE, "flower", "--port", str(port)]
        procs.append(start(flower_argv, flower_env, logs / "flower.log"))
        wait_until(lambda: _healthy(url), 30, "Flower to answer")
        # Flower listens for events from its start, so every task of the job will be seen.
        worker_argv = [BATCHLINE, "worker", "--concurrency", "4", "--hostname", hostname]
        procs.append(start(worker_argv, env, logs / "worker.log", cwd=logs))
        procs.append(start([BATCHLINE, "beat"], env, logs / "beat.log", cwd=logs))
        app = create_app(settings_from(env))
        sandbox_secrets = [v for k, v in sandbox_server.env.items() if "KEY" in k or "TOKEN" in k]
        yield Stack(env, app, url, auth, logs, secrets=[auth[1], *sandbox_secrets])
        app.runtime.redis.close()
    finally:
        stop(*procs)
        delete_prefix(prefix)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
