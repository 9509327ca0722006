"""OpenAI's Files API, as far as batches use it: upload an input, list, read, fetch, delete.

An upload streams to disk (``multipart``) and is kept there; the app's own output and error
files are added to the same store by ``results``.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from batchline.sandbox.ids import random_token
from batchline.sandbox.openai.errors import error
from batchline.sandbox.openai.multipart import MultipartReader
from batchline.sandbox.openai.records import FILE_LIFETIME, Store, StoredFile
from batchline.sandbox.wire import Refused


class FilesApi:
    """The ``/v1/files`` routes over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def upload(self, request: Request) -> Response:
        match = re.search(r"boundary=\"?([^\";]+)\"?", request.headers.get("content-type", ""))
        if match is None:
            return error(400, "The request must be multipart/form-data.")
        spool = self.store.spool
        file_id = f"file-{random_token(22)}"
        reader = MultipartReader(match.group(1).encode("latin-1"), spool.path(file_id))
        try:
            async for chunk in request.stream():
                reader.feed(chunk)
        finally:
            reader.close()
        try:
            _check_upload(reader)
        except Refused:
            spool.path(file_id).unlink(missing_ok=True)
            raise
        now = int(self.store.ctx.now())
        asked = reader.fields.get("expires_after[seconds]", "")
        lifetime = int(asked) if asked.isdigit() else FILE_LIFETIME
        stored = StoredFile(
            id=file_id,
            filename=reader.filename or "",
            purpose="batch",
            path=spool.path(file_id),
            size=reader.size,
            created_at=now,
            expires_at=now + lifetime,
        )
        self.store.files.add(stored.id, stored)
        return JSONResponse(stored.as_json())

    async def list(self, request: Request) -> Response:
        """Every stored file, newest first, in one page (tests ask what was uploaded)."""
        purpose = request.query_params.get("purpose")
        files = [f.as_json() for f in self.store.files.newest_first()]
        data = [f for f in files if purpose is None or f["purpose"] == purpose]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": False,
            }
        )

    async def get(self, request: Request) -> Response:
        return JSONResponse(self._find(request).as_json())

    async def content(self, request: Request) -> Response:
        return FileResponse(self._find(request).path, media_type="application/octet-stream")

    async def delete(self, request: Request) -> Response:
        stored = self._find(request)
        self.store.files.pop(stored.id)
        stored.path.unlink(missing_ok=True)
        return JSONResponse({"id": stored.id, "object": "file", "deleted": True})

    def _find(self, request: Request) -> StoredFile:
        return self.store.files.find(request.path_params["file_id"])


def _check_upload(reader: MultipartReader) -> None:
    """Refuse an upload that is not a whole ``.jsonl`` file with purpose ``batch``."""
    if not reader.done:
        raise Refused(error(400, "The multipart body ended before its closing boundary."))
    purpose = reader.fields.get("purpose")
    if purpose is None:
        raise Refused(error(400, "Missing required parameter: 'purpose'.", param="purpose"))
    if purpose != "batch":
        message = f"The sandbox stores batch input files only, not purpose '{purpose}'."
        raise Refused(error(400, message, param="purpose"))
    if reader.filename is None:
        raise Refused(error(400, "Missing required parameter: 'file'.", param="file"))
    if not reader.filename.endswith(".jsonl"):
        message = "Invalid file format for Batch API. Must be .jsonl"
        raise Refused(error(400, message, param="file"))
