"""List prices per model: live and batch, input, cached input and output, each with its source.

The prices are data (``batchline/data/prices.json``), not code, so a price change is a one-line
edit with its date and source beside it. Users extend or replace the table with a file
(``BATCHLINE_PRICES_FILE``) or a mapping of the same shape, because list prices change more
often than batchline is released, and many users pay negotiated ones.

A model the table does not know raises ``NoPriceError``: a cost report that silently said
$0 would be worse than none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from batchline.config import Settings
from batchline.errors import ConfigurationError, NoPriceError

#: Prices are quoted per this many tokens.
PER_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class Rates:
    """Dollars per million tokens in one tier (live or batch)."""

    input: float
    output: float
    #: Price of an input token read from the provider's prompt cache; ``None`` when it is not
    #: known, and then such tokens are priced at ``input`` (never under the true price) or at
    #: ``cached_cap`` when that is lower.
    cached_input: float | None = None
    #: For a batch tier whose cached rate is unknown: the live cached rate, since a batch
    #: never bills a token above what the same token costs live.
    cached_cap: float | None = None

    @property
    def cached_rate(self) -> float:
        if self.cached_input is not None:
            return self.cached_input
        return self.input if self.cached_cap is None else min(self.input, self.cached_cap)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices, and where and when they were read."""

    model: str
    live: Rates
    batch: Rates
    source: str = ""
    checked: date | None = None
    note: str = ""

    @property
    def batch_discount(self) -> float:
        """The share of the live input price that batching saves (0.5 = half price)."""
        return 1 - self.batch.input / self.live.input if self.live.input else 0.0


@dataclass(frozen=True, slots=True)
class ProviderBilling:
    """What a provider says about batch billing: its discount and what failed requests cost."""

    batch_discount: float
    billing: str = ""
    source: str = ""
    checked: date | None = None


@dataclass(frozen=True, slots=True)
class PriceTable:
    """List prices on one date, with the provider billing rules they come with."""

    as_of: date
    currency: str
    models: Mapping[str, ModelPrice]
    providers: Mapping[str, ProviderBilling] = field(default_factory=dict)

    @classmethod
    def builtin(cls) -> PriceTable:
        """The table that ships with batchline (``batchline/data/prices.json``)."""
        text = resources.files("batchline").joinpath("data/prices.json").read_text()
        return cls.from_mapping(json.loads(text))

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """The built-in table, extended (or, with ``"replace": true``, replaced) by ``path``."""
        table = cls.builtin()
        return table if path is None else table.extended(read_price_file(path))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, base: PriceTable | None = None) -> PriceTable:
        """Build a table from the JSON shape of ``prices.json``. Each model entry needs ``live``
        rates and either ``batch`` rates or a ``batch_discount`` (its own or its provider's)."""
        try:
            providers = {
                name: _provider(entry) for name, entry in (raw.get("providers") or {}).items()
            }
            if base is not None:
                providers = {**base.providers, **providers}
            models = {name: _model(name, entry, providers) for name, entry in raw["models"].items()}
            as_of = raw.get("as_of")
            return cls(
                as_of=date.fromisoformat(as_of)
                if as_of
                else (base.as_of if base else date.today()),
                currency=str(raw.get("currency") or (base.currency if base else "USD")),
                models=models,
                providers=providers,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(
                f"price table is not valid: {type(exc).__name__}: {exc}"
            ) from None

    def extended(self, raw: Mapping[str, Any]) -> PriceTable:
        """This table with the entries of ``raw`` added or overriding; all of them replaced
        when ``raw`` says ``"replace": true``."""
        extra = PriceTable.from_mapping(raw, base=self)
        if raw.get("replace"):
            return extra
        if extra.currency != self.currency:
            raise ConfigurationError(
                f"price table in {extra.currency} cannot extend one in {self.currency}: "
                'give "replace": true to use it alone'
            )
        return PriceTable(
            as_of=extra.as_of,
            currency=self.currency,
            models={**self.models, **extra.models},
            providers=extra.providers,
        )

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (``provider/name``), or of the model it is a dated snapshot of.

        Providers pin snapshots by suffix (``claude-haiku-4-5-20251001``,
        ``gpt-4.1-mini-2025-04-14``, ``gemini-2.5-flash-001``) at the alias's price, so the
        longest listed prefix followed by a dash and a digit wins.
        """
        if model in self.models:
            return self.models[model]
        # A snapshot's suffix is a date or a version number: ``gpt-4.1-nano`` is not a
        # snapshot of ``gpt-4.1``.
        prefixes = [
            name
            for name in self.models
            if model.startswith(name + "-") and model[len(name) + 1 : len(name) + 2].isdigit()
        ]
        return self.models[max(prefixes, key=len)] if prefixes else None

    def price(self, model: str) -> ModelPrice:
        """Like ``lookup``, but a model without a price is an error that says how to add one."""
        found = self.lookup(model)
        if found is None:
            raise NoPriceError(
                f"no price for {model}: add it to a price file named by BATCHLINE_PRICES_FILE "
                "(the shape of batchline/data/prices.json) or pass prices="
            )
        return found


#: What a caller may pass as ``prices=``: a table, a mapping in the file's shape, or nothing
#: (the built-in table plus ``BATCHLINE_PRICES_FILE``).
PricesLike = PriceTable | Mapping[str, Any] | None


def price_table(prices: PricesLike = None, settings: Settings | None = None) -> PriceTable:
    """The table a cost function should use: ``prices`` when given (a mapping extends the
    built-in table as a file would), else the built-in one with the settings' price file."""
    if isinstance(prices, PriceTable):
        return prices
    if prices is not None:
        return PriceTable.builtin().extended(prices)
    return PriceTable.load(settings.prices_file if settings is not None else None)


def read_price_file(path: str | Path) -> Mapping[str, Any]:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"BATCHLINE_PRICES_FILE {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"price file {path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), dict):
        raise ConfigurationError(f'price file {path} needs a "models" object')
    return raw


def _provider(entry: Mapping[str, Any]) -> ProviderBilling:
    checked = entry.get("checked")
    return ProviderBilling(
        batch_discount=float(entry["batch_discount"]),
        billing=str(entry.get("billing", "")),
        source=str(entry.get("source", "")),
        checked=date.fromisoformat(checked) if checked else None,
    )


def _model(
    name: str, entry: Mapping[str, Any], providers: Mapping[str, ProviderBilling]
) -> ModelPrice:
    live = _rates(entry["live"])
    if "batch" in entry:
        batch = _rates(entry["batch"])
    else:
        provider = providers.get(name.partition("/")[0])
        discount = entry.get("batch_discount", provider.batch_discount if provider else None)
        if discount is None:
            raise ValueError(f"{name} has neither batch rates nor a batch_discount")
        keep = 1 - float(discount)
        cached = None if live.cached_input is None else live.cached_input * keep
        batch = Rates(input=live.input * keep, output=live.output * keep, cached_input=cached)
    if batch.cached_input is None and live.cached_input is not None:
        batch = replace(batch, cached_cap=live.cached_input)
    checked = entry.get("checked")
    return ModelPrice(
        model=name,
        live=live,
        batch=batch,
        source=str(entry.get("source", "")),
        checked=date.fromisoformat(checked) if checked else None,
        note=str(entry.get("note", "")),
    )


def _rates(entry: Mapping[str, Any]) -> Rates:
    cached = entry.get("cached_input")
    rates = Rates(
        input=float(entry["input"]),
        output=float(entry["output"]),
        cached_input=None if cached is None else float(cached),
    )
    if min(rates.input, rates.output, rates.cached_rate) < 0:
        raise ValueError(f"a price cannot be negative: {dict(entry)}")
    return rates
