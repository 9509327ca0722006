"""The FastAPI example: it queues a job, receives the signed webhook and reports typed results."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from batchline.sandbox.server import free_port
from batchline.workers.app import BatchlineCelery
from examples.fastapi_app import create_app
from tests.workers.conftest import WEBHOOK_SECRET


@pytest.fixture
def example_url(service: BatchlineCelery) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = create_app(public_url=url, webhook_secret=WEBHOOK_SECRET, celery_app=service)
    server = uvicorn.Server(uvicorn.Config(api, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_the_example_enqueues_a_job_and_reports_it_when_the_webhook_arrives(
    example_url: str,
) -> None:
    reviews = ["Great pasta!", "Cold soup.", "Fine, I guess.", "Loved the staff."]
    with httpx.Client(base_url=example_url, timeout=10) as client:
        started = client.post(
            "/jobs", json={"reviews": reviews, "model": "google/gemini-2.5-flash"}
        )
        assert started.status_code == 202
        job_id = started.json()["job_id"]

        deadline = time.monotonic() + 30
        while (status := client.get(f"/jobs/{job_id}").json())["report"] is None:
            assert time.monotonic() < deadline, f"no webhook yet: {status}"
            time.sleep(0.1)

    report = status["report"]
    assert report["reviews"] == 4 and report["failed"] == 0
    assert sum(report["sentiments"].values()) == 4
    assert set(report["sentiments"]) <= {"positive", "negative", "neutral"}


def test_the_example_refuses_an_unsigned_webhook(example_url: str) -> None:
    forged = httpx.post(
        f"{example_url}/webhooks/batchline",
        content=b'{"job": {"id": "0000000000000000"}}',
        headers={
            "X-Batchline-Signature": "sha256=00",
            "X-Batchline-Timestamp": str(int(time.time())),
        },
    )
    assert forged.status_code == 401
