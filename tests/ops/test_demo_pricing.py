"""The demo's saved-money line prices cached input at the cached tier, as providers bill it."""

from __future__ import annotations

import pytest

from batchline.demo import JobReport, PriceTable, TokenCount


def test_the_demo_prices_cached_input_at_the_cached_tier() -> None:
    model = "anthropic/claude-haiku-4-5"
    price = PriceTable.load().price(model)
    tokens = TokenCount()
    tokens.add({"input_tokens": 2000, "cached_input_tokens": 1800, "output_tokens": 50})
    job = JobReport(model, "job", "callbacks_done", "", 1, 1, 0, tokens, price)

    assert job.live_cost == pytest.approx(
        (200 * price.live.input + 1800 * price.live.cached_rate + 50 * price.live.output) / 1e6
    )
    assert job.batch_cost == pytest.approx(
        (200 * price.batch.input + 1800 * price.batch.cached_rate + 50 * price.batch.output) / 1e6
    )
    full_rate = (2000 * price.live.input + 50 * price.live.output) / 1e6
    assert job.live_cost is not None and job.live_cost < full_rate
