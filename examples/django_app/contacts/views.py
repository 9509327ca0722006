"""A view that enqueues a job, and one that shows where it is."""

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from shop.celery import app

from batchline.workers import enqueue_batch, get_job
from contacts.jobs import store_contacts
from contacts.models import ExtractedContact
from contacts.schemas import Contact

MODEL = "openai/gpt-4.1-mini"


@csrf_exempt  # an API endpoint for the example; keep CSRF on for browser forms
@require_POST
def extract(request: HttpRequest) -> JsonResponse:
    texts = json.loads(request.body).get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return JsonResponse({"error": "texts must be a non-empty list of strings"}, status=400)
    conversations = [
        [
            {"role": "system", "content": "Extract the person's name and age."},
            {"role": "user", "content": text},
        ]
        for text in texts
    ]
    handle = enqueue_batch(MODEL, Contact, conversations, callbacks=[store_contacts], app=app)
    return JsonResponse({"job_id": handle.id}, status=202)


@require_GET
def job_status(request: HttpRequest, job_id: str) -> JsonResponse:
    handle = get_job(job_id, app=app)
    rows = ExtractedContact.objects.filter(job_id=job_id).order_by("custom_id")
    return JsonResponse(
        {
            "state": handle.status().value,
            "contacts": [{"name": r.name, "age": r.age} for r in rows],
        }
    )
