"""How far the offline input-token estimate lands from the sandbox's counts, per kind of prompt.

``python -m benchmarks.estimate_accuracy`` runs one batch per provider through a sandbox of its
own and prints a Markdown table for ``docs/cost.md``: per kind of request, the estimate over
the count the sandbox reported (cached tokens included). The sandbox's counts are themselves
an approximation (characters / 4, plus framing), so this measures the estimator against the
sandbox's rule, not against a real tokenizer.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel

from batchline.batching import TERMINAL_STATUSES, BatchProcessor
from batchline.batching.estimate import request_tokens
from batchline.config import get_settings
from batchline.sandbox import Faults, Sandbox

MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash")


class LineItem(BaseModel):
    description: str
    quantity: int
    unit_price: float


class Invoice(BaseModel):
    """A realistic extraction target: nested, with a list and optional fields."""

    vendor: str
    invoice_number: str
    total: float
    currency: str | None = None
    items: list[LineItem]


_PROSE = (
    "Invoice 2024-{n} from Harbour Supplies Ltd, 14 Dock Road, Leith. Delivered to the "
    "north warehouse on the {n}th: twelve pallets of packing tape at 4.20 each, three "
    "industrial staplers at 89.00, and a service call billed at 120.00. Payment due in 30 "
    "days; please quote the invoice number on every remittance. "
)
_JSONISH = (
    '{{"invoice": "INV-{n}", "lines": [{{"sku": "TAPE-48", "qty": 12, "price": 4.2}}, '
    '{{"sku": "STPL-IND", "qty": 3, "price": 89.0}}], "vendor": "Harbour Supplies"}}'
)
_CODE = "def total(lines):\n    return sum(l['qty'] * l['price'] for l in lines)  # invoice {n}\n"
_FRENCH = (
    "Facture n° {n} de Fournitures Légères SARL, rue de l'Église, Besançon : douze rouleaux "
    "de ruban adhésif à 4,20 €, trois agrafeuses à 89,00 €. Échéance à trente jours. "
)
_JAPANESE = (
    "請求書番号{n}。港湾用品株式会社より、梱包テープ十二個(単価四百二十円)、"
    "業務用ホッチキス三台。支払期限は三十日以内です。"
)


def _kinds(n: int) -> dict[str, list[dict[str, str]]]:
    """One conversation of each kind, varied by ``n``."""
    system = {"role": "system", "content": "Extract the invoice as structured data."}
    return {
        "short English": [system, {"role": "user", "content": f"Invoice {n}: 3 staplers, $89."}],
        "English prose (~250 words)": [
            system,
            {"role": "user", "content": "".join(_PROSE.format(n=n + i) for i in range(4))},
        ],
        "JSON in the prompt": [
            system,
            {"role": "user", "content": " ".join(_JSONISH.format(n=n + i) for i in range(4))},
        ],
        "code": [
            system,
            {"role": "user", "content": "".join(_CODE.format(n=n + i) for i in range(6))},
        ],
        "French": [
            system,
            {"role": "user", "content": "".join(_FRENCH.format(n=n + i) for i in range(3))},
        ],
        "Japanese": [system, {"role": "user", "content": _JAPANESE.format(n=n) * 3}],
        "multi-turn (5 messages)": [
            system,
            {"role": "user", "content": _PROSE.format(n=n)},
            {"role": "assistant", "content": '{"vendor": "Harbour Supplies Ltd"}'},
            {"role": "user", "content": "Now include every line item and the total."},
            {"role": "assistant", "content": "Understood."},
        ],
        "long system prompt (cached)": [
            {"role": "system", "content": "Extract invoices carefully. " * 200},
            {"role": "user", "content": _PROSE.format(n=n)},
        ],
    }


@dataclass
class Row:
    kind: str
    estimated: int
    reported: int

    @property
    def ratio(self) -> float:
        return self.estimated / self.reported


def measure(model: str, sandbox: Sandbox, per_kind: int = 5) -> list[Row]:
    """Estimated and sandbox-reported input tokens of one batch of ``model``, per kind."""
    processor = BatchProcessor(model, Invoice)
    kinds: list[str] = []
    messages: list[list[dict[str, str]]] = []
    for n in range(per_kind):
        for kind, conversation in _kinds(n).items():
            kinds.append(kind)
            messages.append(conversation)
    buffer = processor.create_batch_from_messages(messages, max_tokens=400)
    estimated = [request_tokens(line).input for line in buffer.getvalue().splitlines()]
    batch_id = processor.submit_batch(buffer)
    deadline = time.monotonic() + 60
    while processor.get_batch(batch_id).status not in TERMINAL_STATUSES:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {model} batch did not end within 60 s")
        time.sleep(0.1)
    reported: dict[str, int] = {}
    for result in processor.retrieve_results(batch_id):
        usage = result.usage or {}
        prompt = usage.get("input_tokens", 0)
        if model.startswith("anthropic/"):
            prompt += usage.get("cached_input_tokens", 0)
        reported[result.custom_id] = prompt
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for index, kind in enumerate(kinds):
        totals[kind][0] += estimated[index]
        totals[kind][1] += reported[f"request-{index}"]
    return [Row(kind, est, rep) for kind, (est, rep) in totals.items()]


@contextmanager
def sandbox_env() -> Iterator[Sandbox]:
    with Sandbox(faults=Faults(completion_delay=0.2)) as sandbox:
        saved = {key: os.environ.get(key) for key in sandbox.env}
        os.environ.update(sandbox.env)
        get_settings.cache_clear()
        try:
            yield sandbox
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()


def table(results: dict[str, list[Row]]) -> str:
    kinds = [row.kind for row in next(iter(results.values()))]
    header = "| request kind | " + " | ".join(m.partition("/")[0] for m in results) + " |"
    lines = [header, "|---" * (len(results) + 1) + "|"]
    for index, kind in enumerate(kinds):
        cells = [f"{rows[index].ratio:.2f}" for rows in results.values()]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    with sandbox_env() as sandbox:
        results = {model: measure(model, sandbox) for model in MODELS}
    print(table(results))
    raw: dict[str, Any] = {
        m: [(r.kind, r.estimated, r.reported) for r in rows] for m, rows in results.items()
    }
    print(orjson.dumps(raw).decode())


if __name__ == "__main__":
    main()
