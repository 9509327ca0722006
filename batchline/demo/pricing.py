"""The demo's cost report: list prices per model, live and batch, from a dated table.

The prices are data (``batchline/data/prices.json``), not code, so a price change is a one-line
edit with its date beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, tokens: TokenCount) -> float:
        return (tokens.input * self.input + tokens.output * self.output) / 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    live: Price
    batch: Price


@dataclass(frozen=True, slots=True)
class PriceTable:
    """List prices on one date (``batchline/data/prices.json``): data, not code, so that a
    price change is a one-line edit with its date beside it."""

    as_of: date
    currency: str
    models: Mapping[str, ModelPrice]

    @classmethod
    def load(cls) -> PriceTable:
        raw = json.loads(resources.files("batchline").joinpath("data/prices.json").read_text())
        return cls(
            as_of=date.fromisoformat(raw["as_of"]),
            currency=raw["currency"],
            models={
                name: ModelPrice(live=Price(**entry["live"]), batch=Price(**entry["batch"]))
                for name, entry in raw["models"].items()
            },
        )

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or of the model it is a dated snapshot of.

        Providers pin snapshots by suffix (``claude-haiku-4-5-20251001``,
        ``gpt-4.1-mini-2025-04-14``) at the alias's price, so the longest listed prefix wins.
        """
        if model in self.models:
            return self.models[model]
        prefixes = [name for name in self.models if model.startswith(name + "-")]
        return self.models[max(prefixes, key=len)] if prefixes else None


@dataclass(frozen=True, slots=True)
class TokenCount:
    input: int = 0
    output: int = 0

    @classmethod
    def from_usage(cls, usage: Mapping[str, int] | None) -> TokenCount:
        """Read one result's usage, whichever provider's words it is in (OpenAI's chat API
        says prompt/completion, the others input/output)."""
        if not usage:
            return cls()
        return cls(
            input=int(usage.get("input_tokens", usage.get("prompt_tokens", 0))),
            output=int(usage.get("output_tokens", usage.get("completion_tokens", 0))),
        )

    def __add__(self, other: TokenCount) -> TokenCount:
        return TokenCount(self.input + other.input, self.output + other.output)
