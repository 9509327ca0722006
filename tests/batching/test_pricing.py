"""The price table: every entry dated and sourced, cached tiers, overrides, and no silent zero."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from batchline.config import Settings
from batchline.errors import ConfigurationError, NoPriceError
from batchline.pricing import PriceTable, Rates, price_table


def test_every_builtin_price_has_a_cached_tier_a_source_and_a_date() -> None:
    table = PriceTable.builtin()
    assert {name.partition("/")[0] for name in table.models} == {"openai", "anthropic", "google"}
    for name, price in table.models.items():
        assert price.source.startswith("https://"), name
        assert isinstance(price.checked, date), name
        assert price.live.cached_input is not None, name
        assert price.live.cached_input < price.live.input, name
        assert price.batch.input < price.live.input, name
        assert price.batch_discount == pytest.approx(0.5), name
    for name in ("openai", "anthropic", "google"):
        assert table.providers[name].billing, name
        assert table.providers[name].source.startswith("https://"), name


def test_an_unconfirmed_batch_cached_rate_is_the_lower_of_batch_input_and_live_cached() -> None:
    price = PriceTable.builtin().price("openai/gpt-4.1-mini")
    assert price.batch.cached_input is None
    assert price.batch.cached_rate == min(price.batch.input, price.live.cached_rate)
    assert Rates(input=1.0, output=2.0).cached_rate == 1.0


def test_a_dated_snapshot_takes_its_alias_price() -> None:
    table = PriceTable.builtin()
    assert table.price("openai/gpt-4.1-mini-2025-04-14") is table.price("openai/gpt-4.1-mini")
    assert table.price("google/gemini-2.5-flash-001") is table.price("google/gemini-2.5-flash")
    assert table.lookup("openai/gpt-4.1-nano") is None


def test_an_unknown_model_is_an_error_that_names_it_never_a_zero() -> None:
    with pytest.raises(NoPriceError, match="no price for openai/gpt-9-turbo"):
        PriceTable.builtin().price("openai/gpt-9-turbo")


def test_a_prices_file_extends_the_builtin_table(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    extra = {
        "models": {
            "openai/gpt-4.1-mini": {"live": {"input": 0.3, "output": 1.2}, "batch_discount": 0.5},
            "openai/my-finetune": {
                "live": {"input": 1.0, "cached_input": 0.25, "output": 4.0},
                "batch": {"input": 0.5, "cached_input": 0.125, "output": 2.0},
            },
        }
    }
    path.write_text(json.dumps(extra))
    table = price_table(settings=Settings(BATCHLINE_PRICES_FILE=str(path)))
    overridden = table.price("openai/gpt-4.1-mini")
    assert (overridden.live.input, overridden.batch.input, overridden.batch.output) == (
        0.3,
        0.15,
        0.6,
    )
    assert table.price("openai/my-finetune").batch.cached_rate == 0.125
    assert table.price("anthropic/claude-haiku-4-5") == PriceTable.builtin().price(
        "anthropic/claude-haiku-4-5"
    )


def test_a_mapping_with_replace_drops_the_builtin_prices() -> None:
    only = {"replace": True, "models": {"google/mine": {"live": {"input": 1, "output": 2}}}}
    table = price_table(
        {**only, "providers": {"google": {"batch_discount": 0.25}}},
    )
    assert list(table.models) == ["google/mine"]
    assert table.price("google/mine").batch.input == pytest.approx(0.75)
    with pytest.raises(NoPriceError):
        table.price("google/gemini-2.5-flash")


def test_a_broken_prices_file_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"models": {"openai/x": {"live": {"input": 1}}}}')
    with pytest.raises(ConfigurationError, match=r"price table is not valid.*output"):
        PriceTable.load(path)
    with pytest.raises(ConfigurationError, match="does not exist"):
        PriceTable.load(tmp_path / "missing.json")
