"""Provider registry. Each provider module is imported only when first used, so that a user of
one provider never pays for importing the other SDKs."""

from __future__ import annotations

import importlib

from batchline.batching.options import RequestOptions
from batchline.batching.providers.base import (
    BatchInfo,
    BatchMark,
    LineOutcome,
    OwnBatches,
    Provider,
    ProviderLimits,
    RequestCounts,
)
from batchline.errors import InvalidRequestError, UnknownProviderError

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


def provider_classes() -> list[type[Provider]]:
    """Every provider, in registry order (this imports every provider module)."""
    return [provider_class(name) for name in PROVIDERS]


def provider_for_batch_id(batch_id: str) -> type[Provider]:
    """The provider whose batch ids look like ``batch_id`` (each provider's differ).

    Raises:
        InvalidRequestError: no provider, or more than one, claims the id.
    """
    owners = [cls for cls in provider_classes() if cls.owns_batch_id(batch_id)]
    if len(owners) != 1:
        raise InvalidRequestError(
            f"cannot tell the provider of batch id {batch_id!r}; pass --model provider/model-name"
        )
    return owners[0]


def example_models() -> list[str]:
    """One ``provider/model`` per provider: what the demo runs by default."""
    return [f"{cls.name}/{cls.example_model}" for cls in provider_classes()]


__all__ = [
    "PROVIDERS",
    "BatchInfo",
    "BatchMark",
    "LineOutcome",
    "OwnBatches",
    "Provider",
    "ProviderLimits",
    "RequestCounts",
    "RequestOptions",
    "example_models",
    "provider_class",
    "provider_classes",
    "provider_for_batch_id",
]
