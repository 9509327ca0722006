"""The small interface every provider implements; everything else lives above it.

A provider translates: batchline's request into its line format, its batch object into a
``BatchInfo``, its result lines into ``LineOutcome``s, and its SDK's exceptions into
``batchline.errors``. Status normalisation, limits, parsing into the response model and result
accounting happen once, in the processor.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar

import orjson
from pydantic import BaseModel

from batchline.batching.results import ErrorType
from batchline.batching.status import BatchStatus
from batchline.config import Settings

#: A chat message as the guide writes it: ``{"role": "user", "content": "..."}``.
Message = dict[str, Any]

#: Turns ``(custom_id, messages)`` into one encoded request line (without the newline).
LineEncoder = Callable[[str, Sequence[Message]], bytes]

#: An ordinary success line: its custom id, the answer to validate (JSON text, or an object
#: the provider already decoded, as Anthropic's tool input) and its token usage.
PlainAnswer = tuple[str, str | dict[str, Any], dict[str, int] | None]


@dataclass(slots=True)
class RequestOptions:
    """Generation settings shared by every request of one batch."""

    max_tokens: int = 1000
    temperature: float | None = None
    #: Provider-specific extras merged into each request body (e.g. ``top_p``).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestCounts:
    total: int = 0
    completed: int = 0
    failed: int = 0
    #: Requests not yet finished (in progress, or never run when the batch ended early).
    pending: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "completed": self.completed,
            "failed": self.failed,
            "pending": self.pending,
        }


@dataclass(slots=True)
class BatchInfo:
    """A provider batch in batchline's words, with the provider's own status kept beside it."""

    id: str
    provider: str
    status: BatchStatus
    provider_status: str
    request_counts: RequestCounts = field(default_factory=RequestCounts)
    created_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: Why the batch failed, when it did (the provider's message).
    error: str | None = None
    #: Where the provider keeps the results (OpenAI's output and error file ids, Vertex's
    #: output folder); empty while there are none. Lets results stream without a re-fetch.
    result_locations: tuple[str, ...] = ()
    #: The provider's object, JSON-ready, for anything not normalised here.
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The dict ``get_batch_status`` returns."""

        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "provider": self.provider,
            "status": self.status.value,
            "provider_status": self.provider_status,
            "request_counts": self.request_counts.to_dict(),
            "created_at": stamp(self.created_at),
            "completed_at": stamp(self.completed_at),
            "expires_at": stamp(self.expires_at),
            "metadata": dict(self.metadata),
            "error": self.error,
        }


@dataclass(slots=True)
class LineOutcome:
    """What one result line says, before validation against the response model.

    Exactly one of ``text`` (JSON text to validate), ``data`` (an already-decoded answer, as
    Anthropic's tool input) or ``error_type`` is set.
    """

    custom_id: str
    text: str | None = None
    data: Any = None
    error_type: ErrorType | None = None
    error_message: str = ""
    provider_code: str | None = None
    usage: dict[str, int] | None = None
    #: The decoded line; kept on errors so users can see what the provider said.
    raw: Any = None


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    #: Most requests one provider batch accepts.
    max_requests: int
    #: Largest request payload (file or body) one provider batch accepts, in bytes.
    max_bytes: int


class Provider(abc.ABC):
    """One provider's batch API. Subclasses fill the primitives; they hold no policy."""

    name: ClassVar[str]
    limits: ClassVar[ProviderLimits]
    #: The env var a user sets to give this provider a credential (named in errors).
    credential_env: ClassVar[str]

    def __init__(self, model: str, settings: Settings, **options: Any) -> None:
        """``options`` are provider-specific choices (e.g. Anthropic's ``output_mode``);
        a provider raises ``InvalidRequestError`` for one it does not know."""
        self.model = model
        self.settings = settings
        self.options = options

    # -- offline: no credential or network needed ------------------------------------------
    @abc.abstractmethod
    def line_encoder(self, response_model: type[BaseModel], options: RequestOptions) -> LineEncoder:
        """Precompute what is the same for every request (the schema), return a fast encoder."""

    @abc.abstractmethod
    def parse_line(self, line: bytes | str) -> LineOutcome:
        """Read one result line. Raises ``ValueError`` only when the line is unreadable."""

    def plain_answer(self, record: Any) -> PlainAnswer | None:
        """The fast path for the common line: a success with nothing to judge.

        ``record`` is a decoded result line. Return its answer only when ``parse_line`` would
        give that same custom id, answer and usage with no error; return ``None`` for anything
        else (errors, refusals, truncation, odd shapes), which then takes ``parse_line``.
        Overriding is optional: it only makes the common line cheaper.
        """
        return None

    @classmethod
    @abc.abstractmethod
    def check_request_line(cls, record: dict[str, Any]) -> str:
        """Return the custom id of ``record``, one decoded line of a request file the user
        brought, or raise ``InvalidRequestError`` saying what is not in this provider's
        request shape. Offline and class-level: ``batching.request_lines`` runs it on every
        line before anything is uploaded, and on other providers' classes to name the one a
        refused file was written for."""

    def request_custom_id(self, line: bytes | str) -> str:
        """The custom id of one request line of this provider's format (used for accounting)."""
        return str(orjson.loads(line)["custom_id"])

    # -- online ------------------------------------------------------------------------------
    @abc.abstractmethod
    def check_credentials(self) -> None:
        """Raise ``ConfigurationError`` naming the env var when a credential is missing."""

    @abc.abstractmethod
    def submit(self, source: IO[bytes], metadata: dict[str, str] | None) -> BatchInfo:
        """Upload the request lines in ``source`` and create one provider batch."""

    @abc.abstractmethod
    def get(self, batch_id: str) -> BatchInfo: ...

    @abc.abstractmethod
    def list(self, limit: int = 20) -> list[BatchInfo]:
        """Most recent batches first."""

    @abc.abstractmethod
    def cancel(self, batch_id: str) -> BatchInfo: ...

    @abc.abstractmethod
    def iter_result_lines(self, batch_id: str, info: BatchInfo | None = None) -> Iterator[bytes]:
        """Stream every result line of a finished batch, from every file the provider wrote
        (OpenAI's output *and* error files), a line at a time. ``info``, when the caller has
        just fetched the batch, saves fetching it again."""

    def find_by_metadata(
        self, key: str, value: str, *, limit: int = 100
    ) -> builtins.list[BatchInfo]:
        """Recent batches whose metadata (or labels) carry ``key=value``; for reconciliation.

        Providers without batch metadata override this with their own evidence.
        """
        return [b for b in self.list(limit=limit) if b.metadata.get(key) == value]


def token_usage(
    input_tokens: Any,
    output_tokens: Any,
    *,
    cached_input_tokens: Any = 0,
    reasoning_tokens: Any = 0,
) -> dict[str, int] | None:
    """Token counts in one vocabulary for every provider, so cost reports need no per-provider
    code. ``None`` when the provider reported nothing usable. (Runs once per result line:
    the type checks are inline rather than a helper call each.)"""
    inputs = input_tokens if type(input_tokens) is int else 0
    outputs = output_tokens if type(output_tokens) is int else 0
    cached = cached_input_tokens if type(cached_input_tokens) is int else 0
    reasoning = reasoning_tokens if type(reasoning_tokens) is int else 0
    if not (inputs or outputs or cached or reasoning):
        return None
    return {
        "input_tokens": inputs,
        "output_tokens": outputs,
        "cached_input_tokens": cached,
        "reasoning_tokens": reasoning,
        "total_tokens": inputs + outputs,
    }


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The non-blank lines of a byte stream, whatever the chunk boundaries.

    Only ``\\n`` ends a line: a JSON string may hold U+2028, which ``str.splitlines`` would
    wrongly treat as a line end.
    """
    pending: list[bytes] = []
    for chunk in chunks:
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            pending.append(chunk)
            continue
        if pending:
            pending.append(lines[0])
            lines[0] = b"".join(pending)
            pending = []
        last = lines.pop()
        if last:
            pending.append(last)
        for line in lines:
            if line.strip():
                yield line.rstrip(b"\r")
    rest = b"".join(pending)
    if rest.strip():
        yield rest.rstrip(b"\r")
