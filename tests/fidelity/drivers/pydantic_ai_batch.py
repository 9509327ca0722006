"""Run one structured batch through pydantic-ai's ``BatchModelRequests`` against the sandbox.

Runs inside pydantic-ai-slim's own venv (not batchline's), so it imports only that client.
Usage: ``python pydantic_ai_batch.py openai|openai-native|anthropic COUNT``; prints a ``result:``
line per request: the agent's typed output, dumped. ``openai`` asks through a forced function
tool (pydantic-ai's default), ``openai-native`` through ``text.format`` (``NativeOutput``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.capabilities import BatchModelRequests
from pydantic_ai.output import NativeOutput


class Invoice(BaseModel):
    vendor: str
    total_cents: int
    paid: bool
    lines: list[str]


def build_model(provider: str):  # type: ignore[no-untyped-def]
    if provider.startswith("openai"):
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        client = OpenAIProvider(
            base_url=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"]
        )
        return OpenAIResponsesModel("gpt-4o-mini", provider=client)
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    client = AnthropicProvider(
        base_url=os.environ["ANTHROPIC_BASE_URL"], api_key=os.environ["ANTHROPIC_API_KEY"]
    )
    return AnthropicModel("claude-haiku-4-5", provider=client)


async def main(provider: str, count: int) -> None:
    batching = BatchModelRequests(
        max_wait=timedelta(seconds=0.5), poll_interval=timedelta(seconds=0.2)
    )
    output_type = NativeOutput(Invoice) if provider == "openai-native" else Invoice
    agent = Agent(build_model(provider), output_type=output_type, capabilities=[batching])
    async with batching:
        runs = await asyncio.gather(
            *(agent.run(f"Read invoice number {n} and report it.") for n in range(count))
        )
    for run in runs:
        print("result:", json.dumps(run.output.model_dump()))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
