"""What the OpenAI app keeps: uploaded and written files, batches, and the store that holds both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.responses import Response

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.fake_model import FakeModel
from batchline.sandbox.ids import random_hex
from batchline.sandbox.lifecycle import Job
from batchline.sandbox.openai.errors import error
from batchline.sandbox.openai.validation import Limits, Plan
from batchline.sandbox.registry import Registry
from batchline.sandbox.spool import Spool

#: Uploaded batch files are kept 30 days unless the upload asks otherwise; so are outputs.
FILE_LIFETIME = 30 * 24 * 3600


def openai_id(prefix: str, now: float, random_part: int = 24) -> str:
    """OpenAI's batch ids start with the creation time in hex (``batch_6920b256...``)."""
    return f"{prefix}{int(now):08x}{random_hex(random_part)}"


@dataclass
class StoredFile:
    """A file of the Files API: an uploaded input, or a batch's output or error file."""

    id: str
    filename: str
    purpose: str
    path: Path
    size: int
    created_at: int
    expires_at: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": self.size,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class Batch:
    """One batch: its timeline, what validation planned, and what its run produced."""

    id: str
    job: Job
    model_source: FakeModel
    input_file_id: str
    input_path: Path  # a hard link of the input, so deleting the file does not starve the batch
    metadata: dict[str, str] | None
    plan: Plan
    #: The endpoint every line of the batch calls (``/v1/chat/completions`` or ``/v1/responses``).
    endpoint: str = "/v1/chat/completions"
    output_file_id: str | None = None
    error_file_id: str | None = None
    done_counts: tuple[int, int] = (0, 0)
    tokens: tuple[int, int] = (0, 0)


class Store:
    """The files and batches of one OpenAI app, and the folder their bytes live in.

    ``limits()`` gives the limits as they stand at each call, so a test can lower them.
    """

    def __init__(self, ctx: SandboxContext, limits: Callable[[], Limits]) -> None:
        self.ctx = ctx
        self.limits = limits
        self.spool = Spool("openai")
        self.files: Registry[StoredFile] = Registry(_no_such_file, ctx.lock)
        self.batches: Registry[Batch] = Registry(_no_such_batch, ctx.lock)


def _no_such_file(file_id: str) -> Response:
    return error(404, f"No such File object: {file_id}", param="id")


def _no_such_batch(batch_id: str) -> Response:
    return error(404, f"No batch found with id '{batch_id}'.")
