"""List filters: the part of AIP-160 that batchline needs to find its jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from batchline.sandbox.google.errors import BadRequest
from batchline.sandbox.google.jobs import VertexJob

_FILTER_TERM = re.compile(
    r"\s*(?P<field>[A-Za-z_][\w.\-]*)\s*(?P<op>!=|>=|<=|=|>|<|:)\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s"()]+)\s*'
)
_FILTER_AND = re.compile(r"AND\s+")
_FILTER_FIELDS = ("display_name", "state", "create_time", "update_time")


@dataclass(frozen=True)
class Term:
    """One ``field op value`` comparison of a filter."""

    field: str
    op: str
    value: str


def parse_filter(text: str) -> list[Term]:
    """Terms joined by AND over display_name, state, labels.KEY, create_time and update_time.

    Anything else is refused with 400, so a filter the sandbox does not understand can never
    silently match every job.
    """
    terms: list[Term] = []
    position, text = 0, text.strip()
    while position < len(text):
        if terms:
            joiner = _FILTER_AND.match(text, position)
            if joiner is None:
                raise BadRequest(f"Unsupported filter {text!r}: only AND joins terms here.")
            position = joiner.end()
        match = _FILTER_TERM.match(text, position)
        if match is None:
            raise BadRequest(f"Invalid filter {text!r} at position {position}.")
        value = match["value"]
        term = Term(match["field"], match["op"], orjson.loads(value) if value[0] == '"' else value)
        if term.field not in _FILTER_FIELDS and not term.field.startswith("labels."):
            raise BadRequest(f"Unsupported field in filter: {term.field}.")
        if term.field.endswith("_time"):
            try:
                datetime.fromisoformat(term.value)
            except ValueError:
                raise BadRequest(f"Invalid timestamp in filter: {term.value!r}.") from None
        terms.append(term)
        position = match.end()
    return terms


def matches(vertex: VertexJob, terms: list[Term], now: float) -> bool:
    return all(_term_matches(vertex, term, now) for term in terms)


def _term_matches(vertex: VertexJob, term: Term, now: float) -> bool:
    actual: Any
    wanted: Any = term.value
    if term.field.startswith("labels."):
        actual = vertex.spec.labels.get(term.field.removeprefix("labels."))
        if term.op == ":" and term.value == "*":
            return actual is not None
    elif term.field == "display_name":
        actual = vertex.spec.display_name
    elif term.field == "state":
        actual = vertex.state(now)[0].value
    else:
        state_since = vertex.state(now)[1]
        actual = vertex.timeline.created_at if term.field == "create_time" else state_since
        wanted = datetime.fromisoformat(term.value).timestamp()
    if actual is None:
        return term.op == "!="
    comparisons = {
        "=": actual == wanted,
        ":": actual == wanted,
        "!=": actual != wanted,
        ">": actual > wanted,
        ">=": actual >= wanted,
        "<": actual < wanted,
        "<=": actual <= wanted,
    }
    return bool(comparisons[term.op])
