"""Cloud Storage as a job uses it: input files read streaming, predictions.jsonl written once.

Input and output live in the emulator, reached with the official ``google-cloud-storage``
client, so code under test finds a job's output the real way (``outputInfo.gcsOutputDirectory``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import orjson
from google.api_core import exceptions as gcs_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[import-untyped]

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.google.errors import RPC_INVALID_ARGUMENT, RPC_NOT_FOUND, BadRequest
from batchline.sandbox.google.schema_check import import_problem
from batchline.sandbox.spool import json_object
from batchline.sandbox.wire import rfc3339

if TYPE_CHECKING:
    from batchline.sandbox.google.jobs import JobSpec

#: Requests answered between two output writes; each block is shuffled, so output order is
#: not input order (as on Vertex) while memory stays flat for any input size.
_OUTPUT_BLOCK = 1000
#: Bytes read from Cloud Storage at a time (ranged reads of the input).
_IO_CHUNK = 2 * 1024 * 1024
#: Bytes sent at a time when publishing predictions.jsonl, and how long the upload may take.
_UPLOAD_PIECE = 256 * 1024
_UPLOAD_TIMEOUT = 300.0
#: Bytes of the first input file read at creation to check that it is JSONL at all.
_HEAD_BYTES = 64 * 1024


class StorageClients:
    """A Cloud Storage client per thread: a client's HTTP session is not for sharing."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._local = threading.local()

    def get(self) -> storage.Client:
        client: storage.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = storage.Client(
                project=self.ctx.gcs_project,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": self.ctx.gcs_url},
            )
        return client


def split_gcs_uri(uri: Any, *, bucket_only: bool = False) -> tuple[str, str]:
    """``gs://bucket/path`` as (bucket, path); ``BadRequest`` for anything else."""
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise BadRequest(f"Invalid Cloud Storage URI {uri!r}: it must start with gs://.")
    bucket, _, path = uri.removeprefix("gs://").partition("/")
    if not bucket or not (path or bucket_only):
        raise BadRequest(f"Invalid Cloud Storage URI {uri!r}: it names no object.")
    return bucket, path


def input_problem(client: storage.Client, spec: JobSpec) -> dict[str, Any] | None:
    """Why the job cannot run, checked at creation as Vertex does before it starts a job."""
    for uri in spec.input_uris:
        bucket, path = split_gcs_uri(uri)
        if not client.bucket(bucket).blob(path).exists():
            return {"code": RPC_NOT_FOUND, "message": f"Input file not found: {uri}."}
    bucket, _ = split_gcs_uri(spec.output_prefix, bucket_only=True)
    if not client.bucket(bucket).exists():
        return {"code": RPC_NOT_FOUND, "message": f"Output bucket not found: gs://{bucket}."}
    bucket, path = split_gcs_uri(spec.input_uris[0])
    try:
        head = client.bucket(bucket).blob(path).download_as_bytes(start=0, end=_HEAD_BYTES - 1)
    except gcs_errors.RequestRangeNotSatisfiable:  # an empty object has no byte 0
        head = b""
    first = next((line for line in head.splitlines() if line.strip()), None)
    if first is None and len(spec.input_uris) == 1:
        message = f"The input {spec.input_uris[0]} holds no requests."
        return {"code": RPC_INVALID_ARGUMENT, "message": message}
    # Judge the first line only when it is whole (a line longer than the head is let through).
    whole = first is not None and (len(first) < len(head) or len(head) < _HEAD_BYTES)
    parsed = json_object(first or b"") if whole else None
    if whole and parsed is None:
        message = f"Invalid JSONL input {spec.input_uris[0]}: line 1 is not a JSON object."
        return {"code": RPC_INVALID_ARGUMENT, "message": message}
    return import_problem(parsed)


def request_lines(client: storage.Client, uris: list[str]) -> Iterator[bytes]:
    """Every non-blank line of every input file, streamed in large ranged reads."""
    for uri in uris:
        bucket, path = split_gcs_uri(uri)
        with client.bucket(bucket).blob(path).open("rb", chunk_size=_IO_CHUNK) as reader:
            rest = b""
            while chunk := reader.read(_IO_CHUNK):
                pieces = (rest + chunk).split(b"\n")
                rest = pieces.pop()
                yield from (piece for piece in pieces if piece.strip())
            if rest.strip():
                yield rest


class PredictionsFile:
    """``{prefix}/prediction-model-{time}/predictions.jsonl``, built a shuffled block at a time.

    Lines are spooled to a local temporary file and published with one streamed simple upload
    at the end. The emulator keeps an object as the bytes of the request that uploaded it, so
    this costs the object's size once; a resumable upload would cost it about three times
    over (it grows the object chunk by chunk, then copies it). Nothing is visible in the
    bucket until the file is whole, and a job that answers nothing makes no folder.
    """

    def __init__(self, spool: IO[bytes], gcs_url: str, prefix: str, created_at: float) -> None:
        self.directory = f"{prefix.rstrip('/')}/prediction-model-{rfc3339(created_at)}"
        self.spool, self.gcs_url = spool, gcs_url
        self.block: list[bytes] = []
        self.blocks_written = 0

    def add(self, prediction: dict[str, Any], seed: int) -> None:
        self.block.append(orjson.dumps(prediction))
        if len(self.block) >= _OUTPUT_BLOCK:
            self._flush(seed)

    def _flush(self, seed: int) -> None:
        if not self.block:
            return
        random.Random(f"{seed}:{self.blocks_written}").shuffle(self.block)
        self.spool.write(b"\n".join(self.block) + b"\n")
        self.block = []
        self.blocks_written += 1

    def publish(self, seed: int) -> str | None:
        """Upload the file; the folder's URI, or None when there was nothing to write."""
        self._flush(seed)
        if not self.blocks_written:
            return None
        spool, size = self.spool, self.spool.tell()
        spool.seek(0)
        bucket, path = split_gcs_uri(f"{self.directory}/predictions.jsonl")
        response = httpx.post(
            f"{self.gcs_url}/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            params={"uploadType": "media", "name": path},
            # Not application/jsonl: the emulator parses any application/json* body as JSON.
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            content=iter(lambda: spool.read(_UPLOAD_PIECE), b""),
            timeout=_UPLOAD_TIMEOUT,
        )
        response.raise_for_status()
        return self.directory
