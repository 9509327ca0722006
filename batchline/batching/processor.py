"""``BatchProcessor``: the guide's API, for every provider, over the small provider interface."""

from __future__ import annotations

import gc
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from pydantic import BaseModel

from batchline.batching.estimate import CostEstimate, estimate_lines, estimate_source
from batchline.batching.options import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE
from batchline.batching.parsing import ResultsSource, account, iter_parse, iter_source_lines
from batchline.batching.providers import BatchInfo, Provider, RequestOptions, provider_class
from batchline.batching.providers.base import Message
from batchline.batching.request_lines import check_request_file
from batchline.batching.requests import (
    RequestSource,
    check_messages,
    default_custom_ids,
    measure,
    open_source,
    select_requests,
    write_requests,
)
from batchline.batching.results import (
    RETRYABLE_ERRORS,
    BatchError,
    BatchSuccess,
    ErrorType,
    retry_ids,
)
from batchline.batching.schema import model_schema
from batchline.batching.status import RESULT_BEARING_STATUSES, BatchStatus
from batchline.config import Settings, get_settings
from batchline.errors import InvalidRequestError, LimitExceededError, ResultsNotReadyError
from batchline.files import atomic_file
from batchline.pricing import PricesLike, price_table

T = TypeVar("T", bound=BaseModel)


def split_model(model: str) -> tuple[str, str]:
    """``"openai/gpt-4.1-mini"`` -> ``("openai", "gpt-4.1-mini")``, with a clear error."""
    if not isinstance(model, str) or "/" not in model:
        raise InvalidRequestError(
            f"model must be 'provider/model-name' (e.g. 'openai/gpt-4.1-mini'), got {model!r}"
        )
    provider, _, name = model.partition("/")
    if not provider or not name:
        raise InvalidRequestError(
            f"model must be 'provider/model-name' (e.g. 'openai/gpt-4.1-mini'), got {model!r}"
        )
    return provider.strip().lower(), name.strip()


class BatchProcessor(Generic[T]):
    """Builds, submits, polls and parses one provider's batches into typed results.

    Building request files needs no credential; every call that reaches the provider checks
    the credential first and names the env var when it is missing.
    """

    def __init__(
        self,
        model: str,
        response_model: type[T],
        *,
        settings: Settings | None = None,
        **provider_options: Any,
    ) -> None:
        self.provider_name, self.model_name = split_model(model)
        self.model = model
        model_schema(response_model)  # a clear error now rather than at the first request
        self.response_model = response_model
        self.settings = settings or get_settings()
        self.provider: Provider = provider_class(self.provider_name)(
            self.model_name, self.settings, **provider_options
        )

    # -- building -------------------------------------------------------------------------------
    def create_batch_from_messages(
        self,
        messages_list: Iterable[Sequence[Message]],
        file_path: str | os.PathLike[str] | None = None,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
        temperature: float | None = DEFAULT_TEMPERATURE,
        *,
        custom_ids: Iterable[str] | None = None,
        **extra: Any,
    ) -> str | io.BytesIO:
        """Write one request per conversation: to ``file_path``, or to a returned buffer.

        ``messages_list`` can be any iterable (a generator streams in file mode). Custom ids
        default to ``request-0``, ``request-1``, ...; pass ``custom_ids`` to choose them.
        Extra keyword arguments go into every request body (``top_p=0.9``, ...).
        """
        options = RequestOptions(
            max_tokens=max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS,
            temperature=temperature,
            extra=extra,
        )
        encode = self.provider.line_encoder(self.response_model, options)
        ids = custom_ids if custom_ids is not None else default_custom_ids()
        return _write_to(file_path, lambda sink: write_requests(sink, messages_list, encode, ids))

    def create_retry_batch(
        self,
        requests: RequestSource,
        results: Iterable[BatchSuccess[T] | BatchError],
        file_path: str | os.PathLike[str] | None = None,
        *,
        error_types: Iterable[ErrorType | str] = RETRYABLE_ERRORS,
    ) -> str | io.BytesIO:
        """A request file of only the requests that failed with one of ``error_types``.

        ``requests`` is the file (or buffer) the results came from; its lines are copied byte
        for byte, so the retry keeps the custom ids and settings, and ``merge_results`` puts
        its results back in place. By default only errors a retry can fix are retried
        (``RETRYABLE_ERRORS``: provider errors, expired, cancelled, missing).
        """
        error_types = list(error_types)
        wanted = retry_ids(results, error_types)
        if not wanted:
            kinds = ", ".join(sorted(str(kind) for kind in error_types))
            raise InvalidRequestError(f"nothing to retry: no result failed with {kinds}")
        if file_path is not None and _same_file(file_path, requests):
            raise InvalidRequestError("write the retry file beside the request file, not over it")

        def copy(sink: IO[bytes]) -> None:
            found = select_requests(requests, sink, wanted, self.provider.request_custom_id)
            if found != wanted:  # raised before the file is renamed into place
                lost = sorted(wanted - found)
                raise InvalidRequestError(
                    f"{len(lost)} failed request(s) are not in the request file, e.g. "
                    f"{', '.join(lost[:3])}: pass the file these results came from"
                )

        return _write_to(file_path, copy)

    # -- submitting and watching ----------------------------------------------------------------
    def check_limits(self, source: RequestSource) -> int:
        """Refuse a request file over the provider's per-batch limits; return its request count."""
        stats = measure(source)
        limits = self.provider.limits
        name = self.provider_name
        if stats.requests == 0:
            raise InvalidRequestError("the request file is empty: a batch needs at least one")
        if stats.requests > limits.max_requests:
            raise LimitExceededError(
                f"{stats.requests:,} requests exceed {name}'s limit of "
                f"{limits.max_requests:,} requests per batch; split the job (batchline's "
                "workers do this automatically)"
            )
        if stats.bytes + limits.envelope_bytes > limits.max_bytes:
            raise LimitExceededError(
                f"the request file is {stats.bytes / 1e6:,.1f} MB, over {name}'s limit of "
                f"{limits.max_bytes / 1e6:,.0f} MB per batch; split the job"
            )
        return stats.requests

    def estimate_cost(
        self,
        requests: RequestSource | Iterable[Sequence[Message]],
        max_tokens: int | None = 1000,
        temperature: float | None = 0.1,
        *,
        prices: PricesLike = None,
        **extra: Any,
    ) -> CostEstimate:
        """Estimate, offline, what ``requests`` will cost: a request file (or buffer), or the
        conversations ``create_batch_from_messages`` would take with the same options.

        Raises ``NoPriceError`` when the price table has no entry for this model.
        """
        table = price_table(prices, self.settings)
        if isinstance(requests, str | os.PathLike | io.IOBase):
            return estimate_source(requests, self.model, table)
        options = RequestOptions(
            max_tokens=max_tokens if max_tokens is not None else 1000,
            temperature=temperature,
            extra=extra,
        )
        encode = self.provider.line_encoder(self.response_model, options)
        ids = default_custom_ids()
        lines = (
            encode(next(ids), check_messages(messages, index))
            for index, messages in enumerate(requests)
        )
        return estimate_lines(lines, self.model, table)

    def submit_batch(
        self,
        file_path_or_buffer: RequestSource,
        metadata: dict[str, str] | None = None,
        *,
        max_cost: float | None = None,
    ) -> str:
        """Upload the requests and start one provider batch; return the provider's batch id.

        With ``max_cost`` (or the ``BATCHLINE_MAX_COST`` setting) a batch whose upper cost
        estimate is over it raises ``BudgetExceededError`` before anything is uploaded.
        Every line is checked first (JSON object, the provider's request shape, a unique
        custom id): a bad line is an ``InvalidRequestError`` naming it, and nothing is sent.
        """
        budget = max_cost if max_cost is not None else self.settings.max_cost
        if budget is not None:
            self.estimate_cost(file_path_or_buffer).check_budget(budget)
        self.check_limits(file_path_or_buffer)
        check_request_file(file_path_or_buffer, type(self.provider))
        self.provider.check_credentials()
        with open_source(file_path_or_buffer) as handle:
            info = self.provider.submit(handle, metadata)
        return info.id

    def get_batch(self, batch_id: str) -> BatchInfo:
        self.provider.check_credentials()
        return self.provider.get(batch_id)

    def get_batch_status(self, batch_id: str) -> dict[str, Any]:
        """The batch's state in one vocabulary for all providers (``status``), with the
        provider's own value in ``provider_status``, request counts and timestamps."""
        return self.get_batch(batch_id).to_dict()

    def list_batches(self, limit: int = 10) -> list[BatchInfo]:
        self.provider.check_credentials()
        return self.provider.list(limit=limit)

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        self.provider.check_credentials()
        return self.provider.cancel(batch_id).to_dict()

    # -- results --------------------------------------------------------------------------------
    def iter_results(
        self,
        batch_id: str,
        *,
        expected_ids: Iterable[str] | None = None,
        raw_sink: IO[bytes] | None = None,
    ) -> Iterator[BatchSuccess[T] | BatchError]:
        """Stream a finished batch's results a line at a time.

        With ``expected_ids`` every submitted request comes back exactly once: requests the
        provider never answered become errors typed by how the batch ended. ``raw_sink``
        receives the raw result lines as they stream by.
        """
        info = self.get_batch(batch_id)
        if not has_results(info):
            raise ResultsNotReadyError(
                f"batch {batch_id} is {info.status.value} ({info.provider_status}); results "
                "exist once it is completed, cancelled or expired"
            )
        lines: Iterable[bytes] = self.provider.iter_result_lines(batch_id, info)
        if raw_sink is not None:
            lines = _tee(lines, raw_sink)
        results = self._parse(lines)
        missing_type = {
            BatchStatus.EXPIRED: ErrorType.EXPIRED,
            BatchStatus.CANCELLED: ErrorType.CANCELLED,
            BatchStatus.FAILED: ErrorType.PROVIDER_ERROR,
        }.get(info.status, ErrorType.MISSING)
        missing_message = f"no result: the batch ended as {info.status.value}"
        if info.status is BatchStatus.FAILED and info.error:
            missing_message = f"{missing_message}: {info.error}"
        return account(
            results,
            expected_ids,
            missing_type=missing_type,
            missing_message=missing_message,
        )

    def retrieve_results(self, batch_id: str) -> list[BatchSuccess[T] | BatchError]:
        """Download and parse every result of a finished batch."""
        with gc_paused():
            return list(self.iter_results(batch_id))

    def get_results(
        self, batch_id: str, file_path: str | os.PathLike[str] | None = None
    ) -> list[BatchSuccess[T] | BatchError]:
        """Like ``retrieve_results``; with ``file_path`` the raw result lines are saved too."""
        if file_path is None:
            return self.retrieve_results(batch_id)
        with open(file_path, "wb") as sink, gc_paused():
            return list(self.iter_results(batch_id, raw_sink=sink))

    def iter_parse_results(self, content: ResultsSource) -> Iterator[BatchSuccess[T] | BatchError]:
        """Stream-parse result content (str, bytes, a path, a file or an iterable of lines)."""
        lines = iter_source_lines(content)
        return account(self._parse(lines), None)

    def _parse(self, lines: Iterable[bytes | str]) -> Iterator[BatchSuccess[T] | BatchError]:
        provider = self.provider
        return iter_parse(lines, provider.parse_line, self.response_model, provider.plain_answer)

    def parse_results(self, content: ResultsSource) -> list[BatchSuccess[T] | BatchError]:
        """Parse raw result content into typed results; a malformed line never aborts it."""
        with gc_paused():
            return list(self.iter_parse_results(content))


def _same_file(path: str | os.PathLike[str], source: RequestSource) -> bool:
    if not isinstance(source, str | os.PathLike):
        return False
    return Path(path).resolve() == Path(source).resolve()


def _write_to(
    file_path: str | os.PathLike[str] | None, write: Callable[[IO[bytes]], object]
) -> str | io.BytesIO:
    """Run ``write`` into a returned buffer, or into ``file_path`` atomically (a failed build
    never leaves a half file under the real name)."""
    if file_path is None:
        buffer = io.BytesIO()
        write(buffer)
        buffer.seek(0)
        return buffer
    with atomic_file(file_path) as sink:
        write(sink)
    return str(file_path)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build a big list of results without the cyclic garbage collector walking it over and
    over: each result is several container objects (the result, the model, its dict, its
    nested models and lists), and a collection every few hundred allocations rescans the young
    ones, then the older ones, while the list grows (over half the parse time at 50,000).

    Results hold no reference cycles and live as long as the caller keeps the list, so they
    are handed straight to the oldest generation on the way out (``gc.freeze`` then
    ``gc.unfreeze``, which moves every tracked object there without scanning it) instead of
    being scanned by the first young collection after re-enabling, then again in the middle
    one. Nothing escapes collection: the oldest generation is still scanned by every full
    collection. When the process has frozen objects of its own (a pre-fork server keeping
    its startup objects out of collections), they are left frozen and the results take the
    ordinary way.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        try:
            if gc.get_freeze_count() == 0:
                try:
                    gc.freeze()
                finally:  # an interrupt must not leave the whole process frozen
                    gc.unfreeze()
        finally:
            if was_enabled:
                gc.enable()


def _tee(lines: Iterable[bytes], sink: IO[bytes]) -> Iterator[bytes]:
    for line in lines:
        sink.write(line if line.endswith(b"\n") else line + b"\n")
        yield line


def has_results(info: BatchInfo) -> bool:
    """Whether a batch's results can be read: completed, cancelled or expired, or failed with
    results written anyway (a failed Vertex job with ``successfulCount > 0`` and an output
    folder keeps the rows it completed)."""
    if info.status in RESULT_BEARING_STATUSES:
        return True
    return info.status is BatchStatus.FAILED and bool(info.result_locations)
