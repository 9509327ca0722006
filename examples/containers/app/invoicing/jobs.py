"""The shop's batch job: its response model and its completion callback.

Both are module level, so the workers can import them by name (``invoicing.jobs.Invoice``,
``invoicing.jobs.file_invoices``) in another process and another container.
"""

from __future__ import annotations

import os
import socket

import redis
from pydantic import BaseModel

from batchline.batching import BatchSuccess
from batchline.workers import JobHandle, on_batch_complete

#: Where ``file_invoices`` files what it saw; a real app would write to its own database.
FILED_KEY = "invoicing:filed:{job_id}"


class Invoice(BaseModel):
    vendor: str
    total: float


@on_batch_complete
def file_invoices(job: JobHandle[Invoice]) -> None:
    """Files the job's typed invoices, and which container's worker did it."""
    results = job.results()
    invoices = [
        r.result for r in results if isinstance(r, BatchSuccess) and isinstance(r.result, Invoice)
    ]
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        key = FILED_KEY.format(job_id=job.id)
        client.hset(
            key,
            mapping={
                "requests": len(results),
                "invoices": len(invoices),
                "worker_host": socket.gethostname(),
                "module": __name__,
            },
        )
        client.expire(key, 86400)
    finally:
        client.close()
