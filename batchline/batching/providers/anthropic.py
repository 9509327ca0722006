"""Anthropic Message Batches through the official ``anthropic`` SDK.

Anthropic differs from the other providers in three ways that shape this module:

- There is no file upload: the request lines are sent as the ``requests`` list of one JSON body.
- There is no batch metadata. A batch can only be recognised by its requests' ``custom_id``s, so
  reconciliation after a crashed submit relies on every request of a job carrying the job's own
  ``custom_id`` prefix (see ``AnthropicProvider.find_marked``).
- Structured output defaults to one forced tool whose ``input_schema`` is the response model's
  schema (it works on every model); ``output_mode="json_schema"`` asks newer models for native
  JSON output through ``output_config`` instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, ClassVar, Literal, cast

import anthropic
import httpx2
import orjson
from anthropic.types.messages import MessageBatch
from pydantic import BaseModel

from batchline.batching.options import RequestOptions, check_custom_id
from batchline.batching.providers.anthropic_results import plain_answer, read_result_line
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
from batchline.batching.request_lines import line_field, only_keys
from batchline.batching.schema import (
    anthropic_output_schema,
    anthropic_tool_schema,
    schema_name,
)
from batchline.batching.status import BatchStatus
from batchline.config import Settings
from batchline.errors import (
    InvalidRequestError,
    ProviderError,
    ProviderUnavailable,
    ResultsNotReadyError,
    error_for_status,
)

logger = logging.getLogger(__name__)

OutputMode = Literal["tools", "json_schema"]

#: Anthropic's rule for ``custom_id``; checked while building so a bad id never reaches a batch.
CUSTOM_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
#: The keys of one request line of a batch.
_LINE_KEYS = frozenset({"custom_id", "params"})

#: Output modes, the default first (``BatchProcessor(..., output_mode=...)``).
OUTPUT_MODES: tuple[OutputMode, ...] = ("tools", "json_schema")
#: ``{"requests":[`` and ``]}`` around the lines, less one: n lines are joined by n - 1 commas
#: where batchline's measure counts n newlines (see ``request_body``).
ENVELOPE_BYTES = len(b'{"requests":[') + len(b"]}") - 1

#: Request parameters batchline sets itself; an ``extra`` with one of them would break the
#: structured output or the system-message handling, so it is refused.
RESERVED_PARAMS: frozenset[str] = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "output_config"}
)

#: Roles that become ``params.system`` (OpenAI calls its newer system role ``developer``).
SYSTEM_ROLES: frozenset[str] = frozenset({"system", "developer"})
CHAT_ROLES: frozenset[str] = frozenset({"user", "assistant"})

#: Where batches are created, relative to the SDK's base URL.
BATCHES_PATH = "/v1/messages/batches"

#: Bytes asked of the results stream at a time.
RESULT_CHUNK = 1 << 16

#: ``processing_status`` in batchline's words; an ended batch is refined by ``batch_status``
#: (cancelled or expired requests), since Anthropic has no status of its own for those.
STATUS_MAP: dict[str, BatchStatus] = {
    "in_progress": BatchStatus.IN_PROGRESS,
    "canceling": BatchStatus.CANCELLING,
    "ended": BatchStatus.COMPLETED,
}


class AnthropicProvider(Provider):
    """Anthropic's Message Batches API.

    ``processing_status`` is mapped once, in ``batch_status``; result lines are read in
    ``parse_line``; SDK exceptions become ``batchline.errors`` in ``sdk_errors``.
    """

    name: ClassVar[str] = "anthropic"
    required_settings: ClassVar[tuple[RequiredSetting, ...]] = (
        RequiredSetting("anthropic_api_key", "ANTHROPIC_API_KEY"),
    )
    batch_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"msgbatch_\S+")
    custom_id_pattern: ClassVar[re.Pattern[str]] = CUSTOM_ID_PATTERN
    statuses: ClassVar[Mapping[str, BatchStatus]] = STATUS_MAP
    example_model: ClassVar[str] = "claude-haiku-4-5"
    option_choices: ClassVar[Mapping[str, tuple[str, ...]]] = {"output_mode": OUTPUT_MODES}
    reserved_extra: ClassVar[frozenset[str]] = RESERVED_PARAMS
    # Temperature "ranges from 0.0 to 1.0" (Messages API reference, docs.anthropic.com/en/api/
    # messages, read 2026-12).
    limits: ClassVar[ProviderLimits] = ProviderLimits(
        max_requests=100_000,
        max_bytes=256 * 1024 * 1024,
        max_temperature=1.0,
        envelope_bytes=ENVELOPE_BYTES,
        # 50 requests per minute across all Message Batches endpoints at tier 1 (1,000 at
        # tier 2); https://docs.claude.com/en/api/rate-limits, looked up 2026-12-02. The
        # requests travel in the create call itself: one call per submission.
        calls_per_second=50 / 60,
        submit_calls=1,
    )
    #: A batch's custom ids are readable once it ends, and it ends within 24 hours ("expires
    #: if processing does not complete within 24 hours", docs.anthropic.com/en/docs/
    #: build-with-claude/batch-processing, read 2026-12); an hour more covers cancelling.
    recognisable_within: ClassVar[float] = 25 * 3600.0
    #: Batches asked for per list page (Anthropic's maximum).
    list_page_size: ClassVar[int] = 1000
    #: Retries the SDK makes itself on 429, 5xx and lost connections, with its own backoff;
    #: beyond them the translated error reaches the caller (the workers retry on the family).
    max_retries: ClassVar[int] = 2

    def __init__(self, model: str, settings: Settings, **options: Any) -> None:
        super().__init__(model, settings, **options)
        self.output_mode = cast(OutputMode, self.options["output_mode"])

    # -- building --------------------------------------------------------------------------
    @classmethod
    def check_request_line(cls, record: dict[str, Any]) -> str:
        """``{"custom_id", "params"}``, the params with ``model``, ``max_tokens`` and
        ``messages`` (https://docs.anthropic.com/en/api/creating-message-batches, read
        2026-12); the custom id as ``CUSTOM_ID_PATTERN`` says."""
        only_keys(record, _LINE_KEYS, "the line")
        custom_id: str = line_field(record, "custom_id", str, "a string")
        if CUSTOM_ID_PATTERN.fullmatch(custom_id) is None:
            raise InvalidRequestError(
                f"custom_id {custom_id!r} is not valid for Anthropic: use 1 to 64 letters, "
                "digits, '_' or '-'"
            )
        params: dict[str, Any] = line_field(record, "params", dict, "an object")
        line_field(params, "model", str, "a string")
        line_field(params, "max_tokens", int, "a whole number")
        if not line_field(params, "messages", list, "a list of messages"):
            raise InvalidRequestError("'messages' is empty")
        return custom_id

    def build_encoder(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> LineEncoder:
        """Encode everything but the conversation once; each line then costs one ``orjson``
        call on the messages plus a join of byte fragments."""
        params = self._constant_params(response_model, options)
        head = b'{"custom_id":"'
        # The constant params as an open JSON object: ``{"model":...,"tools":[...]``.
        middle = b'","params":' + orjson.dumps(params)[:-1]
        system_key, messages_key, tail = b',"system":', b',"messages":', b"}}"
        dumps = orjson.dumps
        pattern = self.custom_id_pattern

        def encode(custom_id: str, messages: Sequence[Message]) -> bytes:
            check_custom_id(custom_id, pattern)
            system, chat = split_system(custom_id, messages)
            cid = custom_id.encode()
            if system is None:
                return b"".join((head, cid, middle, messages_key, dumps(chat), tail))
            return b"".join(
                (head, cid, middle, system_key, dumps(system), messages_key, dumps(chat), tail)
            )

        return encode

    def _constant_params(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "max_tokens": options.max_tokens}
        if options.temperature is not None:
            params["temperature"] = options.temperature
        params.update(options.extra)
        params.update(self._structured_output(response_model))
        return params

    def _structured_output(self, response_model: type[BaseModel]) -> dict[str, Any]:
        if self.output_mode == "json_schema":
            native = anthropic_output_schema(response_model)
            return {"output_config": {"format": {"type": "json_schema", "schema": native}}}
        schema = anthropic_tool_schema(response_model)
        tool_name = schema_name(response_model)
        tool = {
            "name": tool_name,
            "description": (
                f"Give the answer as a {tool_name} object. Fill its fields from the "
                "conversation; this tool's input is the whole reply."
            ),
            "input_schema": schema,
        }
        return {"tools": [tool], "tool_choice": {"type": "tool", "name": tool_name}}

    # -- reading results -------------------------------------------------------------------
    def parse_line(self, line: bytes | str) -> LineOutcome:
        """Read one results line; ``ValueError`` (or ``KeyError``/``TypeError``) only when the
        line is not a results line at all."""
        return read_result_line(line)

    def plain_answer(self, record: Any) -> PlainAnswer | None:
        return plain_answer(record)

    # -- online ----------------------------------------------------------------------------
    @property
    def client(self) -> anthropic.Anthropic:
        """The account's SDK client, built on first use so that offline work needs no
        credential, and shared by every provider object of this account in the process."""
        self.check_credentials()
        key = self.settings.anthropic_api_key
        assert key is not None  # check_credentials raised otherwise
        api_key = key.get_secret_value()
        base_url = self.settings.anthropic_base_url or None
        max_retries = self.max_retries
        return shared_client(
            (self.name, api_key, base_url, max_retries),
            lambda: anthropic.Anthropic(
                api_key=api_key, base_url=base_url, max_retries=max_retries
            ),
        )

    def submit(self, source: IO[bytes], metadata: dict[str, str] | None) -> BatchInfo:
        """Send every request line of ``source`` as the ``requests`` of one batch.

        The lines already are Anthropic's request objects, so the body is spliced from them and
        posted through the SDK's client (same auth, retries and ``MessageBatch`` parsing as
        ``messages.batches.create``). ``create(requests=...)`` would need every line decoded
        into dicts, which the SDK then deep-copies before re-encoding: seconds of CPU and
        gigabytes of memory at the 100,000-request limit.

        Anthropic stores no batch metadata, so ``metadata`` cannot travel with the batch: it is
        logged and dropped. Reconciliation must rely on the requests' ``custom_id`` prefix
        instead (``find_marked``); the returned ``BatchInfo.metadata`` is empty
        because that is what Anthropic will report for this batch from now on.
        """
        body = request_body(source)
        if metadata:
            logger.info(
                "Anthropic batches carry no metadata; %s not stored (reconcile by custom_id "
                "prefix instead)",
                ", ".join(sorted(metadata)),
            )
        # Never retried by the SDK: a create whose answer was lost may still have made (and
        # billed) a batch, and only reconciliation by custom_id prefix can tell.
        with sdk_errors():
            batch = self.client.with_options(max_retries=0).post(
                BATCHES_PATH,
                cast_to=MessageBatch,
                content=body,
                options={"headers": {"Content-Type": "application/json"}},
            )
        return batch_info(batch)

    def get(self, batch_id: str) -> BatchInfo:
        with sdk_errors():
            return batch_info(self.client.messages.batches.retrieve(batch_id))

    def list(self, limit: int = 20) -> list[BatchInfo]:
        """Most recent first, following ``after_id`` pages until ``limit`` batches are read."""
        found: list[BatchInfo] = []
        after_id: str | None = None
        with sdk_errors():
            while len(found) < limit:
                page_size = min(limit - len(found), self.list_page_size)
                if after_id is None:
                    page = self.client.messages.batches.list(limit=page_size)
                else:
                    page = self.client.messages.batches.list(limit=page_size, after_id=after_id)
                found.extend(batch_info(batch) for batch in page.data)
                if not page.has_more or not page.data or not page.last_id:
                    break
                after_id = page.last_id
        return found[:limit]

    def request_cancel(self, batch_id: str) -> BatchInfo:
        with sdk_errors():
            return batch_info(self.client.messages.batches.cancel(batch_id))

    def iter_result_lines(
        self, batch_id: str, info: BatchInfo | None = None
    ) -> Generator[bytes, None, None]:
        """Stream the raw results file through the SDK's own HTTP client (auth headers, retries
        on connect), without decoding each line into SDK objects: the parser reads it once."""
        batches = self.client.messages.batches
        with sdk_errors(), batches.with_streaming_response.results(batch_id) as response:
            yield from split_lines(response.iter_bytes(RESULT_CHUNK))

    # -- reconciliation --------------------------------------------------------------------
    def find_marked(self, mark: BatchMark, *, limit: int = 100) -> OwnBatches:
        """Recent batches whose requests' ``custom_id``s start with ``mark.custom_id_prefix``.

        Anthropic has no batch metadata, so this is the evidence a crashed submit leaves: each
        ended batch's first result line tells which job it belongs to (result order is not input
        order, but every request of a batch carries the same job prefix). Batches still
        processing have no results yet and cannot be told apart; they come back separately in
        ``undecided`` so the caller can wait and ask again. Archived batches (results older than
        29 days) cannot be read and are left out.

        This is only as reliable as the prefix: it must be unique to one job and end with a
        separator (``"job-7f3a-"``, not ``"job-7"``) so that one job's prefix is never the start
        of another's. Each ended batch costs two requests (the batch, then its results).
        """
        prefix = mark.custom_id_prefix
        matches = OwnBatches()
        for info in self.list(limit=limit):
            found = self.read_mark(info)
            if found is None:
                matches.undecided.append(info)
            elif found.custom_id_prefix and found.custom_id_prefix.startswith(prefix):
                matches.matching.append(info)
        return matches

    def read_mark(self, info: BatchInfo) -> BatchMark | None:
        """An ended batch's first custom id (``custom_id_prefix`` holds it whole); None while
        it is still processing (no results to read yet). An archived batch's results cannot
        be read at all: its mark is empty. Costs one call for the first result line."""
        if not info.status.is_terminal:
            return None
        if info.raw.get("archived_at") is not None:
            return BatchMark(metadata={}, custom_id_prefix="")
        first_id = self._first_custom_id(info.id)
        return BatchMark(metadata={}, custom_id_prefix=first_id or "")

    def _first_custom_id(self, batch_id: str) -> str | None:
        lines = self.iter_result_lines(batch_id)
        try:
            first = next(lines, None)
        finally:
            lines.close()  # stop the download: one line is all the evidence needed
        if first is None:
            return None
        custom_id = orjson.loads(first).get("custom_id")
        return custom_id if isinstance(custom_id, str) else None


# -- request lines ---------------------------------------------------------------------------
def split_system(
    custom_id: str, messages: Sequence[Message]
) -> tuple[str | list[dict[str, Any]] | None, list[Message]]:
    """Move system messages to Anthropic's ``system`` parameter; keep the rest in order."""
    system_parts: list[Any] = []
    chat: list[Message] = []
    for message in messages:
        try:
            role = message["role"]
        except (KeyError, TypeError):
            raise InvalidRequestError(
                f"request {custom_id}: every message needs a 'role', got {message!r:.100}"
            ) from None
        if role in CHAT_ROLES:
            chat.append(message)
        elif role in SYSTEM_ROLES:
            system_parts.append(message.get("content"))
        else:
            raise InvalidRequestError(
                f"request {custom_id}: Anthropic has no {role!r} role; use system, user or "
                "assistant"
            )
    if not chat:
        raise InvalidRequestError(
            f"request {custom_id}: Anthropic needs at least one user or assistant message"
        )
    return (join_system(custom_id, system_parts) if system_parts else None), chat


def join_system(custom_id: str, parts: list[Any]) -> str | list[dict[str, Any]] | None:
    """One ``system`` value from several system messages: text joined by blank lines, or one
    list of blocks when any of them is already a list of blocks."""
    if len(parts) == 1 and type(parts[0]) is str:  # the common case, kept cheap
        return parts[0] or None
    parts = [part for part in parts if part != ""]
    if not parts:
        return None
    if all(isinstance(part, str) for part in parts):
        return parts[0] if len(parts) == 1 else "\n\n".join(parts)
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, str):
            blocks.append({"type": "text", "text": part})
        elif isinstance(part, list):
            blocks.extend(part)
        else:
            raise InvalidRequestError(
                f"request {custom_id}: system content must be a string or a list of text "
                f"blocks, got {type(part).__name__}"
            )
    return blocks


def request_body(source: IO[bytes]) -> bytes:
    """``{"requests": [...]}`` spliced from the request lines, without decoding them.

    Each line is checked to be one JSON object, cheaply (by its braces); anything subtler is
    left to the API, whose 400 names the offending ``requests.N``.
    """
    lines: list[bytes] = []
    for number, raw in enumerate(source, start=1):
        line = raw.strip()
        if not line:
            continue
        if not (line.startswith(b"{") and line.endswith(b"}")):
            raise InvalidRequestError(f"request line {number} is not a JSON object")
        lines.append(line)
    if not lines:
        raise InvalidRequestError("the request file is empty: a batch needs at least one")
    return b'{"requests":[' + b",".join(lines) + b"]}"


# -- batches ---------------------------------------------------------------------------------
def batch_status(batch: MessageBatch) -> BatchStatus:
    """Anthropic's three processing states in batchline's words.

    ==================================================  ===========
    Anthropic                                           batchline
    ==================================================  ===========
    ``in_progress``                                     in_progress
    ``canceling``                                       cancelling
    ``ended`` with ``cancel_initiated_at`` set          cancelled
    ``ended`` with ``request_counts.expired`` > 0       expired
    ``ended`` otherwise (even if every request erred)   completed
    ==================================================  ===========

    A cancelled batch can also hold expired requests; the cancellation is what the user did,
    so it wins. An ended batch never fails as a whole: bad requests come back as errored lines.
    """
    status = batch.processing_status
    if status == "in_progress":
        return BatchStatus.IN_PROGRESS
    if status == "canceling":
        return BatchStatus.CANCELLING
    if batch.cancel_initiated_at is not None:
        return BatchStatus.CANCELLED
    if batch.request_counts.expired > 0:
        return BatchStatus.EXPIRED
    return BatchStatus.COMPLETED


def batch_info(batch: MessageBatch) -> BatchInfo:
    counts = batch.request_counts
    return BatchInfo(
        id=batch.id,
        provider=AnthropicProvider.name,
        status=batch_status(batch),
        provider_status=batch.processing_status,
        request_counts=RequestCounts(
            total=counts.processing
            + counts.succeeded
            + counts.errored
            + counts.canceled
            + counts.expired,
            completed=counts.succeeded,
            failed=counts.errored + counts.canceled + counts.expired,
            pending=counts.processing,
        ),
        created_at=batch.created_at,
        completed_at=batch.ended_at,
        expires_at=batch.expires_at,
        error=(
            f"results were archived at {batch.archived_at.isoformat()} and can no longer be read"
            if batch.archived_at
            else None
        ),
        raw=batch.model_dump(mode="json"),
    )


# -- errors ----------------------------------------------------------------------------------
@contextmanager
def sdk_errors() -> Iterator[None]:
    """Turn the SDK's (and its transport's) exceptions into batchline's family, so callers retry
    on ``ProviderRetryableError`` rather than on SDK classes."""
    try:
        yield
    except anthropic.APIStatusError as exc:
        message = getattr(exc, "api_message", None) or exc.message
        code = getattr(exc, "type", None)
        raise error_for_status(exc.status_code, message, provider="anthropic", code=code) from exc
    except anthropic.APIConnectionError as exc:
        raise ProviderUnavailable(exc.message, provider="anthropic") from exc
    except anthropic.APIError as exc:
        raise ProviderError(exc.message, provider="anthropic") from exc
    except anthropic.AnthropicError as exc:
        # Raised without any HTTP call by ``results()`` when the batch has no results_url.
        raise ResultsNotReadyError(str(exc)) from exc
    except httpx2.TransportError as exc:
        # A connection dropped while streaming results: the SDK has already returned.
        raise ProviderUnavailable(
            f"connection lost while reading: {exc}", provider="anthropic"
        ) from exc
