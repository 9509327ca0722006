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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, ClassVar

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
)
from batchline.batching.providers.clients import shared_client
from batchline.batching.providers.google_jobs import (
    JOB_NAME,
    PROVIDER,
    STATUS_MAP,
    checked_job_name,
    job_identity,
    label_key,
    label_value,
    to_batch_info,
)
from batchline.batching.providers.google_requests import GEMINI_RESERVED_EXTRA, build_encoder
from batchline.batching.providers.google_results import parse_prediction, plain_prediction
from batchline.batching.request_lines import line_field
from batchline.batching.schema import gemini_response_schema
from batchline.batching.status import BatchStatus
from batchline.errors import (
    BatchlineError,
    ConfigurationError,
    InvalidRequestError,
    ProviderResponseError,
    error_for_status,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import storage  # type: ignore[import-untyped]
    from google.genai import Client as GenaiClient
    from google.genai.types import BatchJob

#: Uploads above this size go resumable, in chunks of this size (a multiple of 256 KiB).
UPLOAD_CHUNK = 8 * 1024 * 1024
#: Result files are streamed in blocks of this size; memory holds one block plus one line.
READ_BLOCK = 8 * 1024 * 1024
#: Folder of the bucket batchline writes under.
GCS_ROOT = "batchline"
#: Milliseconds google-genai waits for Vertex before giving up (its default is no timeout).
HTTP_TIMEOUT_MS = 120_000
#: The OAuth scope Vertex AI and Cloud Storage both accept.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class GoogleProvider(Provider):
    """Vertex AI batch prediction through google-genai, with input and output in GCS."""

    name: ClassVar[str] = PROVIDER
    # Rate: 60 job (and long-running operation) requests per minute per region
    # (https://cloud.google.com/vertex-ai/docs/quotas, looked up 2026-12-02).
    limits: ClassVar[ProviderLimits] = ProviderLimits(
        max_requests=200_000, max_bytes=1024**3, calls_per_second=1.0, submit_calls=2
    )
    #: The key file (``GOOGLE_APPLICATION_CREDENTIALS``) is optional: Application Default
    #: Credentials stand in for it, so only the project and the bucket are required.
    required_settings: ClassVar[tuple[RequiredSetting, ...]] = (
        RequiredSetting("google_cloud_project", "GOOGLE_CLOUD_PROJECT"),
        RequiredSetting("gcs_bucket", "GCS_BUCKET"),
    )
    batch_id_pattern: ClassVar[re.Pattern[str]] = JOB_NAME
    statuses: ClassVar[Mapping[str, BatchStatus]] = STATUS_MAP
    example_model: ClassVar[str] = "gemini-2.5-flash"
    #: Largest ``pageSize`` Vertex serves for ``batchPredictionJobs``.
    list_page_size: ClassVar[int] = 100
    reserved_extra: ClassVar[frozenset[str]] = GEMINI_RESERVED_EXTRA

    # -- offline ---------------------------------------------------------------------------------
    def build_encoder(
        self, response_model: type[BaseModel], options: RequestOptions
    ) -> LineEncoder:
        return build_encoder(
            gemini_response_schema(response_model), options, self.custom_id_pattern
        )

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
        """The required settings, then the credentials themselves (a key file must load)."""
        super().check_credentials()
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

    def _account_key(self) -> tuple[Any, ...]:
        """Every setting the clients are built from: one pair of clients per account."""
        settings = self.settings
        token = settings.google_access_token
        return (
            PROVIDER,
            settings.google_cloud_project,
            settings.google_cloud_location,
            settings.google_vertex_base_url,
            settings.storage_emulator_host,
            settings.google_application_credentials,
            token.get_secret_value() if token is not None else None,
        )

    @property
    def _genai(self) -> GenaiClient:
        """The account's Vertex client, shared in the process."""
        return shared_client((*self._account_key(), "genai"), self._build_genai)

    def _build_genai(self) -> GenaiClient:
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

    @property
    def _storage(self) -> storage.Client:
        """The account's Cloud Storage client, shared in the process."""
        return shared_client((*self._account_key(), "storage"), self._build_storage)

    def _build_storage(self) -> storage.Client:
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

        if not self.model:
            raise InvalidRequestError(
                "a Vertex AI batch job needs a model: build the provider "
                "with one (for_account providers cannot submit)"
            )
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

        page_size = min(max(limit, 1), self.list_page_size)
        config = types.ListBatchJobsConfig(page_size=page_size, filter=label_filter)
        with translate_errors():
            jobs = list(itertools.islice(self._genai.batches.list(config=config), limit))
        infos = [to_batch_info(job) for job in jobs]
        infos.sort(
            key=lambda info: info.created_at.timestamp() if info.created_at else 0.0, reverse=True
        )
        return infos

    def request_cancel(self, batch_id: str) -> BatchInfo:
        with translate_errors():
            self._genai.batches.cancel(name=checked_job_name(batch_id))
        return self.get(batch_id)

    def find_marked(self, mark: BatchMark, *, limit: int = 100) -> OwnBatches:
        """Vertex keeps the mark's pairs in the job's display name and labels."""
        return self.matching_metadata(mark, limit=limit)

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


# -- Cloud Storage -------------------------------------------------------------------------------
def split_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not uri.startswith("gs://"):
        raise ProviderResponseError(
            f"expected a gs:// URI from Vertex AI, got {uri!r}", provider="google"
        )
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
