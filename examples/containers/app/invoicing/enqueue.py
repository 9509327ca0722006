"""The shop's side: enqueue one invoice job per provider, wait for its callbacks, report.

    python -m invoicing.enqueue                           # one job per provider
    python -m invoicing.enqueue --webhook-host shop       # and a signed webhook to this process

It prints one JSON object (job per model: state, what ``file_invoices`` filed, the webhooks
received) and exits 1 unless every job completed and filed every invoice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import redis

from batchline.workers import JobState, enqueue_batch, webhook
from invoicing.hooks import WebhookReceiver
from invoicing.jobs import FILED_KEY, Invoice, file_invoices

MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-3-5-haiku-latest", "google/gemini-2.5-flash")


def conversations(count: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"Extract the vendor and total of invoice #{n}."}]
        for n in range(count)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m invoicing.enqueue")
    parser.add_argument("--model", action="append", dest="models", help="default: one each")
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--webhook-host", help="this container's name on the stack's network")
    parser.add_argument("--webhook-port", type=int, default=8080)
    args = parser.parse_args(argv)

    receiver = None
    callbacks: list[Any] = [file_invoices]
    if args.webhook_host:
        secret = os.environ.get("BATCHLINE_WEBHOOK_SECRET")
        if not secret:
            print("BATCHLINE_WEBHOOK_SECRET is not set (use the workers' own)", file=sys.stderr)
            return 1
        receiver = WebhookReceiver(secret, args.webhook_port)
        callbacks.append(webhook(f"http://{args.webhook_host}:{args.webhook_port}/hooks/batchline"))

    handles = [
        enqueue_batch(model, Invoice, conversations(args.requests), callbacks=callbacks)
        for model in args.models or MODELS
    ]
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    report: dict[str, dict[str, Any]] = {}
    ok = True
    for handle in handles:
        try:
            state = handle.wait(timeout=args.timeout, callbacks=True)
        except TimeoutError as exc:
            state, error = handle.status(), str(exc)
        else:
            error = ""
        summary = handle.summary()
        filed = client.hgetall(FILED_KEY.format(job_id=handle.id))
        webhooks = len(receiver.deliveries.get(handle.id, [])) if receiver else None
        report[summary.model] = {
            "job_id": handle.id,
            "state": state.value,
            "outcome": summary.outcome,
            "callbacks": [c["state"] for c in summary.callbacks],
            "filed": filed,
            "webhooks": webhooks,
            "error": error or summary.last_error,
        }
        ok = ok and state is JobState.CALLBACKS_DONE
        ok = ok and filed.get("invoices") == str(args.requests) and webhooks in (None, 1)
    client.close()
    if receiver:
        receiver.close()
    print(json.dumps(report, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
