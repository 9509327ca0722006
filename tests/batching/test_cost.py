"""Cost in the library: the offline estimate, the budget that refuses before upload, and the bill
from the usage the sandbox reports for every provider, cached tokens included."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from batchline.batching import BatchError, BatchProcessor
from batchline.batching.cost import TokenUsage, results_cost
from batchline.batching.estimate import (
    CHARS_PER_TOKEN,
    INPUT_ERROR,
    PER_MESSAGE_TOKENS,
    request_tokens,
    text_tokens,
)
from batchline.config import get_settings
from batchline.errors import BudgetExceededError, NoPriceError
from batchline.pricing import PriceTable, Rates
from batchline.sandbox import Sandbox
from tests.providers.contract import conversations, faults, wait_until_terminal
from tests.providers.models import User

MODELS = ["openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"]

#: A system prompt long enough (over 1,024 tokens) for the providers' prompt caches.
LONG_SYSTEM = "You extract people's names and ages from short messages. " * 110


def cached_conversations(model: str, count: int) -> list[list[dict[str, Any]]]:
    """Conversations sharing a long system prompt; Anthropic caches only marked blocks."""
    system: Any = LONG_SYSTEM
    if model.startswith("anthropic/"):
        system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    return [
        [
            {"role": "system", "content": system},
            {"role": "user", "content": f"Hi, I'm person {i} and I'm {20 + i} years old."},
        ]
        for i in range(count)
    ]


def batch_ids(processor: BatchProcessor[Any]) -> set[str]:
    return {info.id for info in processor.list_batches(limit=100)}


# -- the estimate --------------------------------------------------------------------------------
def test_text_is_four_ascii_characters_a_token_and_one_per_other_character() -> None:
    assert text_tokens("a" * 41) == math.ceil(41 / CHARS_PER_TOKEN)
    assert text_tokens("日本語") == 3
    assert text_tokens("héllo") == math.ceil(4 / CHARS_PER_TOKEN) + 1


def test_a_request_line_counts_its_text_schema_messages_and_max_tokens() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    line = orjson.dumps(
        {
            "custom_id": "request-0",
            "body": {
                "model": "gpt-4.1-mini",
                "messages": [
                    {"role": "system", "content": "x" * 40},
                    {"role": "user", "content": "y" * 80},
                ],
                "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
                "max_tokens": 321,
            },
        }
    )
    tokens = request_tokens(line)
    schema_tokens = text_tokens(orjson.dumps(schema).decode())
    assert tokens.input == 10 + 20 + schema_tokens + PER_MESSAGE_TOKENS * 3
    assert tokens.max_output == 321


@pytest.mark.parametrize("model", MODELS)
def test_estimate_of_messages_matches_the_estimate_of_the_file_they_build(
    model: str, tmp_path: Path
) -> None:
    processor = BatchProcessor(model, User)
    messages = conversations(5)
    path = tmp_path / "requests.jsonl"
    processor.create_batch_from_messages(messages, file_path=path, max_tokens=150)
    from_messages = processor.estimate_cost(messages, max_tokens=150)
    assert from_messages == processor.estimate_cost(path)
    assert from_messages.requests == 5
    assert from_messages.max_output_tokens == 5 * 150


@pytest.mark.parametrize("model", MODELS)
def test_estimate_prices_the_range_at_batch_and_live_rates(model: str) -> None:
    estimate = BatchProcessor(model, User).estimate_cost(conversations(4), max_tokens=100)
    price = PriceTable.builtin().price(model)

    def cost(rates: Rates, input_tokens: float, output_tokens: float) -> float:
        return (input_tokens * rates.input + output_tokens * rates.output) / 1e6

    high_in = math.ceil(estimate.input_tokens * (1 + INPUT_ERROR))
    low_in = estimate.input_tokens * (1 - INPUT_ERROR)
    assert estimate.batch_high == pytest.approx(cost(price.batch, high_in, 400))
    assert estimate.live_high == pytest.approx(cost(price.live, high_in, 400))
    assert estimate.batch_low == pytest.approx(cost(price.batch, low_in, 4))
    assert estimate.batch_low < estimate.batch_high < estimate.live_high


def test_estimate_for_a_model_without_a_price_is_refused() -> None:
    with pytest.raises(NoPriceError, match=r"no price for openai/gpt-4\.1-nano"):
        BatchProcessor("openai/gpt-4.1-nano", User).estimate_cost(conversations(1))


# -- the budget ----------------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_a_batch_over_max_cost_is_refused_before_anything_is_uploaded(
    model: str, sandbox: Sandbox
) -> None:
    processor = BatchProcessor(model, User)
    buffer = processor.create_batch_from_messages(conversations(3), max_tokens=1000)
    before = batch_ids(processor)
    files_before = _openai_file_ids(sandbox)
    with pytest.raises(BudgetExceededError) as refused:
        processor.submit_batch(buffer, max_cost=0.0001)
    message = str(refused.value)
    estimate = processor.estimate_cost(buffer)
    assert f"${estimate.batch_high:,.4f}" in message and "$0.0001" in message
    assert "3 requests" in message and "3,000 output tokens" in message
    assert "nothing was uploaded" in message
    assert batch_ids(processor) == before
    assert _openai_file_ids(sandbox) == files_before


def test_the_max_cost_setting_refuses_too_and_a_call_can_raise_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHLINE_MAX_COST", "0.00001")
    get_settings.cache_clear()
    processor = BatchProcessor("openai/gpt-4.1-mini", User)
    buffer = processor.create_batch_from_messages(conversations(2), max_tokens=50)
    before = batch_ids(processor)
    with pytest.raises(BudgetExceededError, match=r"over max_cost \$0.0000"):
        processor.submit_batch(buffer)
    assert batch_ids(processor) == before
    batch_id = processor.submit_batch(buffer, max_cost=1.0)
    assert batch_id in batch_ids(processor)


def _openai_file_ids(sandbox: Sandbox) -> set[str]:
    client = openai.OpenAI(base_url=sandbox.openai_base_url, api_key="sk-test")
    return {f.id for f in client.files.list()}


# -- the bill from usage -------------------------------------------------------------------------
def raw_usage(provider: str, line: dict[str, Any]) -> tuple[int, int, int]:
    """(prompt tokens, cached of them, output tokens) read straight from a provider's line."""
    if provider == "openai":
        usage = line["response"]["body"]["usage"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        return usage["prompt_tokens"], cached, usage["completion_tokens"]
    if provider == "anthropic":
        usage = line["result"]["message"]["usage"]
        cached = usage["cache_read_input_tokens"]
        return usage["input_tokens"] + cached, cached, usage["output_tokens"]
    meta = line["response"]["usageMetadata"]
    return (
        meta["promptTokenCount"],
        meta.get("cachedContentTokenCount", 0),
        meta.get("candidatesTokenCount", 0),
    )


@pytest.mark.parametrize("model", MODELS)
def test_the_bill_prices_the_sandbox_usage_with_cached_tokens_at_the_cached_tier(
    model: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    provider = model.partition("/")[0]
    processor = BatchProcessor(model, User)
    buffer = processor.create_batch_from_messages(cached_conversations(model, 4), max_tokens=200)
    batch_id = processor.submit_batch(buffer)
    wait_until_terminal(processor, batch_id)
    raw_path = tmp_path / "raw.jsonl"
    results = processor.get_results(batch_id, file_path=raw_path)
    lines = [orjson.loads(line) for line in raw_path.read_bytes().splitlines()]
    prompt, cached, output = (
        sum(n) for n in zip(*(raw_usage(provider, x) for x in lines), strict=True)
    )

    table = PriceTable.builtin()
    bill = results_cost(results, model, table)

    assert cached > 0 and cached < prompt
    assert (bill.tokens.input, bill.tokens.cached_input, bill.tokens.output) == (
        prompt,
        cached,
        output,
    )
    assert bill.tokens.billed_requests == 4
    price = table.price(model)
    for rates, figure in ((price.batch, bill.batch), (price.live, bill.live)):
        expected = (
            (prompt - cached) * rates.input + cached * rates.cached_rate + output * rates.output
        )
        assert figure == pytest.approx(expected / 1e6)
    assert bill.batch < bill.live


@pytest.mark.parametrize("model", MODELS)
def test_requests_that_never_ran_cost_nothing_and_answers_cut_short_are_billed(
    model: str, sandbox: Sandbox
) -> None:
    sandbox.faults = faults(truncated_rate=1.0)
    processor = BatchProcessor(model, User)
    buffer = processor.create_batch_from_messages(conversations(2), max_tokens=64)
    batch_id = processor.submit_batch(buffer)
    wait_until_terminal(processor, batch_id)
    truncated = processor.retrieve_results(batch_id)
    never_ran = [BatchError("request-9", "expired", "the batch expired")]

    bill = results_cost([*truncated, *never_ran], model, PriceTable.builtin())

    assert all(isinstance(r, BatchError) and r.usage for r in truncated)
    assert bill.tokens.billed_requests == 2 and bill.tokens.unbilled_requests == 1
    assert bill.tokens.output == 2 * 64
    assert bill.batch > 0


def test_usage_totals_read_stored_result_dicts_as_well_as_results() -> None:
    usage = {"input_tokens": 14, "output_tokens": 5, "cached_input_tokens": 4}
    totals = TokenUsage()
    totals.add(usage)
    assert (totals.input, totals.cached_input, totals.uncached_input) == (14, 4, 10)
    assert (
        results_cost([{"usage": usage}], "openai/gpt-4.1-mini", PriceTable.builtin()).tokens.input
        == 14
    )
