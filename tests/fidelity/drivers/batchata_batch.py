"""Run one structured batch through batchata's ``Batch`` against the sandbox.

Runs inside batchata's own venv. batchata's clients are ``OpenAI()`` and ``Anthropic()``
with no arguments, so the sandbox is reached through ``OPENAI_BASE_URL`` and
``ANTHROPIC_BASE_URL``. On Anthropic batchata writes the schema into the system prompt.
Usage: ``python batchata_batch.py openai|anthropic COUNT RESULTS_DIR``; prints a ``result:`` line
per job: its id and batchata's parsed response, dumped (or its error).
"""

from __future__ import annotations

import json
import sys

from batchata import Batch
from pydantic import BaseModel

MODELS = {"openai": "gpt-4o-mini-2024-07-18", "anthropic": "claude-3-5-haiku-20241022"}


class Invoice(BaseModel):
    vendor: str
    total_cents: int
    paid: bool
    lines: list[str]


def main(provider: str, count: int, results_dir: str) -> None:
    batch = Batch(results_dir=results_dir, items_per_batch=count).set_default_params(
        model=MODELS[provider], max_tokens=500
    )
    for n in range(count):
        messages = [{"role": "user", "content": f"Read invoice {n} and report it."}]
        batch.add_job(messages=messages, response_model=Invoice)
    run = batch.run()
    results = run.results()
    for result in results["completed"]:
        parsed = result.parsed_response
        data = parsed.model_dump() if isinstance(parsed, BaseModel) else parsed
        print("result:", json.dumps({"job": result.job_id, "data": data, "error": result.error}))
    for result in results["failed"]:
        print("result:", json.dumps({"job": result.job_id, "data": None, "error": result.error}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
