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
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import orjson

from batchline.batching.results import ErrorType
from batchline.errors import BatchlineError, ConfigurationError, InvalidRequestError
from batchline.workers.jobs import Job, JobState

if TYPE_CHECKING:
    from batchline.workers.api import JobHandle
    from batchline.workers.runtime import Runtime

logger = logging.getLogger("batchline.workers")

SIGNATURE_HEADER = "X-Batchline-Signature"
TIMESTAMP_HEADER = "X-Batchline-Timestamp"
DELIVERY_HEADER = "X-Batchline-Delivery"
EVENT_HEADER = "X-Batchline-Event"
#: The event name of a finished job, in the webhook body and header.
EVENT_JOB_FINISHED = "batchline.job.finished"
#: Seconds a webhook signature stays acceptable (clock skew plus delivery delay).
DEFAULT_TOLERANCE = 300

F = TypeVar("F", bound=Callable[..., Any])


class CallbackKind(StrEnum):
    TASK = "task"
    FUNCTION = "function"
    WEBHOOK = "webhook"


class CallbackError(BatchlineError):
    """A callback failed; it will be retried."""


class PermanentCallbackError(CallbackError):
    """A callback failed in a way retrying cannot fix (no secret, a 4xx, not registered)."""


@dataclass(frozen=True, slots=True)
class CallbackSpec:
    """What to call when a job finishes. Stored in the job record, so no secrets in here."""

    kind: CallbackKind
    #: Celery task name, ``module:function`` import path, or webhook URL.
    target: str
    #: Queue for a Celery task callback (None = the app's routing).
    queue: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind.value}:{self.target}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "target": self.target, "queue": self.queue}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallbackSpec:
        return cls(CallbackKind(data["kind"]), str(data["target"]), data.get("queue"))


def task(name: str, *, queue: str | None = None) -> CallbackSpec:
    """Send Celery task ``name`` with ``(job_id, summary)`` when the job finishes."""
    return CallbackSpec(CallbackKind.TASK, name, queue)


def webhook(url: str) -> CallbackSpec:
    """POST the job summary, signed, to ``url`` when the job finishes."""
    if not url.startswith(("http://", "https://")):
        raise InvalidRequestError(f"a webhook URL must start with http:// or https://, got {url!r}")
    return CallbackSpec(CallbackKind.WEBHOOK, url)


def function(target: Callable[..., Any] | str) -> CallbackSpec:
    """Call a function registered with ``@on_batch_complete`` (or its import path)."""
    path = target if isinstance(target, str) else _registered_path(target)
    return CallbackSpec(CallbackKind.FUNCTION, path)


def as_spec(value: CallbackSpec | Callable[..., Any] | str) -> CallbackSpec:
    """Accept a spec, a decorated function, a webhook URL, or a Celery task name."""
    if isinstance(value, CallbackSpec):
        return value
    if callable(value):
        return function(value)
    if isinstance(value, str) and "://" in value:
        return webhook(value)  # http(s) only: anything else is refused there
    if isinstance(value, str) and value:
        return task(value)
    raise InvalidRequestError(f"not a callback: {value!r}")


# -- registered functions -----------------------------------------------------------------------
_REGISTRY: dict[str, Callable[[JobHandle[Any]], Any]] = {}


def on_batch_complete(func: F) -> F:
    """Register ``func(job: JobHandle)`` as a completion callback.

    It is registered under its import path (``module:qualname``), which is how workers find
    it: define it at module level in a module the workers can import. Only decorated
    functions can be called this way, so a job record cannot make a worker call anything else.
    """
    from batchline.errors import ResponseModelError

    qualname = getattr(func, "__qualname__", "")
    module = getattr(func, "__module__", "")
    if "<locals>" in qualname or module in ("__main__", "__mp_main__"):
        raise ResponseModelError(
            f"{module}.{qualname}: a completion callback must be defined at module level in an "
            "importable module, so that workers can import it"
        )
    path = f"{module}:{qualname}"
    _REGISTRY[path] = func
    func.__batchline_callback__ = path  # type: ignore[attr-defined]
    return func


def _registered_path(func: Callable[..., Any]) -> str:
    path = getattr(func, "__batchline_callback__", None)
    if not isinstance(path, str):
        raise InvalidRequestError(
            f"{func!r} is not a registered callback: decorate it with @on_batch_complete"
        )
    return path


def resolve_function(path: str) -> Callable[[JobHandle[Any]], Any]:
    """Find a registered callback, importing its module first if this process has not."""
    if path not in _REGISTRY:
        import importlib

        from batchline.modelref import unimportable

        try:
            importlib.import_module(path.partition(":")[0])
        except ImportError as exc:
            raise unimportable("callback", path, exc) from None
    try:
        return _REGISTRY[path]
    except KeyError:
        raise PermanentCallbackError(
            f"{path} is not registered with @on_batch_complete in the worker"
        ) from None


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
    finished = rt.redis.smembers(rt.keys.callbacks_finished(job.id))
    for index in range(len(job.callbacks)):
        if str(index) not in finished:
            rt.send("batchline.run_callback", job.id, index)
    if len(finished) >= len(job.callbacks):
        rt.store.transition(job, JobState.CALLBACKS_DONE)


def fire(
    rt: Runtime, job_id: str, index: int, *, owner: str, attempt: int
) -> tuple[FireResult, str]:
    """Run callback ``index`` of a job once; return what happened and the error, if any."""
    marker = rt.keys.callback_marker(job_id, index)
    mine = f"running:{owner}"
    if not rt.redis.set(marker, mine, nx=True):
        current = str(rt.redis.get(marker) or "")
        if current.startswith(("done:", "failed:")):
            _finish(rt, job_id, index)  # in case its task died between marker and bookkeeping
            return FireResult.SKIPPED, ""
        if current != mine:
            return FireResult.SKIPPED, ""  # another task owns this callback
    job = rt.store.load(job_id)
    spec = CallbackSpec.from_dict(job.callbacks[index])
    _record(rt, job_id, index, spec, "running", attempt + 1, "")
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
        state = "failed" if give_up else "retrying"
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
        rt.redis.set(marker, f"failed:{time.time()!r}")
        _finish(rt, job_id, index)
        return FireResult.FAILED, message
    rt.redis.set(marker, f"done:{time.time()!r}")
    _record(rt, job_id, index, spec, "done", attempt + 1, "")
    _finish(rt, job_id, index)
    return FireResult.DONE, ""


def _invoke(rt: Runtime, job: Job, spec: CallbackSpec, index: int) -> None:
    from batchline.workers.api import JobHandle

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
    state: str,
    attempts: int,
    error: str,
    *,
    error_type: str = "",
) -> None:
    """``error_type`` is ``configuration_error`` for a callback that failed on this side
    (``JobHandle.wait`` raises for those), "" otherwise."""
    entry = {
        **spec.to_dict(),
        "state": state,
        "attempts": attempts,
        "last_error": error,
        "error_type": error_type,
        "updated_at": time.time(),
    }
    rt.redis.hset(rt.keys.callbacks(job_id), str(index), orjson.dumps(entry).decode())


def _finish(rt: Runtime, job_id: str, index: int) -> None:
    finished_key = rt.keys.callbacks_finished(job_id)
    rt.redis.sadd(finished_key, str(index))
    job = rt.store.load(job_id)
    if rt.redis.scard(finished_key) >= len(job.callbacks):
        ttl = rt.settings.results_ttl
        pipe = rt.redis.pipeline(transaction=False)
        pipe.expire(finished_key, ttl)
        pipe.expire(rt.keys.callbacks(job_id), ttl)
        for i in range(len(job.callbacks)):
            pipe.expire(rt.keys.callback_marker(job_id, i), ttl)
        pipe.execute()
        rt.store.transition(job, JobState.CALLBACKS_DONE)


def callback_states(rt: Runtime, job_id: str) -> list[dict[str, Any]]:
    """Each callback's recorded state, in order (for summaries and the CLI)."""
    raw = rt.redis.hgetall(rt.keys.callbacks(job_id))
    return [orjson.loads(raw[key]) for key in sorted(raw, key=int)]
