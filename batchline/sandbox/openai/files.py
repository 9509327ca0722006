"""OpenAI's Files API, as far as batches use it: upload an input, list, read, fetch, delete.

An upload streams to disk (``multipart``) and is kept there; the app's own output and error
files are added to the same store by ``results``.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from batchline.sandbox.ids import random_token
from batchline.sandbox.openai.errors import error
from batchline.sandbox.openai.multipart import MultipartReader
from batchline.sandbox.openai.records import FILE_LIFETIME, Store, StoredFile
from batchline.sandbox.spool import json_object
from batchline.sandbox.wire import Refused, page_after, page_ends, page_limit

#: The Files API's largest ``limit`` on a list call, which is also its default.
MAX_LIST = 10_000
#: How far into a file not named ``.jsonl`` the upload check looks for a first JSON line.
FIRST_LINE_LIMIT = 1024 * 1024


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
            _check_upload(reader, spool.path(file_id))
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
        """``GET /v1/files``: newest first, ``purpose``-filtered, paged with ``after``/``limit``.

        Pages as https://platform.openai.com/docs/api-reference/files/list says (2026-12):
        ``limit`` 1 to 10,000, default 10,000, ``order`` ``desc`` by default.
        """
        limit = page_limit(request.query_params, MAX_LIST, default=MAX_LIST)
        if limit is None:
            message = f"Invalid 'limit': must be between 1 and {MAX_LIST}."
            return error(400, message, param="limit")
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            message = "Invalid value for 'order': supported values are: 'asc' and 'desc'."
            return error(400, message, param="order", code="invalid_value")
        purpose = request.query_params.get("purpose")
        files = self.store.files.newest_first()
        if order == "asc":
            files.reverse()
        if purpose:
            files = [stored for stored in files if stored.purpose == purpose]
        page, has_more = page_after(files, request.query_params.get("after"), limit)
        data = [stored.as_json() for stored in page]
        return JSONResponse(
            {"object": "list", "data": data, **page_ends(data), "has_more": has_more}
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


def _check_upload(reader: MultipartReader, path: Path) -> None:
    """Refuse an upload that is not a whole JSONL file with purpose ``batch``.

    The name alone does not decide: the SDK names a ``BytesIO`` upload ``upload``, and
    api.openai.com stores it (a recording in bespokelabsai/curator's tests, 2025-01-10,
    ``"filename": "upload", "status": "processed"``). What it refuses is content that is not
    JSONL under another name, such as a ``.txt`` of plain text (BerriAI/litellm#37527). A
    ``.jsonl`` name is taken at its word here; its lines are checked when a batch starts.
    """
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
    if not reader.filename.endswith(".jsonl") and not _starts_as_jsonl(path):
        message = "Invalid file format for Batch API. Must be .jsonl"
        raise Refused(error(400, message, param="file"))


def _starts_as_jsonl(path: Path) -> bool:
    """Whether the file's first non-blank line is a JSON object (reading at most 1 MB of it).

    Only the start is read, so a 200 MB upload is not parsed twice; a bad line further down
    fails the batch at validation, as a bad line of a ``.jsonl`` file does.
    """
    with path.open("rb") as stream:
        for raw in stream:
            if raw.strip():
                return len(raw) <= FIRST_LINE_LIMIT and json_object(raw) is not None
            if stream.tell() > FIRST_LINE_LIMIT:
                break
    return False
