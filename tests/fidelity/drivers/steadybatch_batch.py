"""Run one structured batch through steadybatch's ``Runner`` against the sandbox.

Runs inside steadybatch's own venv. Usage:
``python steadybatch_batch.py openai|anthropic|anthropic-prompt COUNT``; prints a ``result:`` line
per request: its key, steadybatch's outcome and the data it parsed and checked against the
schema. ``anthropic-prompt`` writes the schema into the system prompt (``native_schema=False``).
"""

from __future__ import annotations

import json
import os
import sys

from steadybatch import Request, Runner

INVOICE = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "total_cents": {"type": "integer"},
        "paid": {"type": "boolean"},
        "lines": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["vendor", "total_cents", "paid", "lines"],
    "additionalProperties": False,
}


def build(mode: str):  # type: ignore[no-untyped-def]
    if mode == "openai":
        from openai import OpenAI
        from steadybatch.providers.openai_batch import OpenAIBatch

        client = OpenAI(base_url=os.environ["OPENAI_BASE_URL"])
        return OpenAIBatch(client), "gpt-4o-mini"
    import anthropic
    from steadybatch.providers.anthropic_batch import AnthropicBatch

    client = anthropic.Anthropic(base_url=os.environ["ANTHROPIC_BASE_URL"])
    return AnthropicBatch(client, native_schema=mode == "anthropic"), "claude-haiku-4-5"


def main(mode: str, count: int) -> None:
    provider, model = build(mode)
    runner = Runner(provider, model, response_schema=INVOICE, poll_every=0.2, max_attempts=1)
    requests = [
        Request(key=f"invoice-{n}", messages=[{"role": "user", "content": f"Read invoice {n}."}])
        for n in range(count)
    ]
    report = runner.run(requests)
    for result in report.results:
        row = {"key": result.key, "outcome": result.outcome.value, "data": result.data}
        print("result:", json.dumps({**row, "error": result.error}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
