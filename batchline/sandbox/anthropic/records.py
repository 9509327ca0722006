"""What the Anthropic app keeps: message batches, and the store that holds them."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.responses import Response

from batchline.sandbox.anthropic.errors import error
from batchline.sandbox.context import SandboxContext
from batchline.sandbox.fake_model import FakeModel
from batchline.sandbox.lifecycle import Job
from batchline.sandbox.registry import Registry
from batchline.sandbox.spool import Spool


@dataclass(frozen=True)
class Limits:
    """Anthropic's per-batch limits, as the app's module constants hold them at the create call."""

    max_requests: int
    max_body_bytes: int


@dataclass
class MessageBatch:
    """One message batch: its timeline, where its spooled requests are, and its result counts."""

    id: str
    job: Job
    model_source: FakeModel
    spans: array[int]  # start, end of each request's line in the spool file
    order: array[int]  # result order, as line numbers
    requests_path: Path  # one {"custom_id", "params"} line per request
    results_path: Path
    counts: dict[str, int] = field(default_factory=dict)


class Store:
    """The message batches of one Anthropic app, and the folder their requests and results
    live in. ``limits()`` gives the limits as they stand at each call, so a test can lower them.
    """

    def __init__(self, ctx: SandboxContext, limits: Callable[[], Limits]) -> None:
        self.ctx = ctx
        self.limits = limits
        self.spool = Spool("anthropic")
        self.batches: Registry[MessageBatch] = Registry(_not_found, ctx.lock)


def _not_found(batch_id: str) -> Response:
    return error(404, "not_found_error", f"Message Batch {batch_id} not found.")
