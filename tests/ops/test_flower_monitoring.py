"""Flower watching a real worker: a job's tasks appear by name with the job id, and nothing
secret, through Flower's API and in its web UI (headless Chromium); the worker logs one
structured line per job state change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from batchline.demo import Contact, demo_messages, report_to_demo
from batchline.workers import JobState, enqueue_batch
from tests.ops.chromium import ensure_chromium
from tests.ops.conftest import Stack
from tests.ops.processes import REPO, wait_until

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: One Flower stack serves every test here when pytest runs with ``--dist loadgroup``.
pytestmark = pytest.mark.xdist_group("flower-stack")

#: The tasks that carry a job id as their first argument.
JOB_TASKS = {"batchline.submit_job", "batchline.complete_job", "batchline.run_callback"}


@pytest.fixture(scope="module")
def job_id(stack: Stack) -> str:
    """One job, run to its callback while Flower watches."""
    handle = enqueue_batch(
        "openai/gpt-4.1-mini",
        Contact,
        demo_messages(3),
        callbacks=[report_to_demo],
        app=stack.app,
    )
    assert handle.wait(timeout=60, callbacks=True) is JobState.CALLBACKS_DONE
    return handle.id


def flower_tasks(stack: Stack) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{stack.flower_url}/api/tasks", auth=stack.flower_auth, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def tasks_of_job(stack: Stack, job_id: str) -> dict[str, dict[str, Any]]:
    return {
        uuid: task
        for uuid, task in flower_tasks(stack).items()
        if task.get("name") in JOB_TASKS and job_id in str(task.get("args"))
    }


def test_flower_lists_the_jobs_tasks_by_name_with_the_job_id(stack: Stack, job_id: str) -> None:
    def all_seen() -> bool:
        names = {task["name"] for task in tasks_of_job(stack, job_id).values()}
        return names == JOB_TASKS

    wait_until(all_seen, 20, "Flower to list submit, complete and callback tasks of the job")
    tasks = tasks_of_job(stack, job_id)
    assert {task["state"] for task in tasks.values()} == {"SUCCESS"}
    # The job id is the whole first argument: Flower's search and the UI show it as is.
    assert all(json.loads(task["args"].replace("'", '"'))[0] == job_id for task in tasks.values())


def test_flower_shows_no_secret_in_any_task(stack: Stack, job_id: str) -> None:
    wait_until(lambda: bool(tasks_of_job(stack, job_id)), 20, "Flower to list the job's tasks")
    tasks = flower_tasks(stack)
    assert all(task["name"].startswith("batchline.") for task in tasks.values())
    shown = json.dumps(tasks)
    for secret in stack.secrets:
        assert secret not in shown


def test_flower_api_refuses_requests_without_credentials(stack: Stack) -> None:
    assert httpx.get(f"{stack.flower_url}/api/tasks", timeout=10).status_code == 401
    wrong = ("ops", "not-the-password")
    assert httpx.get(f"{stack.flower_url}/api/tasks", auth=wrong, timeout=10).status_code == 401


def test_worker_logs_one_structured_line_per_job_state_change(stack: Stack, job_id: str) -> None:
    changes = stack.state_changes(job_id)
    assert [c["state"] for c in changes] == [
        "submitting",
        "submitted",
        "completed",
        "results_stored",
        "callbacks_done",
    ]
    for change in changes:
        assert change["job_id"] == job_id
        assert change["provider"] == "openai"
        assert change["requests"] == "3"
    assert changes[-1]["n_succeeded"] == "3"


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = ensure_chromium(REPO / ".cache")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        user, password = stack.flower_auth
        context = browser.new_context(
            http_credentials={"username": user, "password": password},
            viewport={"width": 1920, "height": 1080},
        )
        yield context.new_page()
        context.close()
        browser.close()


def test_flower_tasks_page_finds_the_jobs_tasks_by_job_id_in_a_browser(
    stack: Stack, job_id: str, page: Any
) -> None:
    wait_until(lambda: len(tasks_of_job(stack, job_id)) >= 3, 20, "Flower to list the tasks")
    page.goto(f"{stack.flower_url}/tasks", wait_until="networkidle")
    page.fill("input[type=search]", job_id)
    # The search runs on the server: wait until every row left is one of this job's.
    rows = page.locator("#tasks-table tbody tr")
    for name in JOB_TASKS:
        rows.filter(has_text=name).first.wait_for(timeout=15_000)
    count_rows = "n => document.querySelectorAll('#tasks-table tbody tr').length <= n"
    page.wait_for_function(count_rows, arg=len(JOB_TASKS) + 3)
    # A task's own page shows its arguments: the job id, and nothing else.
    rows.filter(has_text="batchline.submit_job").first.locator('a[href*="/task/"]').click()
    page.wait_for_load_state("networkidle")
    assert "/task/" in page.url
    assert job_id in page.inner_text("body")
    assert "sk-" not in page.inner_text("body")
