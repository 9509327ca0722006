"""A job's cost for the workers' API: the estimate before it is queued, the bill once stored.

The bill needs every result's usage, so it is summed once, when first asked for after the
results are stored (the webhook summary asks at once), and kept beside the results with
their TTL: ``jobs list`` then costs one read per job, not a pass over its results. Token
totals are kept rather than dollars, so a price file changed later reprices old jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from batchline.batching.cost import Bill, TokenUsage, bill_for, usage_of
from batchline.batching.estimate import CostEstimate
from batchline.batching.processor import BatchProcessor
from batchline.batching.providers.base import Message
from batchline.config import Settings, get_settings
from batchline.errors import ConfigurationError, NoPriceError
from batchline.pricing import PricesLike, price_table
from batchline.workers.jobs import RESULTS_READY_STATES, Job

if TYPE_CHECKING:
    from batchline.workers.runtime import Runtime


def estimate_job_cost(
    model: str,
    response_model: type[BaseModel],
    messages: Sequence[Sequence[Message]],
    *,
    max_tokens: int = 1000,
    temperature: float | None = None,
    provider_options: dict[str, Any] | None = None,
    prices: PricesLike = None,
    settings: Settings | None = None,
) -> CostEstimate:
    """What ``enqueue_batch`` with these arguments would cost, estimated offline: the whole
    job, however many provider batches the workers split it into."""
    processor = BatchProcessor(
        model, response_model, settings=settings or get_settings(), **(provider_options or {})
    )
    return processor.estimate_cost(
        messages, max_tokens=max_tokens, temperature=temperature, prices=prices
    )


def job_usage(rt: Runtime, job: Job) -> TokenUsage | None:
    """The job's token totals, or ``None`` until its results are stored."""
    if job.state not in RESULTS_READY_STATES:
        return None
    cached = rt.results.cached_usage(job.id)
    if cached:
        return TokenUsage(**cached)
    stored = rt.results.iter_stored(job, rt.store.load_shards(job), rt.settings.results_chunk_size)
    totals = usage_of(data for data in stored if not data.get("missing"))
    rt.results.cache_usage(job.id, totals.to_dict(), ttl=rt.settings.results_ttl)
    return totals


def job_bill(rt: Runtime, job: Job, prices: PricesLike = None) -> Bill | None:
    """The job's bill at list prices; ``None`` until its results are stored. Raises
    ``NoPriceError`` when its model has no price."""
    tokens = job_usage(rt, job)
    if tokens is None:
        return None
    table = price_table(prices, rt.settings)
    return bill_for(tokens, table.price(job.model), table.currency)


def summary_cost(rt: Runtime, job: Job) -> dict[str, Any] | None:
    """The bill as the job summary carries it: a model without a price (or a broken price
    file) says so instead, so that callbacks still fire."""
    try:
        bill = job_bill(rt, job)
    except (NoPriceError, ConfigurationError) as exc:  # a bad price file must not stop callbacks
        tokens = job_usage(rt, job)
        return {"error": str(exc), "tokens": tokens.to_dict() if tokens else None}
    return None if bill is None else bill.to_dict()
