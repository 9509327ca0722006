"""How the CLI shows money: an estimate as a table, a bill as one line.

Only rendering lives here; the figures come from ``batchline.batching.estimate`` and
``batchline.batching.cost``.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from batchline.batching.estimate import CostEstimate


def dollars(value: float) -> str:
    """Dollars, to the millionth below a cent: small jobs cost fractions of a cent."""
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.6f}"


def estimate_table(estimate: CostEstimate) -> Table:
    """The estimate: tokens, then the cost range at batch and at live prices."""
    table = Table(title=f"estimate for {estimate.model}", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("low", justify="right")
    table.add_column("high", justify="right")
    table.add_row("requests", f"{estimate.requests:,}", f"{estimate.requests:,}")
    low_input = round(estimate.input_tokens * (1 - estimate.input_error))
    table.add_row("input tokens", f"{low_input:,}", f"{estimate.input_tokens_high:,}")
    table.add_row("output tokens", f"{estimate.requests:,}", f"{estimate.max_output_tokens:,}")
    table.add_row("batch price", dollars(estimate.batch_low), dollars(estimate.batch_high))
    table.add_row("live price", dollars(estimate.live_low), dollars(estimate.live_high))
    table.caption = (
        f"~{estimate.input_tokens:,} input tokens estimated offline "
        f"(±{estimate.input_error:.0%}); output up to max_tokens; {estimate.currency} list prices"
    )
    return table


def bill_line(cost: dict[str, Any] | None) -> str:
    """A job summary's ``cost`` in one line ("" before the results are stored)."""
    if not cost:
        return ""
    if "error" in cost:
        return str(cost["error"])
    tokens = cost["tokens"]
    return (
        f"{dollars(cost['batch'])} (live {dollars(cost['live'])}); tokens in "
        f"{tokens['input']:,} ({tokens['cached_input']:,} cached), out {tokens['output']:,}"
        f" ({tokens['reasoning']:,} reasoning)"
    )


def bill_cell(cost: dict[str, Any] | None) -> str:
    """The batch cost alone, for a table cell ("-" when unknown or unpriced)."""
    if not cost or "error" in cost:
        return "-"
    return dollars(cost["batch"])
