"""docker-compose.yml's sandbox stack, run for real on a container engine, with the user's code.

The workers get the example package (examples/containers/app, not batchline's and not the
tests') the documented way: mounted at /srv/app (``BATCHLINE_APP_DIR``) and named in
``BATCHLINE_INCLUDE``. The job is enqueued from inside the stack by the user's own image, built
``FROM`` batchline's with the package ``COPY``-ed in, which also receives the signed webhooks.

CI runs ``../shared/tools/container-engine`` first (``.ci/run``); without an engine this test
fails and says so, it never skips.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.ops.engine import (
    IMAGE_INPUTS,
    USER_CONTEXT,
    Project,
    content_tag,
    docker,
    engine_problem,
    ensure_image,
    run,
)
from tests.ops.processes import REPO, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.container,
    # One stack for the module: keep its tests on one xdist worker.
    pytest.mark.xdist_group("container-stack"),
    pytest.mark.timeout(1800),
]

SERVICES = {"redis", "flower", "sandbox", "sandbox-worker", "sandbox-beat"}
MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-3-5-haiku-latest", "google/gemini-2.5-flash")
REQUESTS = 3
BEAT_SCHEDULE_DIR = "/var/lib/batchline/beat"


@dataclass
class Stack:
    project: Project
    flower_url: str
    flower_auth: tuple[str, str]
    #: ``python -m invoicing.enqueue``'s report, by model.
    report: dict[str, dict[str, Any]]
    schedule_files: list[str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    problem = engine_problem()
    if problem:
        pytest.fail(f"{problem}; run ../shared/tools/container-engine first (.ci/run does)")
    image = content_tag("batchline", REPO, IMAGE_INPUTS)
    ensure_image(image, REPO)
    user_image = content_tag(f"batchline-shop-{image.split(':')[1]}", USER_CONTEXT, ["."])
    ensure_image(user_image, USER_CONTEXT, "--build-arg", f"BATCHLINE_IMAGE={image}")

    name = f"bltest-{uuid.uuid4().hex[:10]}"
    auth = ("ops", secrets.token_urlsafe(12))
    webhook_secret = secrets.token_urlsafe(16)
    flower_port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path_factory.mktemp("compose-home")),
        "BATCHLINE_IMAGE": image,
        "BATCHLINE_APP_DIR": str(USER_CONTEXT / "app"),
        "BATCHLINE_INCLUDE": "invoicing.jobs",
        "BATCHLINE_WEBHOOK_SECRET": webhook_secret,
        "FLOWER_BASIC_AUTH": ":".join(auth),
        "FLOWER_PORT": str(flower_port),
        "SANDBOX_PORT": str(free_port()),
    }
    project = Project(name, env)
    try:
        project.compose("up", "--detach", "--no-build", "--wait", "--wait-timeout", "120")
        # beat comes back with the schedule it wrote to its volume, and must still tick: the
        # jobs below finish only through its polls.
        project.compose("restart", "sandbox-beat")
        enqueue = [docker(), "run", "--rm", "--name", f"{name}-shop"]
        enqueue += ["--network", project.network, "--network-alias", "shop"]
        enqueue += ["-e", "REDIS_URL=redis://redis:6379/0"]
        enqueue += ["-e", f"BATCHLINE_WEBHOOK_SECRET={webhook_secret}"]
        enqueue += [user_image, "python", "-m", "invoicing.enqueue", "--webhook-host", "shop"]
        enqueue += ["--requests", str(REQUESTS), "--timeout", "90"]
        done = run(enqueue, timeout=240, check=False)
        assert done.stdout.strip(), f"no report: {done.stderr[-3000:]}\n{project.logs()}"
        report = json.loads(done.stdout.strip().splitlines()[-1])
        listing = project.compose("exec", "-T", "sandbox-beat", "ls", BEAT_SCHEDULE_DIR)
        yield Stack(
            project,
            f"http://127.0.0.1:{flower_port}",
            auth,
            report,
            schedule_files=listing.split(),
        )
    except BaseException:
        print(project.logs())
        raise
    finally:
        run([docker(), "rm", "--force", f"{name}-shop"], check=False)
        project.down()


def test_a_job_per_provider_reaches_the_users_callback_inside_the_stack(stack: Stack) -> None:
    worker_host = stack.project.container_id("sandbox-worker")[:12]
    assert set(stack.report) == set(MODELS), stack.report
    for model, job in stack.report.items():
        assert job["state"] == "callbacks_done", (model, job)
        assert job["outcome"] == "completed", (model, job)
        assert job["callbacks"] == ["done", "done"], (model, job)
        # The user's callback ran in the stack's worker, from the user's module, and saw every
        # request as a typed Invoice.
        assert job["filed"] == {
            "requests": str(REQUESTS),
            "invoices": str(REQUESTS),
            "worker_host": worker_host,
            "module": "invoicing.jobs",
        }, (model, job)


def test_the_sandbox_workers_sign_webhooks_with_the_stacks_secret(stack: Stack) -> None:
    # The receiver in the user's container accepts only correctly signed deliveries.
    assert {model: job["webhooks"] for model, job in stack.report.items()} == dict.fromkeys(
        MODELS, 1
    )


def test_beat_keeps_its_schedule_where_the_service_user_can_write(stack: Stack) -> None:
    assert any(name.startswith("celerybeat-schedule") for name in stack.schedule_files), (
        stack.schedule_files
    )


def test_flower_answers_401_without_its_login_and_200_with_it(stack: Stack) -> None:
    assert httpx.get(stack.flower_url, timeout=10).status_code == 401
    wrong = httpx.get(stack.flower_url, auth=("ops", "wrong"), timeout=10)
    assert wrong.status_code == 401
    assert httpx.get(stack.flower_url, auth=stack.flower_auth, timeout=10).status_code == 200


def test_every_service_stays_up(stack: Stack) -> None:
    containers = stack.project.containers()
    by_service = {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in containers}
    assert set(by_service) == SERVICES
    for service, container in by_service.items():
        state = container["State"]
        assert state["Status"] == "running", (service, state)
        # A crash-looping service is running between its restarts; its count gives it away.
        assert container["RestartCount"] == 0, (service, container["RestartCount"])
