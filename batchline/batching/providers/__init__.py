"""Provider registry. Each provider module is imported only when first used, so that a user of
one provider never pays for importing the other SDKs."""

from __future__ import annotations

import importlib

from batchline.batching.providers.base import (
    BatchInfo,
    LineOutcome,
    Provider,
    ProviderLimits,
    RequestCounts,
    RequestOptions,
)
from batchline.errors import UnknownProviderError

#: provider name -> "module:Class"
PROVIDERS: dict[str, str] = {
    "openai": "batchline.batching.providers.openai:OpenAIProvider",
    "anthropic": "batchline.batching.providers.anthropic:AnthropicProvider",
    "google": "batchline.batching.providers.google:GoogleProvider",
}


def provider_class(name: str) -> type[Provider]:
    try:
        target = PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise UnknownProviderError(
            f"unknown provider {name!r}: use one of {known} (as 'provider/model-name')"
        ) from None
    module_name, class_name = target.split(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    return cls


__all__ = [
    "PROVIDERS",
    "BatchInfo",
    "LineOutcome",
    "Provider",
    "ProviderLimits",
    "RequestCounts",
    "RequestOptions",
    "provider_class",
]
