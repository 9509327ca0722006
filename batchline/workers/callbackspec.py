"""What to call when a job finishes: ``CallbackSpec`` and the ``@on_batch_complete`` registry.

A spec is part of the job record (``Job.callbacks``), so it sits below the job store; firing
it (``batchline.workers.callbacks``) sits above the job API, since a function callback is
handed a ``JobHandle``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from batchline.errors import InvalidRequestError, PermanentCallbackError, ResponseModelError
from batchline.modelref import unimportable

if TYPE_CHECKING:
    from batchline.workers.api import JobHandle

F = TypeVar("F", bound=Callable[..., Any])


class CallbackKind(StrEnum):
    TASK = "task"
    FUNCTION = "function"
    WEBHOOK = "webhook"


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


class CallbackState(StrEnum):
    """Where one callback of a job is."""

    RUNNING = "running"
    #: It failed and will be tried again.
    RETRYING = "retrying"
    #: It failed for good (a permanent error, or out of attempts).
    FAILED = "failed"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class CallbackStatus:
    """One callback's recorded progress, as summaries and ``batchline jobs show`` report it."""

    kind: CallbackKind
    target: str
    queue: str | None
    state: CallbackState
    attempts: int
    last_error: str
    updated_at: float
    #: ``configuration_error`` when it failed on this side (its module does not import in the
    #: worker), else "": ``JobHandle.wait`` raises for those.
    error_type: str = ""

    @classmethod
    def of(
        cls,
        spec: CallbackSpec,
        state: CallbackState,
        attempts: int,
        error: str,
        at: float,
        *,
        error_type: str = "",
    ) -> CallbackStatus:
        return cls(spec.kind, spec.target, spec.queue, state, attempts, error, at, error_type)


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
