"""Response models travel between processes as import paths (``pkg.module:Model``)."""

from __future__ import annotations

import importlib

from pydantic import BaseModel

from batchline.errors import ResponseModelError, WorkerImportError


def model_path(model: type[BaseModel]) -> str:
    """The import path workers will use; refuses models they could not import."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ResponseModelError(f"response model must be a pydantic BaseModel, got {model!r}")
    qualname = model.__qualname__
    if "<locals>" in qualname:
        raise ResponseModelError(
            f"{model.__module__}.{qualname} is defined inside a function; workers cannot "
            "import it. Define it at module level."
        )
    if model.__module__ in ("__main__", "__mp_main__"):
        raise ResponseModelError(
            f"{qualname} is defined in __main__; workers cannot import it. Move it to a module."
        )
    path = f"{model.__module__}:{qualname}"
    if import_model(path) is not model:
        raise ResponseModelError(f"importing {path} does not give back {model!r}")
    return path


def import_model(path: str) -> type[BaseModel]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ResponseModelError(
            f"response model path must be 'package.module:Model', got {path!r}"
        )
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ResponseModelError(
            f"cannot import {module_name!r} for response model: {exc}"
        ) from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ResponseModelError(f"{module_name!r} has no attribute {attr!r}") from None
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        raise ResponseModelError(f"{path} is not a pydantic BaseModel subclass")
    return target


def worker_import_model(path: str) -> type[BaseModel]:
    """``import_model`` in a worker, where a failure is a deployment mistake, not the
    caller's: ``WorkerImportError`` saying so and naming the fix."""
    try:
        return import_model(path)
    except ResponseModelError as exc:
        raise unimportable("response model", path, exc) from None


def unimportable(what: str, path: str, exc: BaseException) -> WorkerImportError:
    """The error for a ``module:Name`` a worker cannot import: exactly what, and the three
    ways to make the module importable where the worker runs."""
    module, _, name = path.partition(":")
    top = module.partition(".")[0]
    cause = exc.__cause__ or exc
    return WorkerImportError(
        f"the workers could not import the {what} {module}.{name} "
        f"({type(cause).__name__}: {cause}); start the worker in the directory that holds "
        f"{top!r}, pass --include {module} (or BATCHLINE_INCLUDE={module}), "
        "or add that directory to PYTHONPATH"
    )
