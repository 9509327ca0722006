"""Completion callbacks: a Celery task, a registered function, or a signed HTTP webhook.

Each callback of a job runs as its own ``batchline.run_callback`` task, so one that fails (and
is retried with exponential backoff) never holds up the others. A per-callback marker makes a
callback fire once per job even when completion is delivered twice: the first task to
``SET ... NX`` the marker owns the callback; any other task for it stands down. Only a worker
dying *inside* a callback makes the owner's redelivered task fire it again, which is why every
webhook carries an ``X-Batchline-Delivery`` id receivers can deduplicate on.

Webhooks are signed like Stripe's: ``X-Batchline-Signature: sha256=<hex>`` is HMAC-SHA256 with
``BATCHLINE_WEBHOOK_SECRET`` over ``f"{timestamp}.".encode() + body``, and
``X-Batchline-Timestamp`` carries that timestamp, so a captured request cannot be replayed
later with a fresh timestamp. ``verify_signature`` checks both.

What a callback *is* (``CallbackSpec``, ``@on_batch_complete``) lives in ``callbackspec``, below
the job record; this module fires them, above the job API, since a function callback is handed
a ``JobHandle``. Its bookkeeping in Redis is ``stores.callbacks``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from enum import StrEnum
from typing import Any

import httpx
import orjson

from batchline.batching.results import ErrorType
from batchline.errors import CallbackError, ConfigurationError, PermanentCallbackError
from batchline.workers.api import JobHandle
from batchline.workers.callbackspec import (
    CallbackKind,
    CallbackSpec,
    CallbackState,
    CallbackStatus,
    as_spec,
    function,
    on_batch_complete,
    resolve_function,
    task,
    webhook,
)
from batchline.workers.jobs import Job, JobState
from batchline.workers.runtime import Runtime
from batchline.workers.tasknames import RUN_CALLBACK

__all__ = [
    "CallbackKind",
    "CallbackSpec",
    "FireResult",
    "as_spec",
    "dispatch",
    "fire",
    "function",
    "on_batch_complete",
    "post_webhook",
    "sign",
    "task",
    "verify_signature",
    "webhook",
]

logger = logging.getLogger("batchline.workers")

SIGNATURE_HEADER = "X-Batchline-Signature"
TIMESTAMP_HEADER = "X-Batchline-Timestamp"
DELIVERY_HEADER = "X-Batchline-Delivery"
EVENT_HEADER = "X-Batchline-Event"
#: The event name of a finished job, in the webhook body and header.
EVENT_JOB_FINISHED = "batchline.job.finished"
#: Seconds a webhook signature stays acceptable (clock skew plus delivery delay).
DEFAULT_TOLERANCE = 300


# -- signatures ---------------------------------------------------------------------------------
def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Batchline-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | int | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``signature`` is batchline's signature of ``body`` at ``timestamp`` and the
    timestamp is within ``tolerance`` seconds of now. Use the raw request body, not re-encoded
    JSON: any byte of difference fails the check, as it should."""
    if not signature or timestamp is None:
        return False
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, sent_at), signature)


# -- firing -------------------------------------------------------------------------------------
class FireResult(StrEnum):
    DONE = "done"
    RETRY = "retry"
    FAILED = "failed"
    #: Another task owns this callback, or it already ended.
    SKIPPED = "skipped"


def dispatch(rt: Runtime, job: Job) -> None:
    """Send one ``run_callback`` task per callback that has not ended; finish the job when
    there is nothing (left) to run."""
    finished = rt.callbacks.finished(job.id)
    for index in range(len(job.callbacks)):
        if index not in finished:
            rt.send(RUN_CALLBACK, job.id, index)
    if len(finished) >= len(job.callbacks):
        rt.store.transition(job, JobState.CALLBACKS_DONE)


def fire(
    rt: Runtime, job_id: str, index: int, *, owner: str, attempt: int
) -> tuple[FireResult, str]:
    """Run callback ``index`` of a job once; return what happened and the error, if any."""
    mine = f"running:{owner}"
    if not rt.callbacks.take(job_id, index, mine):
        current = rt.callbacks.marker(job_id, index)
        if current.startswith(("done:", "failed:")):
            _finish(rt, job_id, index)  # in case its task died between marker and bookkeeping
            return FireResult.SKIPPED, ""
        if current != mine:
            return FireResult.SKIPPED, ""  # another task owns this callback
    job = rt.store.load(job_id)
    spec = job.callbacks[index]
    _record(rt, job_id, index, spec, CallbackState.RUNNING, attempt + 1)
    try:
        _invoke(rt, job, spec, index)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        local = isinstance(exc, ConfigurationError)  # e.g. its module does not import here
        give_up = (
            local
            or isinstance(exc, PermanentCallbackError)
            or (attempt + 1 >= rt.settings.callback_max_retries)
        )
        state = CallbackState.FAILED if give_up else CallbackState.RETRYING
        kind = ErrorType.CONFIGURATION_ERROR.value if local else ""
        _record(rt, job_id, index, spec, state, attempt + 1, message, error_type=kind)
        rt.store.record_error(job_id, f"callback {spec.label} failed: {message}")
        logger.warning(
            "job=%s callback=%s attempt=%d failed%s: %s",
            job_id,
            spec.label,
            attempt + 1,
            "" if give_up else " (will retry)",
            message,
        )
        if not give_up:
            return FireResult.RETRY, message
        rt.callbacks.mark(job_id, index, f"failed:{time.time()!r}")
        _finish(rt, job_id, index)
        return FireResult.FAILED, message
    rt.callbacks.mark(job_id, index, f"done:{time.time()!r}")
    _record(rt, job_id, index, spec, CallbackState.DONE, attempt + 1)
    _finish(rt, job_id, index)
    return FireResult.DONE, ""


def _invoke(rt: Runtime, job: Job, spec: CallbackSpec, index: int) -> None:
    handle: JobHandle[Any] = JobHandle(job.id, rt.app)
    if spec.kind is CallbackKind.FUNCTION:
        resolve_function(spec.target)(handle)
    elif spec.kind is CallbackKind.TASK:
        if rt.app is None:
            raise PermanentCallbackError("no Celery app to send the callback task with")
        summary = handle.summary().to_dict()
        rt.app.send_task(spec.target, args=[job.id, summary], queue=spec.queue)
    else:
        post_webhook(rt, spec.target, handle.summary().to_dict(), delivery=f"{job.id}:{index}")


def post_webhook(rt: Runtime, url: str, summary: dict[str, Any], *, delivery: str) -> None:
    """POST the signed summary; 2xx is success, 408/429/5xx and network errors are retried."""
    secret = rt.settings.webhook_secret
    if secret is None:
        raise PermanentCallbackError(
            "BATCHLINE_WEBHOOK_SECRET is not set in the worker: webhooks are only sent signed"
        )
    body = orjson.dumps({"event": EVENT_JOB_FINISHED, "delivery": delivery, "job": summary})
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "batchline-webhook/1",
        SIGNATURE_HEADER: sign(secret.get_secret_value(), body, timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: delivery,
        EVENT_HEADER: EVENT_JOB_FINISHED,
    }
    try:
        response = httpx.post(
            url, content=body, headers=headers, timeout=rt.settings.webhook_timeout
        )
    except httpx.HTTPError as exc:
        raise CallbackError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
    if response.is_success:
        return
    message = f"POST {url} answered HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise CallbackError(message)
    raise PermanentCallbackError(message)


def _record(
    rt: Runtime,
    job_id: str,
    index: int,
    spec: CallbackSpec,
    state: CallbackState,
    attempts: int,
    error: str = "",
    *,
    error_type: str = "",
) -> None:
    """``error_type`` is ``configuration_error`` for a callback that failed on this side
    (``JobHandle.wait`` raises for those), "" otherwise."""
    status = CallbackStatus.of(spec, state, attempts, error, time.time(), error_type=error_type)
    rt.callbacks.record(job_id, index, status)


def _finish(rt: Runtime, job_id: str, index: int) -> None:
    ended = rt.callbacks.finish(job_id, index)
    job = rt.store.load(job_id)
    if ended >= len(job.callbacks):
        rt.callbacks.expire(job_id, len(job.callbacks), rt.settings.results_ttl)
        rt.store.transition(job, JobState.CALLBACKS_DONE)
