"""The job's completion callback: typed results into Django rows.

It runs in the Celery worker (``celery -A shop worker``), where Celery's Django fixup has set
Django up before any task runs, so the models can be used as in a view.
"""

from django.db import transaction

from batchline.workers import JobHandle, on_batch_complete
from contacts.models import ExtractedContact
from contacts.schemas import Contact


@on_batch_complete
def store_contacts(job: JobHandle[Contact]) -> None:
    """Write each successful result; a rerun (the callback may run twice) changes nothing."""
    with transaction.atomic():
        for result in job.results():
            if result.success and isinstance(result.result, Contact):
                ExtractedContact.objects.update_or_create(
                    custom_id=result.custom_id,
                    defaults={"job_id": job.id, **result.result.model_dump()},
                )
