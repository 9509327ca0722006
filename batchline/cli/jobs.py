"""``batchline jobs ...``: look at and steer jobs run by the workers (list, show, results,
cancel, retry). The commands read the same Redis the workers write (``REDIS_URL`` and
``BATCHLINE_KEY_PREFIX``) and hold no logic of their own."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from batchline.cli.common import (
    ErrorTypesOpt,
    console,
    outcome_of,
    print_outcomes,
    require_redis,
    user_errors,
)
from batchline.cli.costs import bill_cell, bill_line

if TYPE_CHECKING:
    from batchline.workers.app import BatchlineCelery
    from batchline.workers.jobs import Job

app = typer.Typer(no_args_is_help=True)

JobIdArg = Annotated[str, typer.Argument(help="The job id enqueue_batch returned")]

_STATE_STYLES = {
    "callbacks_done": "green",
    "results_stored": "green",
    "failed": "red",
    "expired": "yellow",
    "cancelled": "yellow",
}


def _celery_app() -> BatchlineCelery:
    from batchline.workers.settings import WorkerSettings

    settings = WorkerSettings()
    # Before importing the app module: it builds the default app, whose Redis client would
    # answer a malformed REDIS_URL with a traceback.
    require_redis(settings.redis_url)
    from batchline.workers.app import create_app

    return create_app(settings)


def _when(value: float | str | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        return value.replace("T", " ")[:19]
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _state(state: str, outcome: str | None = None) -> str:
    style = _STATE_STYLES.get(outcome or state, "cyan")
    shown = f"{state} ({outcome})" if outcome and outcome != state else state
    return f"[{style}]{shown}[/]"


@app.command("list")
@user_errors
def list_jobs(
    limit: Annotated[int, typer.Option(help="How many recent jobs")] = 20,
) -> None:
    """Recent jobs, newest first."""
    from batchline.workers.api import list_jobs as recent_jobs
    from batchline.workers.budget import summary_cost

    celery_app = _celery_app()
    jobs = recent_jobs(limit=limit, app=celery_app)

    def job_cost(job: Job) -> dict[str, Any] | None:
        return summary_cost(celery_app.runtime, job)

    table = Table(title=f"{len(jobs)} job(s)")
    # Ids and states are what people copy and grep for: never wrap or cut them.
    table.add_column("id", no_wrap=True, min_width=16)
    table.add_column("state", no_wrap=True, min_width=14)
    for column in ("model", "requests", "ok", "failed", "shards", "cost", "created"):
        table.add_column(
            column, justify="right" if column in ("requests", "ok", "failed", "cost") else "left"
        )
    for job in jobs:
        table.add_row(
            job.id,
            _state(job.state.value, job.outcome),
            job.model,
            f"{job.request_count:,}",
            str(job.counts.get("succeeded", "")),
            str(job.counts.get("failed", "")),
            str(job.shard_count),
            bill_cell(job_cost(job)),
            _when(job.created_at),
        )
    console.print(table)


@app.command("show")
@user_errors
def show(job_id: JobIdArg) -> None:
    """One job: its record, its provider batches and its callbacks."""
    from batchline.workers.api import get_job

    summary = get_job(job_id, _celery_app()).summary()
    record = Table(show_header=False, title=f"job {summary.id}")
    record.add_row("state", _state(summary.state, summary.outcome))
    for name in ("provider", "model", "response_model", "results_path", "retry_of"):
        record.add_row(name, str(getattr(summary, name) or ""))
    record.add_row("requests", f"{summary.request_count:,}")
    for name, value in sorted(summary.counts.items()):
        record.add_row(f"  {name}", f"{value:,}")
    for name in ("created_at", "submitted_at", "finished_at", "updated_at"):
        record.add_row(name, _when(getattr(summary, name)))
    if summary.cost:
        record.add_row("cost", bill_line(summary.cost))
    if summary.metadata:
        record.add_row("metadata", orjson.dumps(summary.metadata).decode())
    if summary.last_error:
        record.add_row("last error", f"[red]{summary.last_error}[/]")
    console.print(record)
    if summary.shards:
        console.print(_shards_table(summary.shards))
    if summary.callbacks:
        console.print(_callbacks_table(summary.callbacks))


def _shards_table(shards: list[dict[str, Any]]) -> Table:
    table = Table(title="provider batches")
    longest_id = max(len(shard["batch_id"] or "-") for shard in shards)
    table.add_column("shard")
    # Batch ids are copied into provider consoles and `batchline batch` commands: keep them whole.
    table.add_column("batch id", no_wrap=True, min_width=longest_id)
    for column in ("state", "status", "requests", "error"):
        table.add_column(column)
    for shard in shards:
        table.add_row(
            str(shard["index"]),
            shard["batch_id"] or "-",
            shard["state"],
            shard["provider_status"] or shard["status"],
            f"{shard['requests']:,}",
            shard["error"][:80],
        )
    return table


def _callbacks_table(callbacks: list[dict[str, Any]]) -> Table:
    table = Table(title="callbacks")
    for column in ("kind", "target", "state", "attempts", "last error"):
        table.add_column(column)
    for entry in callbacks:
        table.add_row(
            entry["kind"],
            entry["target"],
            entry["state"],
            str(entry["attempts"]),
            entry["last_error"][:80],
        )
    return table


@app.command("results")
@user_errors
def results(
    job_id: JobIdArg,
    output_file: Annotated[
        Path | None, typer.Option("--output-file", help="Write every result as JSONL")
    ] = None,
    show_rows: Annotated[int, typer.Option("--show", help="Results to print")] = 10,
) -> None:
    """A finished job's results: counts by outcome, the first few, and optionally a file."""
    from batchline.workers.api import get_job

    handle = get_job(job_id, _celery_app())
    kinds: Counter[str] = Counter()
    preview = Table(title=f"results of job {job_id} (first {show_rows})")
    for column in ("custom_id", "outcome", "result or error"):
        preview.add_column(column)
    with ExitStack() as files:
        sink = files.enter_context(open(output_file, "wb")) if output_file else None
        for number, result in enumerate(handle.iter_results()):
            data = result.to_dict()
            kind = outcome_of(result)
            kinds[kind] += 1
            if sink is not None:
                sink.write(orjson.dumps(data) + b"\n")
            if number < show_rows:
                detail = data["result"] if result.success else data["error_message"]
                text = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
                preview.add_row(result.custom_id, kind, text[:100])
    console.print(preview)
    print_outcomes(kinds, output_file)


@app.command("cancel")
@user_errors
def cancel(job_id: JobIdArg) -> None:
    """Ask the workers to cancel a job (finished requests keep their results)."""
    from batchline.workers.api import get_job
    from batchline.workers.jobs import OUTCOME_STATES, RESULTS_READY_STATES

    handle = get_job(job_id, _celery_app())
    job = handle.job()
    if job.state in OUTCOME_STATES | RESULTS_READY_STATES:
        ended = job.outcome or job.state.value
        console.print(f"job {job_id} has already finished ({ended}): nothing to cancel")
        return
    handle.cancel()
    console.print(f"job {job_id}: cancel requested; the workers will stop it")


@app.command("retry")
@user_errors
def retry(
    job_id: JobIdArg,
    error_type: ErrorTypesOpt = None,
) -> None:
    """Queue a finished job's failed requests as a new job (asking again gives the same one)."""
    from batchline.batching.results import RETRYABLE_ERRORS
    from batchline.workers.api import get_job

    handle = get_job(job_id, _celery_app())
    retried = handle.retry_failed(error_type or RETRYABLE_ERRORS)
    console.print(
        f"job {job_id}: {retried.job().request_count:,} failed request(s) retried as job "
        f"[bold]{retried.id}[/]"
    )


@app.command("orphans")
@user_errors
def orphans(
    provider: Annotated[
        list[str] | None,
        typer.Option(help="Search only this provider (repeatable; default: every one configured)"),
    ] = None,
    scan: Annotated[
        int | None,
        typer.Option(help="Recent batches read per provider (default BATCHLINE_RECONCILE_SCAN)"),
    ] = None,
    cancel: Annotated[bool, typer.Option(help="Cancel the orphans still running")] = False,
) -> None:
    """Provider batches batchline submitted that no job record knows (left by a lost Redis),
    with their status and age; --cancel stops paying for the ones still running."""
    from batchline.errors import InvalidRequestError
    from batchline.workers.api import cancel_orphans, list_orphans

    if scan is not None and scan < 1:
        raise InvalidRequestError(f"--scan must be at least 1, got {scan}")
    celery_app = _celery_app()
    report = list_orphans(provider or None, scan=scan, app=celery_app)
    found = report.orphans
    if cancel:
        found = cancel_orphans(found, app=celery_app)
    table = Table(title=f"{len(found)} orphan batch(es)")
    table.add_column("provider", no_wrap=True)
    table.add_column("batch id", no_wrap=True)
    table.add_column("job id", no_wrap=True, min_width=16)
    for column in ("shard", "status", "age"):
        table.add_column(column, justify="right" if column != "status" else "left")
    if cancel:
        table.add_column("cancel")
    for orphan in found:
        row = [
            orphan.provider,
            orphan.batch_id,
            orphan.job_id,
            str(orphan.shard),
            f"{orphan.status.value} ({orphan.provider_status})",
            _age(orphan.age),
        ]
        table.add_row(*row, *([orphan.cancel_result] if cancel else []))
    console.print(table)
    for name, count in sorted(report.unverified.items()):
        console.print(
            f"{name}: {count} batch(es) no job knows are still processing; their custom ids "
            "(batchline's mark) can be read once they end: run this again then"
        )
    for name, why in sorted(report.skipped.items()):
        console.print(f"{name}: not searched, {why}")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
