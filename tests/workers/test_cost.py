"""Cost through the workers: a budget that refuses before anything is queued (a sharded job
counts whole), ``JobHandle.cost()``, and the bill in the webhook summary and the CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis
from typer.testing import CliRunner

from batchline.batching.cost import results_cost
from batchline.cli import app as cli
from batchline.errors import BudgetExceededError, NoPriceError, ResultsNotReadyError
from batchline.pricing import PriceTable
from batchline.sandbox import Sandbox
from batchline.workers import JobState, enqueue_batch, list_jobs
from batchline.workers.app import BatchlineCelery
from batchline.workers.budget import estimate_job_cost
from tests.workers.conftest import MakeApp, running, settings_env
from tests.workers.helpers import conversations, webhook_receiver
from tests.workers.models import Person

MODEL = "openai/gpt-4.1-mini"
#: Over 1,024 tokens, so the sandbox reports most of it as cache hits.
LONG_SYSTEM = "Extract the person named in the message, with their age. " * 110


def cached_conversations(count: int) -> list[list[dict[str, str]]]:
    return [
        [
            {"role": "system", "content": LONG_SYSTEM},
            {"role": "user", "content": f"I am person {i}, {20 + i} years old."},
        ]
        for i in range(count)
    ]


def job_keys(redis_client: redis.Redis, prefix: str) -> list[str]:
    return list(redis_client.scan_iter(match=f"{prefix}:job*", count=1000))


def test_a_job_over_max_cost_is_refused_before_anything_is_queued(
    app: BatchlineCelery, redis_client: redis.Redis, prefix: str
) -> None:
    with pytest.raises(BudgetExceededError, match=r"over max_cost \$0\.0001 \(4 requests"):
        enqueue_batch(MODEL, Person, iter(conversations(4)), max_cost=0.0001, app=app)
    assert job_keys(redis_client, prefix) == []
    assert list_jobs(app=app) == []


def test_a_sharded_job_is_held_to_the_budget_as_a_whole(
    make_app: MakeApp, redis_client: redis.Redis, prefix: str
) -> None:
    one_shard = estimate_job_cost(MODEL, Person, conversations(2), max_tokens=500)
    whole = estimate_job_cost(MODEL, Person, conversations(6), max_tokens=500)
    budget = (one_shard.batch_high + whole.batch_high) / 2
    app = make_app(max_requests_per_batch=2, max_cost=budget)
    with pytest.raises(BudgetExceededError, match="6 requests"):
        enqueue_batch(MODEL, Person, conversations(6), max_tokens=500, app=app)
    assert job_keys(redis_client, prefix) == []


def test_the_bill_is_the_usage_of_the_stored_results_and_reaches_the_webhook(
    app: BatchlineCelery, sandbox: Sandbox
) -> None:
    with webhook_receiver() as receiver, running(app):
        handle = enqueue_batch(
            MODEL,
            Person,
            cached_conversations(3),
            callbacks=[receiver.url],
            max_cost=1.0,
            app=app,
        )
        assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE

    bill = handle.cost()
    expected = results_cost(handle.results(), MODEL, PriceTable.builtin())
    assert bill == expected
    assert bill.tokens.cached_input > 0 and bill.tokens.billed_requests == 3
    delivered = orjson.loads(receiver.deliveries[-1].body)["job"]["cost"]
    assert delivered == bill.to_dict()
    assert handle.summary().cost == bill.to_dict()


def test_cost_before_the_results_are_stored_says_so(app: BatchlineCelery, sandbox: Sandbox) -> None:
    handle = enqueue_batch(MODEL, Person, conversations(1), app=app)
    with pytest.raises(ResultsNotReadyError, match="cost is known once results are stored"):
        handle.cost()
    assert handle.summary().cost is None


def test_jobs_show_and_list_print_the_bill(
    service: BatchlineCelery, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in settings_env(service.runtime.settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "250")
    handle = enqueue_batch(MODEL, Person, cached_conversations(2), app=service)
    assert handle.wait(timeout=30) in (JobState.RESULTS_STORED, JobState.CALLBACKS_DONE)
    bill = handle.cost()
    runner = CliRunner()

    shown = runner.invoke(cli, ["jobs", "show", handle.id])
    assert shown.exit_code == 0, shown.output
    assert f"${bill.batch:.6f} (live ${bill.live:.6f})" in shown.output
    assert f"({bill.tokens.cached_input:,} cached)" in shown.output

    listed = runner.invoke(cli, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if handle.id in line)
    assert f"${bill.batch:.6f}" in row


def test_a_job_without_a_price_still_calls_back_and_says_why_it_has_no_bill(
    make_app: MakeApp, tmp_path: Path
) -> None:
    broken = tmp_path / "prices.json"
    broken.write_text('{"models": {"openai/x": {"live": {"input": 1}}}}')
    app = make_app(prices_file=str(broken))
    with webhook_receiver() as receiver, running(app):
        handle = enqueue_batch(MODEL, Person, conversations(2), callbacks=[receiver.url], app=app)
        assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE
    delivered = orjson.loads(receiver.deliveries[-1].body)["job"]["cost"]
    assert "price table is not valid" in delivered["error"]
    assert delivered["tokens"]["billed_requests"] == 2
    with pytest.raises(NoPriceError, match=r"no price for openai/gpt-4\.1-mini"):
        handle.cost(prices={"replace": True, "models": {}})
