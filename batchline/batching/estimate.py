"""What a job will cost, estimated offline from its request lines before anything is uploaded.

Input tokens are counted without a tokenizer: no provider publishes one that runs offline for
every model (tiktoken downloads its encodings on first use; Anthropic and Google count only
through their APIs). The count is

* ASCII text: one token per 4 characters (rounded up), the providers' own rule of thumb for
  English;
* every non-ASCII character: one token (CJK and emoji are often one or more tokens each, so
  this keeps such text from being undercounted by 4x; accented Latin is overcounted a little);
* the response schema (tool or response format), as compact JSON, by the same rule;
* ``PER_MESSAGE_TOKENS`` of framing per message and once more for the reply.

``docs/cost.md`` measures how far this lands from the sandbox's counts. The estimate's upper
bound adds ``INPUT_ERROR``; budgets compare that bound, with every answer at ``max_tokens``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from batchline.batching.requests import RequestSource, open_source
from batchline.errors import BudgetExceededError, InvalidRequestError
from batchline.pricing import PER_TOKENS, ModelPrice, PriceTable

#: Characters of ASCII text per token (OpenAI's and Anthropic's rule of thumb for English).
CHARS_PER_TOKEN = 4
#: Tokens of role markers and separators per message, and once more to start the reply.
PER_MESSAGE_TOKENS = 4
#: How far the real input count may be above the estimate, as a share of it. English prose
#: lands within ~10%; JSON-heavy prompts and code tokenize denser (more punctuation per
#: token), up to ~40% over. See docs/cost.md.
INPUT_ERROR = 0.5

#: Keys whose value is a JSON schema the provider turns into prompt tokens.
_SCHEMA_KEYS = frozenset(
    {
        "schema",
        "input_schema",
        "parameters",
        "responseSchema",
        "response_schema",
        "responseJsonSchema",
        "response_json_schema",
    }
)
#: Keys whose string value is prompt text (message content, system prompt, Gemini parts).
_TEXT_KEYS = frozenset({"content", "text", "system", "description"})
#: Keys that hold the list of messages of a request.
_MESSAGE_KEYS = frozenset({"messages", "contents"})
#: Keys that cap the answer's length, per provider.
_MAX_TOKEN_KEYS = ("max_tokens", "max_completion_tokens", "maxOutputTokens", "max_output_tokens")


@dataclass(slots=True)
class RequestTokens:
    """What one request line will use: its estimated prompt and its output cap."""

    input: int
    max_output: int


def text_tokens(text: str) -> int:
    """Tokens of ``text`` by the rule above."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def request_tokens(line: bytes | str, default_max_output: int = 0) -> RequestTokens:
    """Estimate one request line of any provider's format (OpenAI's batch line, Anthropic's
    ``params``, Vertex's ``request``): the request is walked for text, schemas and messages."""
    walk = _Walk()
    walk.visit(orjson.loads(line), None)
    tokens = walk.tokens + PER_MESSAGE_TOKENS * (walk.messages + 1)
    return RequestTokens(input=tokens, max_output=walk.max_output or default_max_output)


class _Walk:
    def __init__(self) -> None:
        self.tokens = 0
        self.messages = 0
        self.max_output = 0

    def visit(self, node: Any, key: str | None) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name in _SCHEMA_KEYS and isinstance(value, dict):
                    self.tokens += text_tokens(orjson.dumps(value).decode())
                elif name in _MAX_TOKEN_KEYS and type(value) is int:
                    self.max_output = value
                else:
                    self.visit(value, name)
        elif isinstance(node, list):
            if key in _MESSAGE_KEYS:
                self.messages += len(node)
            for item in node:
                self.visit(item, key)
        elif isinstance(node, str) and key in _TEXT_KEYS:
            self.tokens += text_tokens(node)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """A job's estimated tokens and its cost range, at batch and at live prices.

    The low end prices the estimated input less ``input_error`` with one-token answers; the
    high end prices it plus ``input_error`` with every answer at ``max_tokens``. Cache hits
    are not predicted: they only lower the real cost.
    """

    model: str
    requests: int
    input_tokens: int
    max_output_tokens: int
    input_error: float
    batch_low: float
    batch_high: float
    live_low: float
    live_high: float
    currency: str

    @property
    def input_tokens_high(self) -> int:
        return math.ceil(self.input_tokens * (1 + self.input_error))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "input_tokens_high": self.input_tokens_high,
            "max_output_tokens": self.max_output_tokens,
            "input_error": self.input_error,
            "currency": self.currency,
            "batch": [self.batch_low, self.batch_high],
            "live": [self.live_low, self.live_high],
        }

    def check_budget(self, max_cost: float | None) -> None:
        """Raise ``BudgetExceededError`` when the upper batch estimate is over ``max_cost``."""
        if max_cost is None or self.batch_high <= max_cost:
            return
        raise BudgetExceededError(
            f"{self.model}: up to ${self.batch_high:,.4f} at batch prices is over max_cost "
            f"${max_cost:,.4f} ({self.requests:,} requests, ~{self.input_tokens:,} input "
            f"tokens (up to {self.input_tokens_high:,}), up to {self.max_output_tokens:,} "
            "output tokens); nothing was uploaded"
        )


def estimate_lines(
    lines: Iterable[bytes | str],
    model: str,
    prices: PriceTable,
    *,
    default_max_output: int = 0,
    input_error: float = INPUT_ERROR,
) -> CostEstimate:
    """Estimate request lines of ``model``; ``NoPriceError`` before reading any line when the
    model has no price."""
    price = prices.price(model)
    requests = inputs = outputs = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            tokens = request_tokens(line, default_max_output)
        except orjson.JSONDecodeError:
            raise InvalidRequestError(f"request line {number} is not JSON") from None
        requests += 1
        inputs += tokens.input
        outputs += tokens.max_output
    if requests == 0:
        raise InvalidRequestError("no requests to estimate: the request file is empty")
    return _priced(model, price, prices.currency, requests, inputs, outputs, input_error)


def estimate_source(source: RequestSource, model: str, prices: PriceTable) -> CostEstimate:
    """Estimate a request file or buffer, a line at a time."""
    prices.price(model)
    with open_source(source) as handle:
        return estimate_lines(handle, model, prices)


def _priced(
    model: str,
    price: ModelPrice,
    currency: str,
    requests: int,
    inputs: int,
    outputs: int,
    input_error: float,
) -> CostEstimate:
    low_in = inputs * (1 - input_error)
    high_in = math.ceil(inputs * (1 + input_error))

    def cost(input_tokens: float, output_tokens: float, tier: str) -> float:
        rates = price.batch if tier == "batch" else price.live
        return (input_tokens * rates.input + output_tokens * rates.output) / PER_TOKENS

    return CostEstimate(
        model=model,
        requests=requests,
        input_tokens=inputs,
        max_output_tokens=outputs,
        input_error=input_error,
        batch_low=cost(low_in, requests, "batch"),
        batch_high=cost(high_in, outputs, "batch"),
        live_low=cost(low_in, requests, "live"),
        live_high=cost(high_in, outputs, "live"),
        currency=currency,
    )
