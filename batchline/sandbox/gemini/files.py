"""The Files API of the Gemini Developer API: resumable uploads, file records, downloads.

The protocol is the one google-genai 3.x speaks (``files.py`` and ``_api_client.upload_file``):
``POST /upload/{v}/files`` with ``X-Goog-Upload-Command: start`` answers an empty body and the
upload URL in ``x-goog-upload-url``; each chunk is a ``POST`` to that URL with
``X-Goog-Upload-Command: upload`` (``upload, finalize`` for the last) and its offset, answered
``x-goog-upload-status: active`` until the last, which is answered ``final`` with
``{"file": {...}}``. The SDK keeps only the path of the upload URL (it puts its own base URL's
host in front), so the URL carries the sandbox's mount path.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.google.errors import google_error
from batchline.sandbox.registry import Registry
from batchline.sandbox.spool import Spool
from batchline.sandbox.wire import Refused, rfc3339

#: Files are kept 48 hours (https://ai.google.dev/gemini-api/docs/files, read 2026-12).
FILE_LIFETIME = 48 * 3600
#: Largest file the Files API stores (same page).
MAX_FILE_BYTES = 2 * 1024**3
_ID_ALPHABET = string.ascii_lowercase + string.digits
_READ_BLOCK = 1024 * 1024


def resource_id(prefix: str = "") -> str:
    """A lowercase id as Google's Files and Batches hand out (``files/abc123``)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


@dataclass
class StoredFile:
    """One file: its bytes on disk and the record the API shows."""

    file_id: str
    path: Path
    display_name: str
    mime_type: str
    created_at: float
    generated: bool = False
    size: int = 0
    sha256: bytes = b""

    @property
    def name(self) -> str:
        return f"files/{self.file_id}"

    def resource(self, base_url: str) -> dict[str, Any]:
        """The File as the REST API spells it (int64 as a string, hash base64)."""
        body: dict[str, Any] = {
            "name": self.name,
            "mimeType": self.mime_type,
            "sizeBytes": str(self.size),
            "createTime": rfc3339(self.created_at),
            "updateTime": rfc3339(self.created_at),
            "expirationTime": rfc3339(self.created_at + FILE_LIFETIME),
            "sha256Hash": base64.b64encode(self.sha256).decode(),
            "uri": f"{base_url}/v1beta/{self.name}",
            "state": "ACTIVE",
            "source": "GENERATED" if self.generated else "UPLOADED",
        }
        if self.display_name:
            body["displayName"] = self.display_name
        if self.generated:
            body["downloadUri"] = f"{base_url}/v1beta/{self.name}:download?alt=media"
        return body

    def lines(self) -> Any:
        """The file's non-blank lines, read one at a time."""
        with self.path.open("rb") as stream:
            for line in stream:
                if line.strip():
                    yield line.rstrip(b"\r\n")


@dataclass
class Upload:
    """A resumable upload under way: where its bytes go and how many have come."""

    upload_id: str
    file: StoredFile
    declared_size: int
    received: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


class FilesApi:
    """Uploads, file records and downloads, kept in the app's spool folder."""

    def __init__(self, ctx: SandboxContext, mount: str) -> None:
        self.ctx = ctx
        self.mount = mount
        self.spool = Spool("gemini")
        self.files: Registry[StoredFile] = Registry(_no_such_file)
        self.uploads: dict[str, Upload] = {}

    @property
    def base_url(self) -> str:
        return f"{self.ctx.base_url}{self.mount}"

    # -- uploads -------------------------------------------------------------------------------
    async def upload(self, request: Request) -> Response:
        """Start an upload (``start``), or take a chunk of one (``upload[, finalize]``)."""
        command = {
            part.strip() for part in request.headers.get("x-goog-upload-command", "").split(",")
        }
        upload_id = request.query_params.get("upload_id")
        if upload_id is None:
            if "start" not in command:
                return google_error(
                    400, "Only resumable uploads are supported (X-Goog-Upload-Command: start)."
                )
            return await self._start(request)
        upload = self.uploads.get(upload_id)
        if upload is None:
            return google_error(404, f"No upload session {upload_id!r}.")
        return await self._chunk(request, upload, "finalize" in command)

    async def _start(self, request: Request) -> Response:
        if request.headers.get("x-goog-upload-protocol") != "resumable":
            return google_error(400, "X-Goog-Upload-Protocol must be 'resumable'.")
        try:
            size = int(request.headers["x-goog-upload-header-content-length"])
        except (KeyError, ValueError):
            return google_error(400, "X-Goog-Upload-Header-Content-Length is required.")
        if size > MAX_FILE_BYTES:
            return google_error(
                400, f"File size {size} exceeds the limit of {MAX_FILE_BYTES} bytes."
            )
        body = await request.body()
        meta = (orjson.loads(body) if body else {}).get("file") or {}
        file_id = resource_id()
        stored = StoredFile(
            file_id=file_id,
            path=self.spool.path(file_id),
            display_name=str(meta.get("displayName") or ""),
            mime_type=str(
                meta.get("mimeType")
                or request.headers.get("x-goog-upload-header-content-type")
                or "application/octet-stream"
            ),
            created_at=time.time(),
        )
        stored.path.touch()
        upload_id = resource_id("upload-")
        self.uploads[upload_id] = Upload(upload_id, stored, size)
        version = request.path_params["version"]
        query = f"upload_id={upload_id}&upload_protocol=resumable"
        url = f"{self.base_url}/upload/{version}/files?{query}"
        return JSONResponse(
            {}, headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"}
        )

    async def _chunk(self, request: Request, upload: Upload, finalize: bool) -> Response:
        try:
            offset = int(request.headers.get("x-goog-upload-offset", ""))
        except ValueError:
            return google_error(400, "X-Goog-Upload-Offset is required.")
        if offset != upload.received:
            return google_error(
                400, f"Offset {offset} does not match the {upload.received} bytes received."
            )
        with upload.file.path.open("ab") as sink:
            async for chunk in request.stream():
                sink.write(chunk)
                upload.digest.update(chunk)
                upload.received += len(chunk)
        if not finalize:
            return Response(headers={"x-goog-upload-status": "active"})
        del self.uploads[upload.upload_id]
        if upload.received != upload.declared_size:
            message = f"Received {upload.received} bytes; {upload.declared_size} were declared."
            return google_error(400, message)
        upload.file.size, upload.file.sha256 = upload.received, upload.digest.digest()
        self.files.add(upload.file.file_id, upload.file)
        body = {"file": upload.file.resource(self.base_url)}
        return JSONResponse(body, headers={"x-goog-upload-status": "final"})

    # -- records and downloads -----------------------------------------------------------------
    def find(self, name: str) -> StoredFile:
        """The file named ``files/{id}``, or ``Refused`` with Google's 404."""
        return self.files.find(name.removeprefix("files/"))

    def add_generated(self, lines: list[bytes], display_name: str) -> StoredFile:
        """A file the service wrote (a batch's responses), downloadable."""
        file_id = resource_id("batch-")
        stored = StoredFile(
            file_id,
            self.spool.path(file_id),
            display_name,
            "application/jsonl",
            time.time(),
            generated=True,
        )
        data = b"".join(line + b"\n" for line in lines)
        stored.path.write_bytes(data)
        stored.size, stored.sha256 = len(data), hashlib.sha256(data).digest()
        self.files.add(file_id, stored)
        return stored

    async def one_file(self, request: Request) -> Response:
        """``GET files/{id}`` (the record), ``GET files/{id}:download?alt=media``, ``DELETE``."""
        file_id, _, verb = request.path_params["file_ref"].partition(":")
        stored = self.files.find(file_id)
        if verb == "download":
            if request.query_params.get("alt") != "media":
                return google_error(400, "Downloads need alt=media.")
            if not stored.generated:
                raise Refused(
                    google_error(
                        400, "Only generated files can be downloaded.", "FAILED_PRECONDITION"
                    )
                )
            return StreamingResponse(_read(stored.path), media_type="application/octet-stream")
        if verb:
            return google_error(404, f"Unknown method {verb!r}.")
        if request.method == "DELETE":
            self.files.pop(file_id)
            return JSONResponse({})
        return JSONResponse(stored.resource(self.base_url))


def _read(path: Path) -> Any:
    with path.open("rb") as stream:
        while block := stream.read(_READ_BLOCK):
            yield block


def _no_such_file(file_id: str) -> Response:
    return google_error(404, f"File {file_id} not found.", "NOT_FOUND")
