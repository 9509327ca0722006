"""Long-running processes: the sandbox, Celery worker and beat, Flower, and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchline.cli.common import console


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
    passthrough = {"allow_extra_args": True, "ignore_unknown_options": True}
    app.command("worker", context_settings=passthrough)(worker)
    app.command("beat", context_settings=passthrough)(beat)


def sandbox(
    port: Annotated[int, typer.Option(help="Port for the provider APIs")] = 8900,
    gcs_port: Annotated[int, typer.Option(help="Port for Cloud Storage")] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed for fault injection")] = 0,
    error_rate: Annotated[float, typer.Option(help="Share of requests that error")] = 0.0,
    invalid_json_rate: Annotated[float, typer.Option(help="Share answering invalid JSON")] = 0.0,
    schema_violation_rate: Annotated[float, typer.Option(help="Share violating schema")] = 0.0,
    truncated_rate: Annotated[float, typer.Option(help="Share cut at max_tokens")] = 0.0,
    refusal_rate: Annotated[float, typer.Option(help="Share refused")] = 0.0,
    http_429_rate: Annotated[float, typer.Option(help="Share of API calls answered 429")] = 0.0,
    http_500_rate: Annotated[float, typer.Option(help="Share of API calls answered 500")] = 0.0,
    http_503_rate: Annotated[float, typer.Option(help="Share of API calls answered 503")] = 0.0,
    batch_outcome: Annotated[
        str | None, typer.Option(help="fail_validation, expire or cancel every batch")
    ] = None,
    completion_delay: Annotated[float, typer.Option(help="Seconds until a batch ends")] = 1.0,
) -> None:
    """Run the provider sandbox in the foreground and print the env vars that point at it."""
    from batchline.sandbox import Faults, Sandbox

    faults = Faults(
        seed=seed,
        error_rate=error_rate,
        invalid_json_rate=invalid_json_rate,
        schema_violation_rate=schema_violation_rate,
        truncated_rate=truncated_rate,
        refusal_rate=refusal_rate,
        http_429_rate=http_429_rate,
        http_500_rate=http_500_rate,
        http_503_rate=http_503_rate,
        batch_outcome=batch_outcome,  # type: ignore[arg-type]
        completion_delay=completion_delay,
    )
    sb = Sandbox(host=host, port=port, gcs_port=gcs_port, faults=faults)
    console.print(f"[bold green]batchline sandbox[/] on {sb.base_url}")
    console.print(f"  OpenAI     {sb.openai_base_url}")
    console.print(f"  Anthropic  {sb.anthropic_base_url}")
    console.print(f"  Vertex AI  {sb.google_base_url}")
    console.print(f"  GCS        {sb.gcs_url}")
    console.print("\nExport these to point batchline and the official SDKs at it:")
    for key, value in sb.env.items():
        print(f"export {key}={value}")
    sb.serve_forever()


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Threads per worker (default BATCHLINE_WORKER_CONCURRENCY, 16)"),
    ] = None,
    pool: Annotated[
        str, typer.Option(help="Celery pool; threads fit the HTTP-bound work best")
    ] = "threads",
    queues: Annotated[
        str | None,
        typer.Option(
            help="Queues to consume (default: BATCHLINE_QUEUE and its .finish and .poll queues)"
        ),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="Worker node name")] = None,
) -> None:
    """Run a Celery worker for batchline's jobs (same as ``celery -A batchline.workers.app
    worker`` with batchline's defaults); any further option goes to Celery as it is."""
    from batchline.workers.app import app as celery_app
    from batchline.workers.routing import consumed_queues

    settings = celery_app.runtime.settings
    argv = [
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--queues={queues or ','.join(consumed_queues(settings.queue))}",
        f"--loglevel={loglevel}",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_app.worker_main([*argv, *ctx.args])


def beat(
    ctx: typer.Context,
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
    schedule: Annotated[Path, typer.Option(help="File where beat keeps its last run times")] = Path(
        "celerybeat-schedule"
    ),
) -> None:
    """Run the one beat process that schedules polling (run exactly one; a second one is
    harmless but wasteful: every tick takes a short Redis lock). Further options go to Celery."""
    from batchline.workers.app import app as celery_app

    celery_app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}", *ctx.args])
