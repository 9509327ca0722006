"""``batchline demo``: the whole service on one machine, from enqueue to callback, in a minute.

With no arguments it needs nothing but Python and Redis: the sandbox stands in for the three
providers, a worker and a beat run as child processes, and one small job per provider goes
through the real path (Redis, Celery tasks, the official SDKs over HTTP). With ``--model`` and
real credentials the same steps run against the real providers.

Everything the demo starts, it stops: the children on normal exit, on an error and on Ctrl-C
(they run in their own process groups, so the terminal's Ctrl-C reaches only the demo, which
then stops them in order). It works in its own queue and key prefix, so it can share a Redis
with a real deployment without either seeing the other's jobs.
"""

from batchline.demo.pricing import Price, PriceTable, TokenCount
from batchline.demo.run import (
    Contact,
    DemoEvents,
    DemoOptions,
    DemoReport,
    JobProgress,
    JobReport,
    demo_messages,
    demo_models,
    report_to_demo,
    run_demo,
)

__all__ = [
    "Contact",
    "DemoEvents",
    "DemoOptions",
    "DemoReport",
    "JobProgress",
    "JobReport",
    "Price",
    "PriceTable",
    "TokenCount",
    "demo_messages",
    "demo_models",
    "report_to_demo",
    "run_demo",
]
