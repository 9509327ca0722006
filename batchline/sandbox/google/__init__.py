"""Vertex AI batch prediction for Gemini, emulated: the jobs API and the predictions it writes.

Mounted at ``/google`` (``sb.google_base_url``). Input and output live in Cloud Storage: a job
reads its JSONL from the emulator, streaming, and writes ``predictions.jsonl`` into a folder it
creates below the output prefix, as Vertex does. ``api`` holds the routes, ``jobs`` the job
record, ``filters`` the list filters, ``storage`` the Cloud Storage side, ``run`` and
``predictions`` what an ended job writes.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.google.api import JobsApi
from batchline.sandbox.google.errors import (
    fault_response,
    google_error,
    not_found,
    unauthenticated,
)
from batchline.sandbox.google.predictions import refused_prompt
from batchline.sandbox.wire import provider_app

__all__ = ["build_app", "google_error", "refused_prompt"]


def build_app(ctx: SandboxContext) -> Starlette:
    """The Vertex AI app, mounted by the sandbox at ``/google`` (``sb.google_base_url``)."""
    api = JobsApi(ctx)
    jobs = "/{version}/projects/{project}/locations/{location}/batchPredictionJobs"
    routes = [
        Route(jobs, api.create, methods=["POST"]),
        Route(jobs, api.list_jobs, methods=["GET"]),
        Route(jobs + "/{job_ref}", api.one_job, methods=["GET", "POST", "DELETE"]),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    # Vertex AI's responses carry no request id header, so the front door adds none.
    return provider_app(ctx, routes, unauthenticated=unauthenticated, fault_response=fault_response)
