"""What every emulated provider shares: fault settings, the fake model, and the request context.

Faults are decided per ``custom_id`` from a seeded hash, so a test that asks for "10 % errors"
gets the same 10 % every run, whatever order the lines are processed in.
"""

from __future__ import annotations

import copy
import hashlib
import os
import random
import string
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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


# -- helpers the provider apps share ------------------------------------------------------------

_ID_CHARS = string.ascii_letters + string.digits
#: Ids only need to look real and not collide; a private generator is quicker than ``secrets``
#: for 50,000 lines and is not disturbed by a test seeding the global ``random``.
_ID_RANDOM = random.Random()


#: Maps each byte to a letter or digit (slightly unevenly, which no id reader can tell).
_ID_TABLE = bytes((_ID_CHARS * 5).encode()[:256])


def random_token(length: int) -> str:
    """Random letters and digits for a provider-style id (``chatcmpl-...``, ``msg_01...``)."""
    return _ID_RANDOM.randbytes(length).translate(_ID_TABLE).decode()


def random_hex(length: int = 32) -> str:
    """Random lower-case hex digits, as in OpenAI's ``request_id``."""
    return f"{_ID_RANDOM.getrandbits(length * 4):0{length}x}"


def answer_text(answer: Any) -> str:
    """An answer as the model writes it: strings as they are, anything else as compact JSON."""
    if isinstance(answer, str):
        return answer
    return orjson.dumps(answer).decode()


def break_json(text: str) -> str:
    """Text that no longer parses as JSON, as when a model loses track of its closing brace."""
    stripped = text.rstrip()
    if stripped.endswith(("}", "]")):
        return stripped[:-1]
    return "{" + text


def cut_short(text: str) -> str:
    """The first half of ``text``: an answer stopped by the token limit."""
    return text[: max(1, len(text) // 2)]


def written_answer(answer: Any, schema: dict[str, Any] | None, fault: LineFault | None) -> str:
    """The text the model writes, spoiled as the fault asks (plain text only gets truncated)."""
    if schema is not None and fault is LineFault.SCHEMA_VIOLATION:
        answer = violate_schema(answer, schema)
    text = answer_text(answer)
    if schema is not None and fault is LineFault.INVALID_JSON:
        return break_json(text)
    if fault is LineFault.TRUNCATED:
        return cut_short(text)
    return text


def partial_value(value: Any) -> Any:
    """What was complete when output stopped halfway: the first half of an object's fields."""
    if isinstance(value, dict):
        return {key: value[key] for key in list(value)[: len(value) // 2]}
    return value


def violate_schema(value: Any, schema: dict[str, Any] | None) -> Any:
    """A value that still parses but breaks ``schema``: a required field missing, else a wrong type.

    Objects stay objects (a tool's input must be one), so a client's schema check, not its JSON
    parser, is what catches it.
    """
    if not isinstance(value, dict):
        return _wrong_type(value)
    node = _resolve_ref(schema, schema) if schema else {}
    broken = copy.deepcopy(value)
    for key in node.get("required", []):
        if key in broken:
            del broken[key]
            return broken
    for key in broken:
        broken[key] = _wrong_type(broken[key])
        return broken
    return [broken]


def _wrong_type(value: Any) -> Any:
    if isinstance(value, str):
        return 12345
    if isinstance(value, bool | int | float):
        return "not a number"
    if isinstance(value, list | dict):
        return "not a container"
    return 0


def output_order(custom_ids: Sequence[str], seed: int) -> list[int]:
    """Positions of ``custom_ids`` in the order a provider writes results: not input order.

    Sorting by a seeded hash of the id keeps the order the same for the same input every run,
    while ids that are next to each other in the input land far apart.
    """

    def rank(index: int) -> bytes:
        key = f"order:{seed}:{custom_ids[index]}".encode()
        return hashlib.blake2b(key, digest_size=8).digest()

    return sorted(range(len(custom_ids)), key=rank)


def read_lines(path: Path, spans: Sequence[int], order: Iterable[int]) -> Iterator[bytes]:
    """The lines of ``path`` at ``spans`` (start, end pairs), in ``order``, read one at a time.

    A batch keeps its requests' positions, not the requests, and reads them back shuffled.
    """
    with path.open("rb", buffering=0) as stream:
        fd = stream.fileno()
        for index in order:
            start, end = spans[2 * index], spans[2 * index + 1]
            yield os.pread(fd, end - start, start)


class Spool:
    """A private temporary folder for the files an app holds and serves.

    Inputs of up to 200 MB and outputs of 50,000 lines live on disk, so they cost page cache,
    not the server's memory; the folder is removed when the app is garbage-collected or the
    interpreter exits.
    """

    def __init__(self, name: str) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix=f"batchline-sandbox-{name}-")
        self.root = Path(self._folder.name)

    def path(self, name: str) -> Path:
        return self.root / name


class FrontDoor:
    """ASGI middleware for a provider app: its key check and injected HTTP faults, before any route.

    ``refuse(headers)`` returns the provider's error response (401, 429, 5xx) or None to let the
    call through; every response carries a fresh request id under ``id_header``, as the real
    APIs' do (the SDKs surface it as ``error.request_id``).
    """

    def __init__(
        self,
        app: ASGIApp,
        refuse: Callable[[Headers], Response | None],
        id_header: str,
        new_id: Callable[[], str],
    ) -> None:
        self.app = app
        self.refuse = refuse
        self.id_header = id_header.encode()
        self.new_id = new_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.new_id().encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((self.id_header, request_id))
            await send(message)

        refusal = self.refuse(Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
