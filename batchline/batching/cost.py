"""The bill from usage: the tokens the providers reported for each result, and what they cost.

Every result that carries usage is billed, errors included: a truncated, refused or invalid
answer was still generated and the provider charges for it. Requests that never ran (expired,
cancelled, missing, a batch that failed as a whole) carry no usage and cost nothing, which is
what each provider says it bills (see the ``billing`` note per provider in
``batchline/data/prices.json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from batchline.pricing import PER_TOKENS, ModelPrice, PriceTable, Rates


@dataclass(slots=True)
class TokenUsage:
    """Token totals in one vocabulary. ``input`` counts every prompt token, cached ones
    included; ``output`` counts every generated token, reasoning included."""

    input: int = 0
    cached_input: int = 0
    output: int = 0
    reasoning: int = 0
    #: Results that reported usage (the billed ones).
    billed_requests: int = 0
    #: Results without usage: never ran, or the provider reported nothing (not billed).
    unbilled_requests: int = 0

    @property
    def uncached_input(self) -> int:
        return max(0, self.input - self.cached_input)

    def add(self, usage: Mapping[str, Any] | None) -> None:
        """Count one result's normalised usage (``BatchSuccess.usage``/``BatchError.usage``)."""
        if not usage:
            self.unbilled_requests += 1
            return
        cached = _int(usage.get("cached_input_tokens"))
        self.input += _int(usage.get("input_tokens"))
        self.cached_input += cached
        self.output += _int(usage.get("output_tokens"))
        self.reasoning += _int(usage.get("reasoning_tokens"))
        self.billed_requests += 1

    def __iadd__(self, other: TokenUsage) -> TokenUsage:
        self.input += other.input
        self.cached_input += other.cached_input
        self.output += other.output
        self.reasoning += other.reasoning
        self.billed_requests += other.billed_requests
        self.unbilled_requests += other.unbilled_requests
        return self

    def cost(self, rates: Rates) -> float:
        """Dollars at ``rates``: uncached input, cached input and output each at its price."""
        return (
            self.uncached_input * rates.input
            + self.cached_input * rates.cached_rate
            + self.output * rates.output
        ) / PER_TOKENS

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Bill:
    """What a job's results cost, at batch prices (what was paid) and at live prices (what
    the same tokens would have cost without batching)."""

    model: str
    tokens: TokenUsage
    batch: float
    live: float
    currency: str

    @property
    def saved(self) -> float:
        return self.live - self.batch

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "currency": self.currency,
            "batch": round(self.batch, 8),
            "live": round(self.live, 8),
            "saved": round(self.saved, 8),
            "tokens": self.tokens.to_dict(),
        }


def usage_of(results: Iterable[Any]) -> TokenUsage:
    """Token totals over results (``BatchSuccess``/``BatchError`` objects or their ``to_dict``
    dicts, as workers store them)."""
    totals = TokenUsage()
    for result in results:
        usage = result.get("usage") if isinstance(result, dict) else result.usage
        totals.add(usage)
    return totals


def bill_for(tokens: TokenUsage, price: ModelPrice, currency: str) -> Bill:
    return Bill(
        model=price.model,
        tokens=tokens,
        batch=tokens.cost(price.batch),
        live=tokens.cost(price.live),
        currency=currency,
    )


def results_cost(results: Iterable[Any], model: str, prices: PriceTable) -> Bill:
    """The bill for ``results`` of ``model`` (``provider/name``); ``NoPriceError`` first,
    before reading any result, when the model has no price."""
    price = prices.price(model)
    return bill_for(usage_of(results), price, prices.currency)


def _int(value: Any) -> int:
    return value if type(value) is int else 0
