"""A FastAPI service that queues a batchline job and learns of its end through the webhook.

Run it against the sandbox (four terminals, from the repository root)::

    batchline sandbox                       # then export the variables it prints
    export BATCHLINE_WEBHOOK_SECRET=change-me
    batchline worker
    batchline beat
    uvicorn --factory examples.fastapi_app:app_from_env --port 8000

    curl -X POST localhost:8000/jobs -H 'content-type: application/json' \\
         -d '{"reviews": ["Great pasta!", "Cold soup, rude staff."]}'
    curl localhost:8000/jobs/<job_id>

The webhook handler checks the signature over the raw body, then loads the typed results from
Redis with the job id; the webhook itself carries only the job summary, never the results.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

import orjson
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from batchline.workers import enqueue_batch, get_job, verify_signature, webhook
from batchline.workers.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER

if TYPE_CHECKING:
    from celery import Celery


class Review(BaseModel):
    """What the model extracts from one review. Module level: workers import it by path."""

    sentiment: Literal["positive", "negative", "neutral"]
    summary: str


class ReviewJob(BaseModel):
    reviews: list[str] = Field(min_length=1)
    model: str = "openai/gpt-4.1-mini"


def create_app(
    *, public_url: str, webhook_secret: str, celery_app: Celery | None = None
) -> FastAPI:
    """The service. ``public_url`` is where workers can reach it (they POST the webhook)."""
    api = FastAPI(title="review sentiment, at batch prices")
    #: job id -> report built when its webhook arrived (a database in a real service).
    reports: dict[str, dict[str, Any]] = {}

    @api.post("/jobs", status_code=202)
    def start_job(request: ReviewJob) -> dict[str, str]:
        conversations = [
            [
                {"role": "system", "content": "Classify the review's sentiment and summarise it."},
                {"role": "user", "content": review},
            ]
            for review in request.reviews
        ]
        handle = enqueue_batch(
            request.model,
            Review,
            conversations,
            max_tokens=200,
            metadata={"source": "fastapi-example"},
            callbacks=[webhook(f"{public_url}/webhooks/batchline")],
            app=celery_app,
        )
        return {"job_id": handle.id}

    @api.post("/webhooks/batchline")
    async def job_finished(request: Request) -> dict[str, bool]:
        body = await request.body()
        if not verify_signature(
            webhook_secret,
            body,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
        ):
            raise HTTPException(status_code=401, detail="bad signature")
        job_id = orjson.loads(body)["job"]["id"]
        reports[job_id] = await run_in_threadpool(build_report, job_id, celery_app)
        return {"ok": True}

    @api.get("/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, Any]:
        return {
            "state": get_job(job_id, celery_app).status().value,
            "report": reports.get(job_id),
        }

    return api


def build_report(job_id: str, celery_app: Celery | None) -> dict[str, Any]:
    """Typed results straight from Redis: ``r.result`` is a ``Review``."""
    results = get_job(job_id, celery_app).results()
    sentiments = Counter(r.result.sentiment for r in results if r.success)
    return {
        "reviews": len(results),
        "sentiments": dict(sentiments),
        "failed": sum(1 for r in results if not r.success),
    }


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory``: the public URL and the secret come from the environment."""
    return create_app(
        public_url=os.environ.get("PUBLIC_URL", "http://127.0.0.1:8000"),
        webhook_secret=os.environ["BATCHLINE_WEBHOOK_SECRET"],
    )
