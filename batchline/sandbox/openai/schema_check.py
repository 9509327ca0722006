"""Strict structured-output schemas, judged per request as OpenAI judges them.

A batch line whose strict schema breaks the rules is not refused at upload: the batch runs and
that request fails on its own, in the error file, with the 400 the same call would get online.
The rules are batchline's rule book (``batchline.batching.schema_rules.openai``), so the sandbox
and the library can never disagree about them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from batchline.batching.schema_rules.openai import check_body
from batchline.sandbox.openai.answers import line_response


def schema_error(body: Any) -> dict[str, Any] | None:
    """The error-file ``response`` for a body whose strict schema OpenAI refuses, else None."""
    if not isinstance(body, dict):
        return None
    parts = {key: body[key] for key in ("response_format", "tools") if key in body}
    if not parts:
        return None
    return _judged(orjson.dumps(parts))


@lru_cache(maxsize=256)
def _judged(parts_json: bytes) -> dict[str, Any] | None:
    """Every line of a batch usually carries the same schema: judge each distinct one once."""
    problem = check_body(orjson.loads(parts_json))
    if problem is None:
        return None
    param, violation = problem
    code = None if param == "response_format" else "invalid_function_parameters"
    error = {
        "message": violation.message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }
    return {"error": error}


def failed_line(body: Any) -> dict[str, Any] | None:
    """``schema_error`` as a whole error-file ``response`` (status 400), or None."""
    error = schema_error(body)
    return None if error is None else line_response(error, 400)
