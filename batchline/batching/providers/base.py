"""The small interface every provider implements; everything else lives above it.

A provider translates: batchline's request into its line format, its batch object into a
``BatchInfo``, its result lines into ``LineOutcome``s, and its SDK's exceptions into
``batchline.errors``. Status normalisation, limits, parsing into the response model and result
accounting happen once, in the processor.
"""

from __future__ import annotations

import abc
import builtins
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar, Self

import orjson
from pydantic import BaseModel

from batchline.batching.options import (
    ANY_CUSTOM_ID,
    MAX_TEMPERATURE,
    RequestOptions,
    check_temperature,
)
from batchline.batching.results import ErrorType
from batchline.batching.status import BatchStatus
from batchline.config import Settings
from batchline.errors import ConfigurationError, InvalidRequestError, ProviderError

#: A chat message as the guide writes it: ``{"role": "user", "content": "..."}``.
Message = dict[str, Any]

#: Turns ``(custom_id, messages)`` into one encoded request line (without the newline).
LineEncoder = Callable[[str, Sequence[Message]], bytes]

#: An ordinary success line: its custom id, the answer to validate (JSON text, or an object
#: the provider already decoded, as Anthropic's tool input) and its token usage.
PlainAnswer = tuple[str, str | dict[str, Any], dict[str, int] | None]


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
    #: Bytes the payload adds beyond the request lines as batchline measures them (one newline
    #: each): Anthropic's ``{"requests":[...]}`` body is 14 more (15 of brackets, less the one
    #: comma fewer than newlines). Sizing subtracts it so a shard packed to the limit fits.
    envelope_bytes: int = 0
    #: Highest temperature the provider's models accept.
    max_temperature: float = MAX_TEMPERATURE
    #: Batch API calls per second the workers allow themselves by default, from the
    #: provider's documented limits (``BATCHLINE_PROVIDER_RATE_LIMIT`` replaces it).
    calls_per_second: float = 1.0
    #: HTTP calls one submission makes (an upload and a create, or a create alone).
    submit_calls: int = 2


@dataclass(frozen=True, slots=True)
class RequiredSetting:
    """A setting a provider cannot reach its account without."""

    #: The ``Settings`` attribute that holds it.
    attribute: str
    #: The env var a user sets (named in errors).
    env: str


@dataclass(frozen=True, slots=True)
class BatchMark:
    """What batchline puts on every batch it submits, so the batch can be recognised after a
    crash cut the submit short: metadata pairs, and one prefix shared by every custom id."""

    metadata: dict[str, str]
    custom_id_prefix: str


@dataclass(slots=True)
class OwnBatches:
    """What ``Provider.find_marked`` found: the one evidence type every provider returns."""

    #: Batches that carry the mark.
    matching: list[BatchInfo] = field(default_factory=list)
    #: Batches that might carry it but cannot tell yet (Anthropic's still-running batches,
    #: whose custom ids can only be read once results exist). The caller waits and asks again.
    undecided: list[BatchInfo] = field(default_factory=list)


class Provider(abc.ABC):
    """One provider's batch API. Subclasses fill the primitives; they hold no policy.

    Everything provider-specific the rest of batchline needs is declared here, as class
    attributes, so that the CLI, the demo and the workers read it from the provider and keep no
    table of providers of their own.
    """

    name: ClassVar[str]
    limits: ClassVar[ProviderLimits]
    #: The settings without which no call reaches the account (named in errors and by the demo).
    required_settings: ClassVar[tuple[RequiredSetting, ...]]
    #: Matches every batch id this provider hands out, and no other provider's.
    batch_id_pattern: ClassVar[re.Pattern[str]]
    #: Custom ids the provider accepts (``check_custom_id``).
    custom_id_pattern: ClassVar[re.Pattern[str]] = ANY_CUSTOM_ID
    #: Every native batch status, once, in batchline's vocabulary.
    statuses: ClassVar[Mapping[str, BatchStatus]]
    #: A model of this provider, used where only the provider matters (reading a batch by id
    #: from the CLI) and by the demo.
    example_model: ClassVar[str]
    #: Most batches one list call asks for (the provider's own maximum page); ``list`` follows
    #: pages beyond it.
    list_page_size: ClassVar[int]
    #: Provider options and their allowed values, the first being the default
    #: (``BatchProcessor(..., output_mode="tools")``).
    option_choices: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: Seconds after its creation by which a batch of this provider is surely recognisable by
    #: ``find_marked`` (0: at once, from its metadata). A claim whose candidates are still
    #: undecided waits this much beyond the submit grace, and no longer.
    recognisable_within: ClassVar[float] = 0.0
    #: ``RequestOptions.extra`` keys batchline sets itself; one in the extras would change what
    #: the answer looks like, so it is refused.
    reserved_extra: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, model: str, settings: Settings, **options: Any) -> None:
        """``options`` are provider-specific choices (``option_choices``); an unknown one, or
        an unknown value, raises ``InvalidRequestError``. ``self.options`` holds every option,
        defaults filled in."""
        self.model = model
        self.settings = settings
        self.options: dict[str, str] = self.parse_options(options)

    @classmethod
    def for_account(cls, settings: Settings) -> Self:
        """A provider for the calls that belong to the account rather than to a model: get,
        list, cancel, results and reconciliation (the workers' polling). It cannot submit."""
        return cls("", settings)

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> dict[str, str]:
        """Every option of ``option_choices``, checked, with defaults for those not given."""
        unknown = sorted(set(options) - set(cls.option_choices))
        if unknown:
            known = ", ".join(sorted(cls.option_choices)) or "none"
            raise InvalidRequestError(
                f"unknown {cls.name} option(s) {', '.join(unknown)}: known options are {known}"
            )
        parsed: dict[str, str] = {}
        for option, choices in cls.option_choices.items():
            value = options.get(option, choices[0])
            if value not in choices:
                raise InvalidRequestError(
                    f"{cls.name} {option} must be one of {', '.join(map(repr, choices))}, "
                    f"got {value!r}"
                )
            parsed[option] = value
        return parsed

    @classmethod
    def owns_batch_id(cls, batch_id: str) -> bool:
        """Whether ``batch_id`` has the shape of this provider's batch ids."""
        return isinstance(batch_id, str) and cls.batch_id_pattern.fullmatch(batch_id) is not None

    @classmethod
    def missing_settings(cls, settings: Settings) -> builtins.list[str]:
        """The env vars of ``required_settings`` that ``settings`` leaves empty."""
        missing = []
        for required in cls.required_settings:
            value = getattr(settings, required.attribute)
            text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            if not (isinstance(text, str) and text.strip()):
                missing.append(required.env)
        return missing

    # -- offline: no credential or network needed ------------------------------------------
    @classmethod
    def check_options(cls, options: RequestOptions) -> RequestOptions:
        """The checks of ``options`` that depend on the provider (``RequestOptions`` checks the
        rest itself): its temperature ceiling, and extras batchline sets itself. The workers
        call this when a job is queued, so a job that can never run is refused at once."""
        check_temperature(options.temperature, cls.limits.max_temperature)
        reserved = sorted(cls.reserved_extra & set(options.extra))
        if reserved:
            raise InvalidRequestError(
                f"batchline sets {', '.join(reserved)} itself; remove it from the extra options"
            )
        return options

    def line_encoder(self, response_model: type[BaseModel], options: RequestOptions) -> LineEncoder:
        """A fast encoder of request lines, once ``check_options`` has passed."""
        return self.build_encoder(response_model, self.check_options(options))

    @abc.abstractmethod
    def build_encoder(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> LineEncoder:
        """Precompute what is the same for every request (the schema), return a fast encoder.
        ``options`` are already checked; the encoder checks each custom id with
        ``check_custom_id``."""

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
    def check_credentials(self) -> None:
        """Raise ``ConfigurationError`` naming the env var when a required setting is missing.
        Providers with more to check (a credentials file) extend this."""
        missing = self.missing_settings(self.settings)
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                f"{self.name} batches cannot be submitted or read without "
                f"{'it' if len(missing) == 1 else 'them'} (building request files needs none)"
            )

    @abc.abstractmethod
    def submit(self, source: IO[bytes], metadata: dict[str, str] | None) -> BatchInfo:
        """Upload the request lines in ``source`` and create one provider batch."""

    @abc.abstractmethod
    def get(self, batch_id: str) -> BatchInfo:
        """The batch, or ``BatchNotFoundError`` for an id the account does not have."""

    @abc.abstractmethod
    def list(self, limit: int = 20) -> list[BatchInfo]:
        """The ``limit`` most recent batches, newest first, following pages as needed."""

    def cancel(self, batch_id: str) -> BatchInfo:
        """Ask the provider to stop the batch. The rule is the same for every provider: a batch
        that has already ended is returned unchanged, so a retried or late cancel is no error.
        """
        current = self.get(batch_id)
        if current.status.is_terminal:
            return current
        try:
            return self.request_cancel(batch_id)
        except ProviderError:
            # The batch may have ended between the two calls, and providers refuse to cancel a
            # finished batch.
            latest = self.get(batch_id)
            if latest.status.is_terminal:
                return latest
            raise

    @abc.abstractmethod
    def request_cancel(self, batch_id: str) -> BatchInfo:
        """Send the cancel request for a batch that had not ended; return the batch after it."""

    @abc.abstractmethod
    def iter_result_lines(self, batch_id: str, info: BatchInfo | None = None) -> Iterator[bytes]:
        """Stream every result line of a finished batch, from every file the provider wrote
        (OpenAI's output *and* error files), a line at a time. ``info``, when the caller has
        just fetched the batch, saves fetching it again."""

    # -- reconciliation ----------------------------------------------------------------------
    @abc.abstractmethod
    def find_marked(self, mark: BatchMark, *, limit: int = 100) -> OwnBatches:
        """Among the ``limit`` most recent batches, those batchline submitted with ``mark``.

        Each provider keeps different evidence: batch metadata where it has some
        (``matching_metadata``), the requests' custom ids where it has none (Anthropic).
        """

    def read_mark(self, info: BatchInfo) -> BatchMark | None:
        """The evidence ``find_marked`` matches, read off one listed batch whose owner is not
        known in advance (``batchline jobs orphans``): here its metadata. Providers without
        batch metadata read their own evidence (Anthropic: its first custom id, in
        ``custom_id_prefix``). None while the batch cannot tell yet; ask again later."""
        return BatchMark(metadata=dict(info.metadata), custom_id_prefix="")

    def find_by_metadata(
        self, key: str, value: str, *, limit: int = 100
    ) -> builtins.list[BatchInfo]:
        """Recent batches whose metadata (or labels) carry ``key=value``."""
        return [b for b in self.list(limit=limit) if b.metadata.get(key) == value]

    def matching_metadata(self, mark: BatchMark, *, limit: int) -> OwnBatches:
        """``find_marked`` for providers that keep batch metadata: every pair must match."""
        if not mark.metadata:
            raise InvalidRequestError("a batch mark needs at least one metadata pair")
        first_key, first_value = next(iter(mark.metadata.items()))
        pairs = mark.metadata.items()
        return OwnBatches(
            matching=[
                info
                for info in self.find_by_metadata(first_key, first_value, limit=limit)
                if all(info.metadata.get(key) == value for key, value in pairs)
            ]
        )


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
