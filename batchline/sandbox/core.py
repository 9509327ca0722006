"""What every emulated provider shares: fault settings, the fake model, and the request context.

Faults are decided per ``custom_id`` from a seeded hash, so a test that asks for "10 % errors"
gets the same 10 % every run, whatever order the lines are processed in.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LineFault(StrEnum):
    """What can go wrong with one request's answer."""

    ERROR = "error"  # the provider reports an error for the request
    INVALID_JSON = "invalid_json"  # the answer is not JSON
    SCHEMA_VIOLATION = "schema_violation"  # JSON, but not valid for the requested schema
    TRUNCATED = "truncated"  # cut off at max_tokens
    REFUSAL = "refusal"  # the model refuses


class BatchOutcome(StrEnum):
    """How a whole batch ends when a test wants something other than success."""

    FAIL_VALIDATION = "fail_validation"
    EXPIRE = "expire"
    CANCEL = "cancel"


@dataclass
class Faults:
    """Seeded, deterministic fault injection. Rates are shares in [0, 1]."""

    seed: int = 0
    error_rate: float = 0.0
    invalid_json_rate: float = 0.0
    schema_violation_rate: float = 0.0
    truncated_rate: float = 0.0
    refusal_rate: float = 0.0
    http_429_rate: float = 0.0
    http_500_rate: float = 0.0
    http_503_rate: float = 0.0
    batch_outcome: BatchOutcome | None = None
    #: Seconds from creation until a batch is finished (split over its intermediate states).
    completion_delay: float = 1.0
    #: For ``expire``/``cancel`` outcomes: the share of requests that finish before the end.
    partial_share: float = 0.5
    _rng: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.batch_outcome is not None:
            self.batch_outcome = BatchOutcome(self.batch_outcome)
        self._rng = random.Random(self.seed)

    def _unit(self, key: str) -> float:
        digest = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def line_fault(self, custom_id: str) -> LineFault | None:
        """The fault (if any) for this request: the same answer for the same seed and id."""
        point = self._unit(custom_id)
        for fault, rate in (
            (LineFault.ERROR, self.error_rate),
            (LineFault.INVALID_JSON, self.invalid_json_rate),
            (LineFault.SCHEMA_VIOLATION, self.schema_violation_rate),
            (LineFault.TRUNCATED, self.truncated_rate),
            (LineFault.REFUSAL, self.refusal_rate),
        ):
            if point < rate:
                return fault
            point -= rate
        return None

    def finishes_before_end(self, custom_id: str) -> bool:
        """For expired/cancelled batches: whether this request ran before the batch ended."""
        return self._unit("partial:" + custom_id) < self.partial_share

    def http_fault(self) -> int | None:
        """An HTTP status to fail this call with, or None. Drawn from a seeded stream."""
        with self._lock:
            point = self._rng.random()
        for status, rate in (
            (429, self.http_429_rate),
            (500, self.http_500_rate),
            (503, self.http_503_rate),
        ):
            if point < rate:
                return status
            point -= rate
        return None


#: A scripted answer source: a mapping from custom_id to answer, or a callable
#: ``(custom_id, request) -> answer``. Returning ``None`` from the callable (or a missing key)
#: falls back to the generated answer.
Responder = Mapping[str, Any] | Callable[[str, dict[str, Any]], Any]


class FakeModel:
    """Answers each request with a value valid for the schema it asked for, deterministic per id.

    ``schema`` is a JSON Schema (OpenAI/Anthropic) or an OpenAPI-subset schema (Gemini's
    ``responseSchema``: ``nullable``, upper-case ``type``); both are understood.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder

    def answer(self, custom_id: str, schema: dict[str, Any] | None, request: dict[str, Any]) -> Any:
        scripted = self._scripted(custom_id, request)
        if scripted is not None:
            return scripted
        rng = random.Random(custom_id)
        if not schema:
            return f"Sandbox answer for {custom_id}."
        return _generate(schema, schema, rng, depth=0)

    def _scripted(self, custom_id: str, request: dict[str, Any]) -> Any:
        if self.responder is None:
            return None
        if callable(self.responder):
            return self.responder(custom_id, request)
        return self.responder.get(custom_id)

    @staticmethod
    def count_tokens(text: str) -> int:
        """A plausible token count: about four characters a token."""
        return max(1, len(text) // 4)


_WORDS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")


def _resolve_ref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        target: Any = root
        for part in path:
            target = target[part]
        node = target
    return node


def _generate(node: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int) -> Any:
    node = _resolve_ref(node, root)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return rng.choice([v for v in node["enum"] if v is not None] or node["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if _type_of(_resolve_ref(o, root)) != "null"]
            return _generate((options or node[key])[0], root, rng, depth)
    kind = _type_of(node)
    if kind == "object" or "properties" in node:
        props: dict[str, Any] = node.get("properties", {})
        return {name: _generate(sub, root, rng, depth + 1) for name, sub in props.items()}
    if kind == "array":
        low = int(node.get("minItems", 1))
        high = max(low, min(int(node.get("maxItems", 3)), 3))
        count = 0 if depth > 6 else rng.randint(low, high)
        return [_generate(node.get("items", {}), root, rng, depth + 1) for _ in range(count)]
    if kind == "integer":
        low, high = int(node.get("minimum", 1)), int(node.get("maximum", 99))
        return rng.randint(low, high)
    if kind == "number":
        low, high = float(node.get("minimum", 0.0)), float(node.get("maximum", 100.0))
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return rng.choice(_WORDS).title()


def _type_of(node: dict[str, Any]) -> str:
    kind = node.get("type", "")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    return str(kind).lower()


@dataclass
class SandboxContext:
    """Shared by the provider apps of one sandbox. Tests may swap ``faults`` and ``model`` live."""

    faults: Faults = field(default_factory=Faults)
    model: FakeModel = field(default_factory=FakeModel)
    #: Root URL of the sandbox (``http://127.0.0.1:PORT``), known once the server listens;
    #: Anthropic's ``results_url`` must be absolute, so apps build URLs from it.
    base_url: str = ""
    #: ``http://127.0.0.1:PORT`` of the Cloud Storage emulator the Google app reads and writes.
    gcs_url: str = ""
    gcs_project: str = "batchline-sandbox"
    lock: threading.RLock = field(default_factory=threading.RLock)

    @staticmethod
    def now() -> float:
        return time.time()
