"""Gemini on Vertex AI batch prediction: requests and results live in Cloud Storage.

Request line: ``{"key": custom_id, "request": {contents, systemInstruction, generationConfig,
labels}}``. Vertex echoes extra top-level fields and the whole ``request`` on each output line,
so the id comes back in ``key``, with ``request.labels.custom_id`` as a second copy when the id
is a valid label value.

Batch metadata: google-genai 3.x has no ``labels`` on ``CreateBatchJobConfig`` and drops them
from ``BatchJob``, so metadata is written twice: exactly, URL-encoded in the display name
(``batchline job=...&shard=0``), which the SDK does return; and sanitised into job labels
(through ``HttpOptions.extra_body``), which the console and the list filter can use.
"""

from __future__ import annotations

import builtins
import io
import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import orjson
from pydantic import BaseModel

from batchline.batching.providers.base import (
    BatchInfo,
    LineEncoder,
    LineOutcome,
    PlainAnswer,
    Provider,
    ProviderLimits,
    RequestCounts,
    RequestOptions,
)
from batchline.batching.providers.google_requests import build_encoder
from batchline.batching.providers.google_results import parse_prediction, plain_prediction
from batchline.batching.request_lines import line_field
from batchline.batching.schema import gemini_response_schema
from batchline.batching.status import BatchStatus
from batchline.config import Settings
from batchline.errors import (
    BatchlineError,
    BatchNotFoundError,
    ConfigurationError,
    InvalidRequestError,
    error_for_status,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import storage  # type: ignore[import-untyped]
    from google.genai import Client as GenaiClient
    from google.genai.types import BatchJob

PROVIDER = "google"

#: Vertex's own state names -> batchline's, in one place.
STATUS_MAP: dict[str, BatchStatus] = {
    "JOB_STATE_UNSPECIFIED": BatchStatus.VALIDATING,
    "JOB_STATE_QUEUED": BatchStatus.VALIDATING,
    "JOB_STATE_PENDING": BatchStatus.VALIDATING,
    "JOB_STATE_RUNNING": BatchStatus.IN_PROGRESS,
    "JOB_STATE_UPDATING": BatchStatus.IN_PROGRESS,
    "JOB_STATE_PAUSED": BatchStatus.IN_PROGRESS,
    "JOB_STATE_SUCCEEDED": BatchStatus.COMPLETED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": BatchStatus.COMPLETED,
    "JOB_STATE_FAILED": BatchStatus.FAILED,
    "JOB_STATE_CANCELLING": BatchStatus.CANCELLING,
    "JOB_STATE_CANCELLED": BatchStatus.CANCELLED,
    "JOB_STATE_EXPIRED": BatchStatus.EXPIRED,
}

#: Uploads above this size go resumable, in chunks of this size (a multiple of 256 KiB).
UPLOAD_CHUNK = 8 * 1024 * 1024
#: Result files are streamed in blocks of this size; memory holds one block plus one line.
READ_BLOCK = 8 * 1024 * 1024
#: Vertex rejects longer display names; metadata that does not fit is refused before upload.
DISPLAY_NAME_MAX = 128
#: Display names of batchline's jobs start with this, followed by the URL-encoded metadata.
DISPLAY_PREFIX = "batchline"
#: Folder of the bucket batchline writes under.
GCS_ROOT = "batchline"
#: Milliseconds google-genai waits for Vertex before giving up (its default is no timeout).
HTTP_TIMEOUT_MS = 120_000
#: The OAuth scope Vertex AI and Cloud Storage both accept.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

_JOB_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/batchPredictionJobs/[^/]+$")
_LABEL_INVALID = re.compile(r"[^a-z0-9_-]")


class GoogleProvider(Provider):
    """Vertex AI batch prediction through google-genai, with input and output in GCS."""

    name: ClassVar[str] = PROVIDER
    limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=200_000, max_bytes=1024**3)
    credential_env: ClassVar[str] = "GOOGLE_APPLICATION_CREDENTIALS"

    def __init__(self, model: str, settings: Settings, **options: Any) -> None:
        if options:
            raise InvalidRequestError(f"unknown option(s) for google: {', '.join(sorted(options))}")
        super().__init__(model, settings, **options)

    # -- offline ---------------------------------------------------------------------------------
    def line_encoder(self, response_model: type[BaseModel], options: RequestOptions) -> LineEncoder:
        return build_encoder(gemini_response_schema(response_model), options)

    @classmethod
    def check_request_line(cls, record: dict[str, Any]) -> str:
        """``{"key", "request": {"contents": [...], ...}}``: Vertex's batch input line
        (https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage,
        read 2026-12), with batchline's custom id in ``key``."""
        custom_id: str = line_field(record, "key", str, "a string (the request's custom id)")
        if not custom_id:
            raise InvalidRequestError("'key' is empty")
        request: dict[str, Any] = line_field(record, "request", dict, "an object")
        if not line_field(request, "contents", list, "a list of contents"):
            raise InvalidRequestError("'contents' is empty")
        return custom_id

    def parse_line(self, line: bytes | str) -> LineOutcome:
        return parse_prediction(line)

    def plain_answer(self, record: Any) -> PlainAnswer | None:
        return plain_prediction(record)

    def request_custom_id(self, line: bytes | str) -> str:
        return str(orjson.loads(line)["key"])

    # -- credentials and clients -----------------------------------------------------------------
    def check_credentials(self) -> None:
        self._project()
        self._bucket_name()
        self._credentials  # noqa: B018 - resolving them is the check

    def _project(self) -> str:
        project: str | None = self.settings.google_cloud_project
        if not project:
            raise ConfigurationError(
                "GOOGLE_CLOUD_PROJECT is not set: Vertex AI batch jobs run in a Google Cloud "
                "project; export GOOGLE_CLOUD_PROJECT=your-project-id"
            )
        return project

    def _bucket_name(self) -> str:
        bucket: str | None = self.settings.gcs_bucket
        if not bucket:
            raise ConfigurationError(
                "GCS_BUCKET is not set: Vertex AI reads batch input from and writes results to "
                "Cloud Storage; export GCS_BUCKET=your-bucket-name"
            )
        return bucket

    @cached_property
    def _credentials(self) -> Credentials:
        """A bare access token when one is configured (the sandbox's), else the key file named
        by ``GOOGLE_APPLICATION_CREDENTIALS``, else Application Default Credentials."""
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
        from google.oauth2.credentials import Credentials as TokenCredentials

        token = self.settings.google_access_token
        if token is not None and token.get_secret_value():
            return TokenCredentials(token=token.get_secret_value())
        try:
            if self.settings.google_application_credentials:
                return _credentials_from_file(self.settings.google_application_credentials)
            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        except (DefaultCredentialsError, OSError, ValueError) as exc:
            raise ConfigurationError(
                "no usable Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service "
                f"account key file (roles/aiplatform.user, roles/storage.objectUser) ({exc})"
            ) from exc
        return credentials

    @cached_property
    def _genai(self) -> GenaiClient:
        from google import genai
        from google.genai import types

        http_options = types.HttpOptions(
            base_url=self.settings.google_vertex_base_url or None, timeout=HTTP_TIMEOUT_MS
        )
        return genai.Client(
            vertexai=True,
            project=self._project(),
            location=self.settings.google_cloud_location,
            credentials=self._credentials,
            http_options=http_options,
        )

    @cached_property
    def _storage(self) -> storage.Client:
        """With an emulator configured, the client goes there anonymously: the endpoint comes
        from settings (not from the SDK's own reading of ``STORAGE_EMULATOR_HOST``)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        emulator = self.settings.storage_emulator_host
        if emulator:
            endpoint = emulator if "://" in emulator else f"http://{emulator}"
            return storage.Client(
                project=self._project(),
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": endpoint},
            )
        return storage.Client(project=self._project(), credentials=self._credentials)

    # -- batches ---------------------------------------------------------------------------------
    def submit(self, source: IO[bytes], metadata: dict[str, str] | None) -> BatchInfo:
        """Upload ``source`` to ``gs://{bucket}/batchline/{time}-{uuid}/input.jsonl`` and create
        a job writing below ``.../output``.

        Each submit gets a folder of its own, so the SDK's retries of an upload can only rewrite
        the same bytes, and a large upload is resumable: the object appears only once complete.
        If the create call fails, the uploaded input stays behind (deleting it could break a job
        the server did create before the failure); a bucket lifecycle rule on ``batchline/``
        is the way to clean such leftovers.
        """
        from google.genai import types

        display_name, labels = job_identity(metadata or {})
        bucket_name = self._bucket_name()
        folder = f"{GCS_ROOT}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex}"
        self._upload(source, bucket_name, f"{folder}/input.jsonl")
        config = types.CreateBatchJobConfig(
            display_name=display_name,
            dest=f"gs://{bucket_name}/{folder}/output",
            http_options=types.HttpOptions(extra_body={"labels": labels}) if labels else None,
        )
        with translate_errors():
            job = self._genai.batches.create(
                model=self.model, src=f"gs://{bucket_name}/{folder}/input.jsonl", config=config
            )
        return to_batch_info(job)

    def _upload(self, source: IO[bytes], bucket_name: str, blob_name: str) -> None:
        blob = self._storage.bucket(bucket_name).blob(blob_name, chunk_size=UPLOAD_CHUNK)

        def missing_bucket(message: str) -> BatchlineError:
            return ConfigurationError(
                f"GCS bucket {bucket_name!r} does not exist: check GCS_BUCKET ({message})"
            )

        with translate_errors(not_found=missing_bucket):
            blob.upload_from_file(
                source,
                size=_remaining_size(source),
                content_type="application/jsonl",
            )

    def get(self, batch_id: str) -> BatchInfo:
        return to_batch_info(self._job(batch_id))

    def _job(self, batch_id: str) -> BatchJob:
        with translate_errors():
            return self._genai.batches.get(name=checked_job_name(batch_id))

    def list(self, limit: int = 20) -> list[BatchInfo]:
        return self._list(limit)

    def _list(self, limit: int, label_filter: str | None = None) -> builtins.list[BatchInfo]:
        """Vertex documents no order for its list call, so the page read is sorted here."""
        from google.genai import types

        config = types.ListBatchJobsConfig(page_size=min(max(limit, 1), 100), filter=label_filter)
        with translate_errors():
            jobs = list(itertools.islice(self._genai.batches.list(config=config), limit))
        infos = [to_batch_info(job) for job in jobs]
        infos.sort(
            key=lambda info: info.created_at.timestamp() if info.created_at else 0.0, reverse=True
        )
        return infos

    def cancel(self, batch_id: str) -> BatchInfo:
        with translate_errors():
            self._genai.batches.cancel(name=checked_job_name(batch_id))
        return self.get(batch_id)

    def find_by_metadata(
        self, key: str, value: str, *, limit: int = 100
    ) -> builtins.list[BatchInfo]:
        """Filter on the (sanitised) label server-side, then confirm the exact pair from the
        display name, so a lossy label or a server that ignores the filter cannot mislead."""
        label_filter = f'labels.{label_key(key)}="{label_value(str(value))}"'
        jobs = self._list(limit, label_filter)
        return [info for info in jobs if info.metadata.get(key) == value]

    # -- results ---------------------------------------------------------------------------------
    def iter_result_lines(self, batch_id: str, info: BatchInfo | None = None) -> Iterator[bytes]:
        """Every line of every ``predictions*.jsonl`` in the folder the job reports in
        ``outputInfo.gcsOutputDirectory``; a job that wrote nothing yields nothing."""
        if info is None or info.id != batch_id:
            info = self.get(batch_id)
        for directory in info.result_locations:
            yield from self._folder_lines(directory)

    def _folder_lines(self, directory: str) -> Iterator[bytes]:
        bucket_name, prefix = split_gcs_uri(directory)
        with translate_errors():
            blobs = sorted(
                (
                    blob
                    for blob in self._storage.list_blobs(
                        bucket_name, prefix=prefix.rstrip("/") + "/"
                    )
                    if _is_predictions_file(blob.name)
                ),
                key=lambda blob: str(blob.name),
            )
        for blob in blobs:
            with translate_errors(), blob.open("rb", chunk_size=READ_BLOCK) as reader:
                yield from iter_lines(reader)


def _credentials_from_file(path: str) -> Credentials:
    """Load a key file with the loader for its type, as google-auth advises; other types
    (external accounts) go through its generic loader, which warns about validating them."""
    import google.auth
    from google.oauth2 import credentials as user_credentials
    from google.oauth2 import service_account

    with open(path, "rb") as handle:
        info = orjson.loads(handle.read())
    kind = info.get("type") if isinstance(info, dict) else None
    scopes = [CLOUD_PLATFORM_SCOPE]
    if kind == "service_account":
        loaded: Credentials = service_account.Credentials.from_service_account_info(
            info, scopes=scopes
        )
        return loaded
    if kind == "authorized_user":
        return user_credentials.Credentials.from_authorized_user_info(info, scopes=scopes)
    credentials, _ = google.auth.load_credentials_from_file(path, scopes=scopes)
    return credentials


# -- jobs ----------------------------------------------------------------------------------------
def job_identity(metadata: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The display name (exact metadata, URL-encoded) and the labels (sanitised) of a job."""
    pairs = {str(k): str(v) for k, v in metadata.items()}
    display_name = f"{DISPLAY_PREFIX} {urlencode(pairs)}" if pairs else DISPLAY_PREFIX
    if len(display_name) > DISPLAY_NAME_MAX:
        raise InvalidRequestError(
            f"metadata too long for Vertex AI: it travels in the job's display name, which "
            f"holds {DISPLAY_NAME_MAX} characters ({len(display_name)} needed)"
        )
    labels = {label_key(k): label_value(v) for k, v in pairs.items()}
    return display_name, labels


def metadata_from_display_name(display_name: str | None) -> dict[str, str]:
    if not display_name or not display_name.startswith(DISPLAY_PREFIX + " "):
        return {}
    return dict(parse_qsl(display_name[len(DISPLAY_PREFIX) + 1 :], keep_blank_values=True))


def label_key(key: str) -> str:
    """A Vertex label key: lowercase ``[a-z0-9_-]``, starting with a letter, <= 63 chars."""
    cleaned = _LABEL_INVALID.sub("_", key.lower())
    if not cleaned[:1].isalpha():
        cleaned = "k" + cleaned
    return cleaned[:63]


def label_value(value: str) -> str:
    """A Vertex label value: lowercase ``[a-z0-9_-]``, <= 63 chars."""
    return _LABEL_INVALID.sub("_", value.lower())[:63]


def checked_job_name(batch_id: str) -> str:
    """The SDK raises a bare ``ValueError`` for a name of the wrong shape; no batch can have one."""
    if not _JOB_NAME.match(batch_id):
        raise BatchNotFoundError(
            f"{batch_id!r} is not a Vertex AI batch job name "
            "(projects/{p}/locations/{l}/batchPredictionJobs/{id})",
            provider=PROVIDER,
        )
    return batch_id


def to_batch_info(job: BatchJob) -> BatchInfo:
    state = job.state.value if job.state is not None else "JOB_STATE_UNSPECIFIED"
    status = STATUS_MAP.get(state, BatchStatus.IN_PROGRESS)
    stats = job.completion_stats
    directory = job.output_info.gcs_output_directory if job.output_info else None
    counts = RequestCounts()
    if stats is not None:
        counts.completed = max(stats.successful_count or 0, 0)
        counts.failed = max(stats.failed_count or 0, 0)
        counts.pending = max(stats.incomplete_count or 0, 0)
        counts.total = counts.completed + counts.failed + counts.pending
    return BatchInfo(
        id=job.name or "",
        provider=PROVIDER,
        status=status,
        provider_status=state,
        request_counts=counts,
        created_at=job.create_time,
        completed_at=job.end_time if status.is_terminal else None,
        metadata=metadata_from_display_name(job.display_name),
        error=(job.error.message or str(job.error.code)) if job.error else None,
        result_locations=(directory,) if directory else (),
        raw=job.model_dump(mode="json", exclude_none=True),
    )


# -- Cloud Storage -------------------------------------------------------------------------------
def split_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not uri.startswith("gs://"):
        raise BatchlineError(f"expected a gs:// URI from Vertex AI, got {uri!r}")
    bucket, _, path = uri[5:].partition("/")
    return bucket, path


def _is_predictions_file(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.startswith("predictions") and base.endswith(".jsonl")


def iter_lines(reader: IO[bytes] | io.BufferedIOBase, block: int = READ_BLOCK) -> Iterator[bytes]:
    """Non-blank lines of a binary stream, read in blocks (``BlobReader`` has no fast
    ``readline``: the ``io`` default would call ``read(1)`` per byte)."""
    tail = b""
    read: Callable[[int], bytes] = reader.read
    while chunk := read(block):
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        yield from (line for line in lines if line.strip())
    if tail.strip():
        yield tail


def _remaining_size(source: IO[bytes]) -> int | None:
    """Bytes left in a seekable source (multipart upload when small), else ``None``."""
    try:
        start = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(start)
    except (OSError, ValueError, AttributeError):
        return None
    return end - start


# -- errors --------------------------------------------------------------------------------------
@contextmanager
def translate_errors(
    not_found: Callable[[str], BatchlineError] | None = None,
) -> Iterator[None]:
    """google-genai, google-api-core, google-auth, httpx and requests errors -> batchline's.

    ``not_found`` builds the error for a 404 when the missing thing is not a batch (a bucket
    is a configuration problem).
    """
    import requests
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions
    from google.genai import errors as genai_errors

    transport_errors: tuple[type[BaseException], ...] = (
        auth_exceptions.TransportError,
        *_http_transport_errors(),
    )
    try:
        yield
    except genai_errors.APIError as exc:
        message = exc.message or str(exc)
        if exc.code == 404 and not_found is not None:
            raise not_found(message) from exc
        raise error_for_status(exc.code, message, provider=PROVIDER, code=exc.status) from exc
    except api_exceptions.GoogleAPICallError as exc:
        code = exc.code if isinstance(exc.code, int) else None
        if code == 404 and not_found is not None:
            raise not_found(exc.message) from exc
        raise error_for_status(code, exc.message, provider=PROVIDER, code=exc.reason) from exc
    except auth_exceptions.RefreshError as exc:
        raise error_for_status(401, str(exc), provider=PROVIDER) from exc
    except transport_errors as exc:
        raise error_for_status(None, str(exc) or type(exc).__name__, provider=PROVIDER) from exc
    except requests.RequestException as exc:
        raise error_for_status(None, str(exc) or type(exc).__name__, provider=PROVIDER) from exc


def _http_transport_errors() -> tuple[type[Exception], ...]:
    """google-genai sends through httpx, or through its fork httpx2 when that is installed."""
    import httpx

    errors: list[type[Exception]] = [httpx.TransportError]
    try:
        import httpx2
    except ImportError:
        return tuple(errors)
    errors.append(httpx2.TransportError)
    return tuple(errors)
