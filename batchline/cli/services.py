"""Long-running processes: the sandbox, Celery worker and beat, Flower, and the demo."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from batchline.cli.common import console, err_console, fail, require_redis
from batchline.errors import BatchlineError, ConfigurationError

if TYPE_CHECKING:
    from batchline.sandbox import Sandbox
    from batchline.workers.app import BatchlineCelery


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
    passthrough = {"allow_extra_args": True, "ignore_unknown_options": True}
    # One-line summaries for the top-level list; each command's --help has the whole story.
    app.command(
        "worker",
        context_settings=passthrough,
        short_help="Run a Celery worker for batchline's jobs.",
    )(worker)
    app.command(
        "beat", context_settings=passthrough, short_help="Run the one beat that schedules polling."
    )(beat)


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
    try:
        sb = _start_sandbox(
            host=host,
            port=port,
            gcs_port=gcs_port,
            seed=seed,
            error_rate=error_rate,
            invalid_json_rate=invalid_json_rate,
            schema_violation_rate=schema_violation_rate,
            truncated_rate=truncated_rate,
            refusal_rate=refusal_rate,
            http_429_rate=http_429_rate,
            http_500_rate=http_500_rate,
            http_503_rate=http_503_rate,
            batch_outcome=batch_outcome,
            completion_delay=completion_delay,
        )
    except BatchlineError as exc:
        fail(str(exc))
    console.print(f"[bold green]batchline sandbox[/] on {sb.base_url}")
    console.print(f"  OpenAI     {sb.openai_base_url}")
    console.print(f"  Anthropic  {sb.anthropic_base_url}")
    console.print(f"  Vertex AI  {sb.google_base_url}")
    console.print(f"  GCS        {sb.gcs_url}")
    console.print("\nExport these to point batchline and the official SDKs at it:")
    for key, value in sb.env.items():
        print(f"export {key}={value}")
    sys.stdout.flush()
    sb.serve_forever()


def _start_sandbox(
    *,
    host: str,
    port: int,
    gcs_port: int,
    batch_outcome: str | None,
    **faults: Any,
) -> Sandbox:
    """Check the fault settings and start the servers, before anything is printed: a bad
    setting or a taken port is then the only line the user sees."""
    from batchline.sandbox import Faults, Sandbox

    sb = Sandbox(
        host=host,
        port=port,
        gcs_port=gcs_port,
        faults=Faults(batch_outcome=batch_outcome, **faults),  # type: ignore[arg-type]
    )
    return sb.start()


IncludeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        "-I",
        help="Module to import at start (repeatable), e.g. your response models and "
        "callbacks; also BATCHLINE_INCLUDE=mod1,mod2",
    ),
]


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
        str | None, typer.Option(help="Queues to consume (default BATCHLINE_QUEUE)")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="Worker node name")] = None,
    include: IncludeOpt = None,
) -> None:
    """Run a Celery worker for batchline's jobs (same as 'celery -A batchline.workers.app
    worker' with batchline's defaults). The current directory is importable, as with
    'celery -A', so models and callbacks in your project load; any further option goes to
    Celery as it is."""
    celery_app = _prepare(include)
    settings = celery_app.runtime.settings
    argv = [
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--queues={queues or settings.queue}",
        f"--loglevel={loglevel}",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    raise typer.Exit(run_celery(celery_app, [*argv, *ctx.args]))


def beat(
    ctx: typer.Context,
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
    schedule: Annotated[Path, typer.Option(help="File where beat keeps its last run times")] = Path(
        "celerybeat-schedule"
    ),
    include: IncludeOpt = None,
) -> None:
    """Run the one beat process that schedules polling (run exactly one; a second one is
    harmless but wasteful: every tick takes a short Redis lock). Further options go to Celery."""
    celery_app = _prepare(include)
    argv = ["beat", f"--loglevel={loglevel}", f"--schedule={schedule}", *ctx.args]
    raise typer.Exit(run_celery(celery_app, argv))


def _prepare(include: list[str] | None) -> BatchlineCelery:
    """What worker and beat do before Celery starts: Redis answers, the user's modules load.

    Each failure is one line and exit code 1, before Celery prints its banner.
    """
    try:
        require_redis()
        add_cwd_to_path()
        import_includes([*(include or []), *includes_from_env()])
        from batchline.workers.app import app as celery_app
    except BatchlineError as exc:
        fail(str(exc))
    return celery_app


def add_cwd_to_path() -> None:
    """Put the working directory first on ``sys.path``, as ``celery -A`` does while loading
    the app: the ``batchline`` script's own directory is there instead, so ``myjobs.py``
    beside the user would not import."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def includes_from_env() -> list[str]:
    """``BATCHLINE_INCLUDE``: module names separated by commas (for containers and
    supervisors, where a command line is harder to change than the environment)."""
    return [name.strip() for name in os.environ.get("BATCHLINE_INCLUDE", "").split(",") if name]


def import_includes(modules: list[str]) -> None:
    """Import every ``--include`` module now, so a typo stops the worker at start rather than
    failing each job that needs the module later.

    Raises:
        ConfigurationError: a module does not import; the message names it and why.
    """
    for name in modules:
        name = name.strip()
        if not name:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigurationError(
                f"--include {name}: cannot import it ({type(exc).__name__}: {exc}); run from "
                "the directory that holds it, or add that directory to PYTHONPATH"
            ) from None


def run_celery(celery_app: BatchlineCelery, argv: list[str]) -> int:
    """Run one ``celery`` sub-command on ``celery_app`` and return its exit code.

    ``Celery.worker_main`` and ``Celery.start`` drop the code the command returns, so a worker
    that stopped on an unrecoverable error would exit 0 and a supervisor with
    restart-on-failure would leave it down. This returns what ``celery worker`` itself would
    exit with (celery/app/base.py, ``start``, celery 5.x).
    """
    import click
    from celery.bin.celery import celery

    celery.params[0].default = celery_app
    try:
        code = celery.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        code = 1
    except Exception as exc:
        # Celery has logged the failure already (e.g. beat's schedule file is not writable).
        err_console.print(
            f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True
        )
        code = 1
    finally:
        celery.params[0].default = None
    return code if isinstance(code, int) else 0
