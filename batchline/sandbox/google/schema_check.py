"""What Vertex refuses in a batch's request lines, by batchline's rule book for Gemini.

A line the batch import cannot load fails the whole job ("Failed to import data"); a line
whose ``responseSchema`` Gemini refuses fails on its own, with the 400 in its ``status``.
Lines of one job usually share a ``generationConfig``, so each distinct one is judged once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from batchline.batching.schema_rules.google import (
    SCHEMA_DEPTH_IN_LINE,
    check_import,
    check_response_schema,
)
from batchline.sandbox.google.errors import RPC_INVALID_ARGUMENT

_CONFIG_KEYS = ("generationConfig", "generation_config")


def import_problem(line: Any) -> dict[str, Any] | None:
    """The job's ``error`` if Vertex's import would refuse this line, else None."""
    if not isinstance(line, dict):
        return None
    request = line.get("request")
    config = None
    if isinstance(request, dict):
        config_key = next((key for key in _CONFIG_KEYS if key in request), None)
        if config_key is not None:
            config = request[config_key]
            request = {k: v for k, v in request.items() if k != config_key}
            line = {**line, "request": request}
    found = check_import(line)
    if not found and isinstance(config, dict):
        message = _config_import_problem(orjson.dumps(config))
        if message is not None:
            return {"code": RPC_INVALID_ARGUMENT, "message": message}
    if not found:
        return None
    return {"code": RPC_INVALID_ARGUMENT, "message": found[0].message}


@lru_cache(maxsize=256)
def _config_import_problem(config_json: bytes) -> str | None:
    found = check_import(orjson.loads(config_json), depth=SCHEMA_DEPTH_IN_LINE - 1)
    return found[0].message if found else None


def schema_status(config: Any) -> str | None:
    """A prediction line's ``status`` when Gemini refuses its ``responseSchema``, else None."""
    if not isinstance(config, dict):
        return None
    schema = config.get("responseSchema", config.get("response_schema"))
    if schema is None:
        return None
    return _schema_status(orjson.dumps(schema))


@lru_cache(maxsize=256)
def _schema_status(schema_json: bytes) -> str | None:
    found = check_response_schema(orjson.loads(schema_json))
    if not found:
        return None
    message = "\n".join(violation.message for violation in found) + "\n"
    error = {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
    return "Bad Request: " + orjson.dumps({"error": error}).decode()
