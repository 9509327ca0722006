"""Request policy for every provider, above the provider interface: the generation settings
of a batch with their one set of defaults (shared by the library and the workers), and the one
custom-id rule."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from batchline.errors import InvalidRequestError

#: Output tokens each request may use unless the caller says otherwise (library and workers).
DEFAULT_MAX_TOKENS = 1000
#: The temperature each request gets unless the caller says otherwise, in the library and the
#: workers alike. 0.1 is the guide's (instructor's) ``create_batch_from_messages`` default:
#: extraction wants nearly deterministic answers. ``None`` leaves it to the model's default.
DEFAULT_TEMPERATURE: float | None = 0.1
#: No provider accepts a temperature above this; a provider may allow less (``ProviderLimits``).
MAX_TEMPERATURE = 2.0


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """Generation settings shared by every request of one batch.

    It checks itself when built, for every provider alike, so a bad value is refused before
    any line is written; the provider's own ceiling on temperature is checked by
    ``Provider.line_encoder``.

    Raises:
        InvalidRequestError: ``max_tokens`` is not a positive integer, ``temperature`` is not a
            number from 0 to ``MAX_TEMPERATURE``, or ``extra`` is not a JSON-ready dict.
    """

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = DEFAULT_TEMPERATURE
    #: Provider-specific extras merged into each request body (e.g. ``top_p``).
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tokens = self.max_tokens
        if type(tokens) is not int or tokens < 1:
            raise InvalidRequestError(f"max_tokens must be a positive integer, got {tokens!r}")
        check_temperature(self.temperature, MAX_TEMPERATURE)
        if not isinstance(self.extra, dict) or not all(isinstance(k, str) for k in self.extra):
            raise InvalidRequestError(
                f"extra request options must be a dict with string keys, got {self.extra!r:.80}"
            )
        try:
            orjson.dumps(self.extra)
        except orjson.JSONEncodeError as exc:
            raise InvalidRequestError(
                f"the extra options cannot be encoded as JSON: {exc}"
            ) from exc


def check_temperature(temperature: float | None, ceiling: float) -> None:
    """Refuse a temperature outside ``0..ceiling`` (``None`` means the model's default)."""
    if temperature is None:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise InvalidRequestError(f"temperature must be a number, got {temperature!r}")
    if not (math.isfinite(temperature) and 0 <= temperature <= ceiling):
        raise InvalidRequestError(f"temperature must be between 0 and {ceiling:g}: {temperature}")


def check_custom_id(custom_id: object, pattern: re.Pattern[str]) -> str:
    """The one custom-id rule: a string the provider's ``custom_id_pattern`` fully matches.

    Checked while a request file is built, so a bad id never reaches a batch.
    """
    if type(custom_id) is not str or pattern.fullmatch(custom_id) is None:
        raise InvalidRequestError(
            f"custom_id {custom_id!r} is not valid here: it must match {pattern.pattern!r}"
        )
    return custom_id


#: The custom ids a provider accepts unless it says otherwise: any non-empty string.
ANY_CUSTOM_ID = re.compile(r".+", re.DOTALL)
