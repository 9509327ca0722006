"""OpenAI's Batch API for chat completions: request lines and the batch calls (result lines are
read in ``openai_results``).

Request lines are assembled from byte fragments computed once per batch (everything but the
custom id and the messages), so building a million-line file costs little more than encoding
the messages. Result lines come from two files: successes from the output file, failures from
the error file; both are streamed, a line at a time.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Final

# The openai SDK (3.x) runs on httpx2; a connection dropped while a file streams surfaces as an
# httpx2 error the SDK does not wrap, so the boundary below translates those too.
import httpx2
import openai
import orjson
from openai.types import Batch
from pydantic import BaseModel

from batchline.batching.options import RequestOptions, check_custom_id
from batchline.batching.providers.base import (
    BatchInfo,
    BatchMark,
    LineEncoder,
    LineOutcome,
    Message,
    OwnBatches,
    PlainAnswer,
    Provider,
    ProviderLimits,
    RequestCounts,
    RequiredSetting,
    split_lines,
)
from batchline.batching.providers.clients import shared_client
from batchline.batching.providers.openai_results import plain_answer, read_result_line
from batchline.batching.request_lines import line_field, only_keys
from batchline.batching.schema import openai_strict_schema, schema_name
from batchline.batching.status import BatchStatus
from batchline.config import Settings
from batchline.errors import (
    InvalidRequestError,
    ProviderError,
    ProviderUnavailable,
    error_for_status,
)

#: The only endpoint batchline batches today.
ENDPOINT: Final = "/v1/chat/completions"
#: The keys of one request line.
_LINE_KEYS: Final = frozenset({"custom_id", "method", "url", "body"})
#: The only completion window OpenAI offers.
COMPLETION_WINDOW: Final = "24h"

#: OpenAI's metadata limits: at most 16 pairs, keys up to 64 characters, values up to 512.
METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_CHARS = 512

#: Bytes read at a time when streaming a result file.
STREAM_CHUNK_BYTES = 1 << 16
#: Per-call timeout: generous enough for a 200 MB upload, short enough to notice a dead server.
CLIENT_TIMEOUT = openai.Timeout(120.0, connect=10.0)
#: Retries the SDK makes on 429, 5xx and dropped connections (with backoff) for safe calls.
CLIENT_MAX_RETRIES = 2

#: Output modes: a ``json_schema`` response format (the default), or one forced function tool.
MODES = ("json_schema", "tools")
#: ``endpoint`` choices: Chat Completions (the default) or the Responses API.
ENDPOINT_CHOICES = ("chat_completions", "responses")
RESPONSES_ENDPOINT: Final = "/v1/responses"
_ENDPOINT_PATHS = {"chat_completions": ENDPOINT, "responses": RESPONSES_ENDPOINT}

#: Body keys batchline owns; an extra that sets one would change what the answer looks like.
RESERVED_BODY_KEYS = frozenset(
    {"model", "messages", "response_format", "tools", "tool_choice", "functions",
     "function_call", "stream", "n", "input", "text"}
)  # fmt: skip

#: Every OpenAI batch status, once, in batchline's vocabulary (they happen to share it).
STATUS_MAP: dict[str, BatchStatus] = {
    "validating": BatchStatus.VALIDATING,
    "failed": BatchStatus.FAILED,
    "in_progress": BatchStatus.IN_PROGRESS,
    "finalizing": BatchStatus.FINALIZING,
    "completed": BatchStatus.COMPLETED,
    "expired": BatchStatus.EXPIRED,
    "cancelling": BatchStatus.CANCELLING,
    "cancelled": BatchStatus.CANCELLED,
}

# Reasoning models (o1, o3, o4-mini, the gpt-5 family) reject ``max_tokens`` in favour of
# ``max_completion_tokens``, reject any temperature but the default, and o-series models
# reject ``parallel_tool_calls``. For them batchline sends ``max_completion_tokens`` and leaves
# out temperature and ``parallel_tool_calls`` (the guide's default ``temperature=0.1`` would
# otherwise fail every request). Other models keep ``max_tokens``, which every
# OpenAI-compatible server understands. Fine-tuned names (``ft:o4-mini:...``) count too.
_REASONING_MODEL = re.compile(r"^(?:ft:)?(?:o\d|gpt-5)(?:[-.:_]|$)")


def is_reasoning_model(model: str) -> bool:
    return _REASONING_MODEL.match(model) is not None


class OpenAIProvider(Provider):
    """OpenAI's Batch API over the official SDK, for ``/v1/chat/completions`` requests."""

    name: ClassVar[str] = "openai"
    # Rate: OpenAI documents no separate limit for the Files and Batches endpoints; they count
    # against the organisation's requests per minute (500 RPM and up from usage tier 1), and
    # batch jobs are limited by enqueued tokens per model instead
    # (https://platform.openai.com/docs/guides/rate-limits, looked up 2026-12-02).
    limits: ClassVar[ProviderLimits] = ProviderLimits(
        max_requests=50_000, max_bytes=200 * 1024 * 1024, calls_per_second=5.0, submit_calls=2
    )
    required_settings: ClassVar[tuple[RequiredSetting, ...]] = (
        RequiredSetting("openai_api_key", "OPENAI_API_KEY"),
    )
    batch_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"batch_\S+")
    statuses: ClassVar[Mapping[str, BatchStatus]] = STATUS_MAP
    example_model: ClassVar[str] = "gpt-4.1-mini"
    #: Largest page ``GET /v1/batches`` serves.
    list_page_size: ClassVar[int] = 100
    option_choices: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "output_mode": MODES,
        "endpoint": ENDPOINT_CHOICES,
    }
    reserved_extra: ClassVar[frozenset[str]] = RESERVED_BODY_KEYS

    def __init__(self, model: str, settings: Settings, **options: Any) -> None:
        """Options: ``output_mode="json_schema"`` (default) or ``output_mode="tools"``;
        ``endpoint="chat_completions"`` (default) or ``endpoint="responses"``."""
        super().__init__(model, settings, **options)
        self.mode: str = self.options["output_mode"]
        self.endpoint: str = _ENDPOINT_PATHS[self.options["endpoint"]]

    # -- request lines ---------------------------------------------------------------------
    @classmethod
    def check_request_line(cls, record: dict[str, Any]) -> str:
        """``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``, the
        body with ``model`` and ``messages`` (https://platform.openai.com/docs/guides/batch,
        read 2026-12). Every line must name the endpoint the batch is created for."""
        only_keys(record, _LINE_KEYS, "the line")
        custom_id: str = line_field(record, "custom_id", str, "a string")
        if not custom_id:
            raise InvalidRequestError("'custom_id' is empty")
        if record.get("method") != "POST":
            raise InvalidRequestError(f"'method' must be \"POST\", got {record.get('method')!r}")
        url = record.get("url")
        if url not in _ENDPOINT_PATHS.values():
            raise InvalidRequestError(
                f"'url' must be {ENDPOINT!r} or {RESPONSES_ENDPOINT!r}, got {url!r}"
            )
        body: dict[str, Any] = line_field(record, "body", dict, "an object")
        line_field(body, "model", str, "a string")
        conversation = "input" if url == RESPONSES_ENDPOINT else "messages"
        if not line_field(body, conversation, list, "a list of messages"):
            raise InvalidRequestError(f"{conversation!r} is empty")
        return custom_id

    def build_encoder(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> LineEncoder:
        """Each line is ``prefix + id + middle + messages + suffix``; only the id and the
        messages are encoded per request."""
        responses = self.endpoint == RESPONSES_ENDPOINT
        settings = (
            self.responses_settings(response_model, options)
            if responses
            else self.body_settings(response_model, options)
        )
        tail = orjson.dumps(settings)
        prefix = b'{"custom_id":'
        middle = (
            b',"method":"POST","url":'
            + orjson.dumps(self.endpoint)
            + b',"body":{"model":'
            + orjson.dumps(self.model)
            + (b',"input":' if responses else b',"messages":')
        )
        suffix = b"," + tail[1:] + b"}"  # the settings object's keys, then close "body" and line
        dumps = orjson.dumps
        join = b"".join
        pattern = self.custom_id_pattern

        def encode(custom_id: str, messages: Sequence[Message]) -> bytes:
            check_custom_id(custom_id, pattern)
            try:
                encoded_messages = dumps(messages)
            except orjson.JSONEncodeError as exc:
                raise InvalidRequestError(
                    f"the messages of request {custom_id!r} cannot be encoded as JSON: {exc}"
                ) from exc
            return join((prefix, dumps(custom_id), middle, encoded_messages, suffix))

        return encode

    def body_settings(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> dict[str, Any]:
        """The request body without ``model`` and ``messages``: the same for every line."""
        temperature = options.temperature
        reasoning = is_reasoning_model(self.model)
        body: dict[str, Any] = {}
        # An explicit token key in the extras wins, so a user can pick either for any model.
        if not {"max_tokens", "max_completion_tokens"} & set(options.extra):
            body["max_completion_tokens" if reasoning else "max_tokens"] = options.max_tokens
        if temperature is not None and not reasoning:
            body["temperature"] = temperature
        body.update(self._answer_format(response_model, reasoning))
        body.update(options.extra)
        return body

    def responses_settings(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> dict[str, Any]:
        """A Responses request body without ``model`` and ``input`` (the guide's messages are
        valid ``input`` items as they are): ``max_output_tokens``, and the answer format as
        ``text.format`` json_schema strict, or a forced strict function tool
        (https://platform.openai.com/docs/api-reference/responses/create, read 2026-12)."""
        reasoning = is_reasoning_model(self.model)
        body: dict[str, Any] = {"max_output_tokens": options.max_tokens}
        if options.temperature is not None and not reasoning:
            body["temperature"] = options.temperature
        schema = openai_strict_schema(response_model)
        name = schema_name(response_model)
        if self.mode == "json_schema":
            body["text"] = {
                "format": {"type": "json_schema", "name": name, "schema": schema, "strict": True}
            }
        else:
            tool = {"type": "function", "name": name, "parameters": schema, "strict": True}
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "function", "name": name}
            if not reasoning:
                body["parallel_tool_calls"] = False
        body.update(options.extra)
        return body

    def _answer_format(self, response_model: type[BaseModel], reasoning: bool) -> dict[str, Any]:
        schema = openai_strict_schema(response_model)
        name = schema_name(response_model)
        if self.mode == "json_schema":
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True},
                }
            }
        tool = {
            "type": "function",
            "function": {"name": name, "parameters": schema, "strict": True},
        }
        forced: dict[str, Any] = {
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": name}},
        }
        if not reasoning:
            # Strict schemas are only guaranteed for one call at a time.
            forced["parallel_tool_calls"] = False
        return forced

    # -- result lines ----------------------------------------------------------------------
    def parse_line(self, line: bytes | str) -> LineOutcome:
        return read_result_line(line)

    def plain_answer(self, record: Any) -> PlainAnswer | None:
        return plain_answer(record)

    # -- the API ---------------------------------------------------------------------------
    @property
    def client(self) -> openai.OpenAI:
        """The account's SDK client, built on first use (building request files needs no
        credential) and shared by every provider object of this account in the process."""
        self.check_credentials()
        assert self.settings.openai_api_key is not None  # checked just above
        api_key = self.settings.openai_api_key.get_secret_value()
        base_url = self.settings.openai_base_url or None
        return shared_client(
            (self.name, api_key, base_url),
            lambda: openai.OpenAI(
                api_key=api_key,
                base_url=base_url,
                max_retries=CLIENT_MAX_RETRIES,
                timeout=CLIENT_TIMEOUT,
            ),
        )

    def submit(self, source: IO[bytes], metadata: dict[str, str] | None) -> BatchInfo:
        """Upload the file, then create the batch. The create call is never retried by the
        SDK: OpenAI has no idempotency key, so a retry after a lost answer could start (and
        bill) the same batch twice; callers reconcile through ``find_by_metadata`` instead."""
        checked = check_metadata(metadata)
        with translate_errors():
            uploaded = self.client.files.create(file=(upload_name(source), source), purpose="batch")
            batch = self.client.with_options(max_retries=0).batches.create(
                input_file_id=uploaded.id,
                endpoint=self.endpoint,  # type: ignore[arg-type]
                completion_window=COMPLETION_WINDOW,
                metadata=checked or openai.omit,
            )
        return self.to_info(batch)

    def get(self, batch_id: str) -> BatchInfo:
        return self.to_info(self._retrieve(batch_id))

    def list(self, limit: int = 20) -> list[BatchInfo]:
        return [self.to_info(batch) for batch in self._recent_batches(limit)]

    def request_cancel(self, batch_id: str) -> BatchInfo:
        with translate_errors():
            return self.to_info(self.client.batches.cancel(batch_id))

    def iter_result_lines(self, batch_id: str, info: BatchInfo | None = None) -> Iterator[bytes]:
        """Successes come from the output file, failures (and requests a cancelled or expired
        batch never ran) from the error file; a batch may have either or both."""
        if info is None or info.id != batch_id:
            info = self.get(batch_id)
        for file_id in info.result_locations:
            yield from self._file_lines(file_id)

    def find_marked(self, mark: BatchMark, *, limit: int = 100) -> OwnBatches:
        """OpenAI keeps batch metadata: the mark's pairs travel on the batch."""
        return self.matching_metadata(mark, limit=limit)

    def find_by_metadata(
        self, key: str, value: str, *, limit: int = 100
    ) -> builtins.list[BatchInfo]:
        """Batches among the ``limit`` most recent whose metadata has ``key=value``."""
        return [
            self.to_info(batch)
            for batch in self._recent_batches(limit)
            if (batch.metadata or {}).get(key) == value
        ]

    def _retrieve(self, batch_id: str) -> Batch:
        check_batch_id(batch_id)
        with translate_errors():
            return self.client.batches.retrieve(batch_id)

    def _recent_batches(self, limit: int) -> Iterator[Batch]:
        """Newest first, following ``after`` cursors until ``limit`` batches or the end."""
        if not isinstance(limit, int) or limit < 1:
            raise InvalidRequestError(f"limit must be a positive integer: {limit!r}")
        remaining = limit
        after: str | openai.Omit = openai.omit
        while remaining > 0:
            with translate_errors():
                page = self.client.batches.list(
                    limit=min(remaining, self.list_page_size), after=after
                )
            batches = page.data[:remaining]
            yield from batches
            remaining -= len(batches)
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    def _file_lines(self, file_id: str) -> Iterator[bytes]:
        with (
            translate_errors(),
            self.client.files.with_streaming_response.content(file_id) as response,
        ):
            yield from split_lines(response.iter_bytes(STREAM_CHUNK_BYTES))

    def to_info(self, batch: Batch) -> BatchInfo:
        counts = batch.request_counts
        total = counts.total if counts else 0
        completed = counts.completed if counts else 0
        failed = counts.failed if counts else 0
        # The time the batch stopped changing, whichever way it ended.
        ended_at = batch.completed_at or batch.failed_at or batch.cancelled_at or batch.expired_at
        return BatchInfo(
            id=batch.id,
            provider=self.name,
            # A status newer than this table keeps being polled rather than treated as final.
            status=STATUS_MAP.get(batch.status, BatchStatus.IN_PROGRESS),
            provider_status=batch.status,
            request_counts=RequestCounts(
                total=total,
                completed=completed,
                failed=failed,
                pending=max(total - completed - failed, 0),
            ),
            created_at=utc(batch.created_at),
            completed_at=utc(ended_at),
            expires_at=utc(batch.expires_at),
            metadata=dict(batch.metadata or {}),
            error=batch_error_message(batch),
            result_locations=tuple(f for f in (batch.output_file_id, batch.error_file_id) if f),
            raw=batch.model_dump(mode="json"),
        )


# -- batch helpers -------------------------------------------------------------------------
def utc(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def batch_error_message(batch: Batch) -> str | None:
    """OpenAI's reasons a batch failed (usually input validation), one per problem line."""
    problems = batch.errors.data if batch.errors and batch.errors.data else []
    parts = []
    for problem in problems:
        where = f"line {problem.line}: " if problem.line is not None else ""
        code = f" ({problem.code})" if problem.code else ""
        parts.append(f"{where}{problem.message or 'no message'}{code}")
    return "; ".join(parts) or None


def check_metadata(metadata: dict[str, str] | None) -> dict[str, str] | None:
    """Refuse metadata OpenAI would refuse, before anything is uploaded."""
    if not metadata:
        return None
    if not isinstance(metadata, dict):
        raise InvalidRequestError(f"metadata must be a dict of strings, got {type(metadata)}")
    if len(metadata) > METADATA_MAX_PAIRS:
        raise InvalidRequestError(
            f"OpenAI allows at most {METADATA_MAX_PAIRS} metadata pairs, got {len(metadata)}"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequestError(
                f"metadata keys and values must be strings: {key!r}: {value!r}"
            )
        if not key or len(key) > METADATA_MAX_KEY_CHARS:
            raise InvalidRequestError(
                f"metadata key {key[:80]!r} must be 1 to {METADATA_MAX_KEY_CHARS} characters"
            )
        if len(value) > METADATA_MAX_VALUE_CHARS:
            raise InvalidRequestError(
                f"metadata value for {key!r} is {len(value)} characters; OpenAI allows "
                f"{METADATA_MAX_VALUE_CHARS}"
            )
    return dict(metadata)


def check_batch_id(batch_id: str) -> None:
    if not isinstance(batch_id, str) or not batch_id.strip():
        raise InvalidRequestError(f"batch_id must be a non-empty string: {batch_id!r}")


def upload_name(source: IO[bytes]) -> str:
    """The upload's file name: the source's own when it is a ``.jsonl`` file (OpenAI refuses
    other extensions for batch input), a fixed one for buffers."""
    name = getattr(source, "name", None)
    if isinstance(name, str) and name.endswith(".jsonl"):
        return Path(name).name
    return "batchline-requests.jsonl"


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn the SDK's (and its transport's) exceptions into batchline's error family."""
    try:
        yield
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("message")
        message = detail if isinstance(detail, str) and detail else exc.message
        code = exc.code or (exc.type if isinstance(exc.type, str) else None)
        raise error_for_status(exc.status_code, message, provider="openai", code=code) from exc
    except openai.APIConnectionError as exc:  # includes APITimeoutError
        raise ProviderUnavailable(str(exc), provider="openai") from exc
    except openai.APIError as exc:
        raise ProviderError(str(exc), provider="openai") from exc
    except httpx2.TransportError as exc:
        raise ProviderUnavailable(
            f"connection lost: {type(exc).__name__}: {exc}", provider="openai"
        ) from exc
