"""Gemini through the Gemini Developer API's batch mode: an API key, no project, no bucket.

Requests go inline in the create call when they fit under its 20 MB, else in a JSONL file
uploaded through the Files API (resumable); results come back the same way: inline in the
batch, or in a responses file (https://ai.google.dev/gemini-api/docs/batch-mode, read 2026-12).

Request line: ``{"key": custom_id, "request": GenerateContentRequest}`` (the file format);
inline, each becomes ``{"request": ..., "metadata": {"key": custom_id}}``. Result line:
``{"key", "response"}`` or ``{"key", "error"}``; inline responses are turned into the same
lines, so one parser reads both.

Batch metadata: the Batch API has none, and its list has no filter, so the pairs travel
URL-encoded in the display name, which every list entry carries.
"""

from __future__ import annotations

import builtins
import itertools
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

import orjson
from pydantic import BaseModel

from batchline.batching.options import RequestOptions
from batchline.batching.providers.base import (
    BatchInfo,
    BatchMark,
    LineEncoder,
    LineOutcome,
    OwnBatches,
    PlainAnswer,
    Provider,
    ProviderLimits,
    RequiredSetting,
    split_lines,
)
from batchline.batching.providers.clients import shared_client
from batchline.batching.providers.gemini_jobs import (
    BATCH_NAME,
    INLINE_LOCATION,
    PROVIDER,
    STATUS_MAP,
    checked_batch_name,
    display_name,
    inline_responses,
    to_batch_info,
)
from batchline.batching.providers.google_requests import GEMINI_RESERVED_EXTRA, build_encoder
from batchline.batching.providers.google_results import parse_prediction, plain_prediction
from batchline.batching.request_lines import line_field
from batchline.batching.results import ErrorType
from batchline.batching.schema import gemini_response_schema
from batchline.batching.status import BatchStatus
from batchline.errors import ConfigurationError, InvalidRequestError, error_for_status

if TYPE_CHECKING:
    from google.genai import Client as GenaiClient

#: The create call carries inline requests up to 20 MB (the batch-mode page above); batchline
#: goes inline only below this, leaving room for the JSON around the requests.
INLINE_MAX_BYTES = 20 * 1024 * 1024 - 64 * 1024
#: Bytes the inline wrapper adds to each request line beyond the file format's.
INLINE_OVERHEAD_PER_REQUEST = 32
#: Milliseconds google-genai waits for the API before giving up (its default is no timeout).
HTTP_TIMEOUT_MS = 120_000
#: Result files are read in blocks of this size.
READ_BLOCK = 8 * 1024 * 1024


class GeminiProvider(Provider):
    """The Gemini Developer API's Batch API through google-genai (``vertexai=False``)."""

    name: ClassVar[str] = PROVIDER
    #: An input file holds at most 2 GB (the Files API's limit, read 2026-12). No request
    #: count is documented; Vertex's 200,000 bounds a shard, as for the other Google provider.
    # Rate: no documented batch-endpoint limit was found offline; one call a second, as Vertex.
    limits: ClassVar[ProviderLimits] = ProviderLimits(
        max_requests=200_000, max_bytes=2 * 1024**3, calls_per_second=1.0, submit_calls=2
    )
    required_settings: ClassVar[tuple[RequiredSetting, ...]] = (
        RequiredSetting("gemini_api_key", "GEMINI_API_KEY"),
    )
    batch_id_pattern: ClassVar[re.Pattern[str]] = BATCH_NAME
    statuses: ClassVar[Mapping[str, BatchStatus]] = STATUS_MAP
    example_model: ClassVar[str] = "gemini-2.5-flash"
    #: The Batch API documents no maximum page; 100 is the Files API's and Vertex's.
    list_page_size: ClassVar[int] = 100
    #: ``input``: ``auto`` sends requests inline when they fit in the create call, else as a
    #: file; ``inline`` and ``file`` force one way (``inline`` fails for a batch over 20 MB).
    option_choices: ClassVar[Mapping[str, tuple[str, ...]]] = {"input": ("auto", "inline", "file")}
    reserved_extra: ClassVar[frozenset[str]] = GEMINI_RESERVED_EXTRA

    # -- offline ---------------------------------------------------------------------------------
    def build_encoder(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> LineEncoder:
        return build_encoder(
            gemini_response_schema(response_model), options, self.custom_id_pattern, labels=False
        )

    @classmethod
    def check_request_line(cls, record: dict[str, Any]) -> str:
        """``{"key", "request": {"contents": [...], ...}}``: the batch file line of
        https://ai.google.dev/gemini-api/docs/batch-mode (read 2026-12)."""
        custom_id: str = line_field(record, "key", str, "a string (the request's custom id)")
        if not custom_id:
            raise InvalidRequestError("'key' is empty")
        request: dict[str, Any] = line_field(record, "request", dict, "an object")
        if not line_field(request, "contents", list, "a list of contents"):
            raise InvalidRequestError("'contents' is empty")
        if "labels" in request:
            raise InvalidRequestError("'labels' is Vertex AI's; the Gemini Developer API has none")
        return custom_id

    def parse_line(self, line: bytes | str) -> LineOutcome:
        return parse_response_line(line)

    def plain_answer(self, record: Any) -> PlainAnswer | None:
        if isinstance(record, dict) and record.get("error"):
            return None
        return plain_prediction(record)

    def request_custom_id(self, line: bytes | str) -> str:
        return str(orjson.loads(line)["key"])

    # -- client ----------------------------------------------------------------------------------
    def _api_key(self) -> str:
        key = self.settings.gemini_api_key
        if key is None or not key.get_secret_value().strip():
            raise ConfigurationError(
                "GEMINI_API_KEY is not set: the Gemini Developer API needs an API key "
                "(or GOOGLE_API_KEY); create one at https://aistudio.google.com/apikey"
            )
        return key.get_secret_value()

    @property
    def _genai(self) -> GenaiClient:
        """The account's client, shared in the process."""
        settings = self.settings
        account = (PROVIDER, self._api_key(), settings.gemini_base_url)
        return shared_client(account, self._build_genai)

    def _build_genai(self) -> GenaiClient:
        from google import genai
        from google.genai import types

        http_options = types.HttpOptions(
            base_url=self.settings.gemini_base_url or None, timeout=HTTP_TIMEOUT_MS
        )
        return genai.Client(vertexai=False, api_key=self._api_key(), http_options=http_options)

    def _operation(self, method: str, path: str) -> dict[str, Any]:
        """One Batch API call, answered as the raw operation JSON.

        The SDK's typed ``BatchJob`` drops ``batchStats`` and ``error`` in this mode, so reads
        go through its own authenticated transport (``Client._api_client``, what its
        ``batches`` module calls) and keep the JSON whole.
        """
        with translate_errors():
            response = self._genai._api_client.request(method, path, {})
        body: dict[str, Any] = orjson.loads(response.body) if response.body else {}
        return body

    # -- batches ---------------------------------------------------------------------------------
    def submit(self, source: IO[bytes], metadata: dict[str, str] | None) -> BatchInfo:
        """Create the batch from inline requests when they fit in the create call (or
        ``input="inline"``), else from an uploaded file."""
        from google.genai import types

        if not self.model:
            raise InvalidRequestError(
                "a Gemini batch needs a model: build the provider with one "
                "(for_account providers cannot submit)"
            )
        name = display_name(metadata or {})
        inline = self._inline_requests(source)
        if inline is not None:
            # The SDK would rebuild each request from typed models; the lines are already the
            # wire's GenerateContentRequest, so they ride in the body as they are.
            body = {"batch": {"inputConfig": {"requests": {"requests": inline}}}}
            src: Any = types.BatchJobSource(inlined_requests=[])
            http_options = types.HttpOptions(extra_body=body)
        else:
            upload = types.UploadFileConfig(display_name=name, mime_type="jsonl")
            with translate_errors():
                uploaded = self._genai.files.upload(file=source, config=upload)  # type: ignore[arg-type]
            src, http_options = uploaded.name, None
        config = types.CreateBatchJobConfig(display_name=name, http_options=http_options)
        with translate_errors():
            job = self._genai.batches.create(model=self.model, src=src, config=config)
        return self.get(job.name or "")

    def _inline_requests(self, source: IO[bytes]) -> builtins.list[dict[str, Any]] | None:
        """The requests as inline entries, or None when they go as a file."""
        mode = self.options["input"]
        if mode == "file":
            return None
        size = _remaining_size(source)
        if mode == "auto" and (size is None or size > INLINE_MAX_BYTES):
            return None
        start = source.tell() if size is not None else None
        data = source.read()
        lines = data.split(b"\n")
        if (
            mode == "auto"
            and len(data) + INLINE_OVERHEAD_PER_REQUEST * len(lines) > INLINE_MAX_BYTES
        ):
            if start is not None:
                source.seek(start)
            return None
        entries = []
        for line in lines:
            if line.strip():
                record = orjson.loads(line)
                entries.append({"request": record["request"], "metadata": {"key": record["key"]}})
        return entries

    def get(self, batch_id: str) -> BatchInfo:
        return to_batch_info(self._operation("get", checked_batch_name(batch_id)))

    def list(self, limit: int = 20) -> builtins.list[BatchInfo]:
        """Follows ``pageToken``; the API documents no order, so the batches read are sorted
        newest first here."""
        infos = list(itertools.islice(self._pages(min(max(limit, 1), self.list_page_size)), limit))
        infos.sort(
            key=lambda info: info.created_at.timestamp() if info.created_at else 0.0, reverse=True
        )
        return infos

    def _pages(self, page_size: int) -> Iterator[BatchInfo]:
        token: str | None = None
        while True:
            query = {"pageSize": page_size, **({"pageToken": token} if token else {})}
            page = self._operation("get", f"batches?{urlencode(query)}")
            for operation in page.get("operations") or []:
                yield to_batch_info(operation)
            token = page.get("nextPageToken")
            if not token:
                return

    def request_cancel(self, batch_id: str) -> BatchInfo:
        """The Batch API has no cancelling state: a batch whose cancel was accepted shows as
        running until it stops, and is reported as cancelling meanwhile."""
        with translate_errors():
            self._genai.batches.cancel(name=checked_batch_name(batch_id))
        info = self.get(batch_id)
        if not info.status.is_terminal:
            info.status = BatchStatus.CANCELLING
        return info

    def find_marked(self, mark: BatchMark, *, limit: int = 100) -> OwnBatches:
        """The mark's pairs are in the display name of every batch batchline submits."""
        return self.matching_metadata(mark, limit=limit)

    # -- results ---------------------------------------------------------------------------------
    def iter_result_lines(self, batch_id: str, info: BatchInfo | None = None) -> Iterator[bytes]:
        """The responses file's lines, or the inline responses as lines of the same shape."""
        if info is None or info.id != batch_id:
            info = self.get(batch_id)
        for location in info.result_locations:
            if location == INLINE_LOCATION:
                yield from _inline_lines(info.raw)
            else:
                yield from self._file_lines(location)

    def _file_lines(self, file_name: str) -> Iterator[bytes]:
        """Downloaded to a temporary file first: memory holds one block, not the file."""
        with tempfile.TemporaryFile(prefix="batchline-gemini-") as spool:
            with translate_errors():
                self._genai.files.download(file=file_name, destination=spool)
            spool.seek(0)
            read: Callable[[int], bytes] = spool.read
            yield from split_lines(iter(lambda: read(READ_BLOCK), b""))


def parse_response_line(line: bytes | str) -> LineOutcome:
    """One result line -> ``LineOutcome``: an ``error`` object is the request's error, a
    ``response`` is read as Gemini's ``GenerateContentResponse`` (as on Vertex)."""
    data = orjson.loads(line)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        key = data.get("key")
        return LineOutcome(
            custom_id=str(key) if key is not None else parse_prediction(line).custom_id,
            error_type=ErrorType.PROVIDER_ERROR,
            error_message=str(error.get("message") or error),
            provider_code=str(error.get("status") or error.get("code") or "") or None,
            raw=data,
        )
    return parse_prediction(line)


def _inline_lines(operation: dict[str, Any]) -> Iterator[bytes]:
    for index, entry in enumerate(inline_responses(operation)):
        metadata = entry.get("metadata")
        key = metadata.get("key") if isinstance(metadata, dict) else None
        rest = {k: v for k, v in entry.items() if k != "metadata"}
        yield orjson.dumps({"key": str(key) if key is not None else str(index), **rest})


def _remaining_size(source: IO[bytes]) -> int | None:
    """Bytes left in a seekable source, else ``None``."""
    try:
        start = source.tell()
        end = source.seek(0, 2)
        source.seek(start)
    except (OSError, ValueError, AttributeError):
        return None
    return end - start


@contextmanager
def translate_errors() -> Iterator[None]:
    """google-genai's and its transport's errors -> batchline's. It sends through httpx, or
    through its fork httpx2 when that is installed."""
    import httpx
    from google.genai import errors as genai_errors

    transport: tuple[type[Exception], ...] = (httpx.TransportError,)
    try:
        import httpx2

        transport += (httpx2.TransportError,)
    except ImportError:
        pass
    try:
        yield
    except genai_errors.APIError as exc:
        message = exc.message or str(exc)
        raise error_for_status(exc.code, message, provider=PROVIDER, code=exc.status) from exc
    except transport as exc:
        raise error_for_status(None, str(exc) or type(exc).__name__, provider=PROVIDER) from exc
