"""Operations commands: ``batchline flower`` (monitoring) and ``batchline demo`` (a tour).

Flower's API can fire and revoke tasks, so ``batchline flower`` will not start without
credentials unless the operator says ``--unauthenticated`` out loud. The credentials travel to
Flower in its own ``FLOWER_BASIC_AUTH`` variable, never on the command line, where ``ps`` shows
them to every user of the machine.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from batchline.cli.common import (
    console,
    err_console,
    require_redis,
    user_errors,
)
from batchline.errors import ConfigurationError

if TYPE_CHECKING:
    from batchline.demo import DemoReport, JobProgress

#: The Celery application Flower monitors (the one the workers run).
CELERY_APP = "batchline.workers.app"


def register(app: typer.Typer) -> None:
    """Add the operations commands to the top-level app."""
    app.command("flower")(flower)
    app.command(
        "demo", short_help="Run one job per provider end to end and show what batching saved."
    )(demo)


def check_basic_auth(value: str) -> list[str]:
    """Split ``FLOWER_BASIC_AUTH`` into ``user:password`` pairs, refusing unusable ones.

    Flower splits the value on commas and compares each pair whole, so a pair without a colon or
    with an empty password would either lock everyone out or let an empty password in.
    """
    pairs = [pair.strip() for pair in value.split(",") if pair.strip()]
    if not pairs:
        raise ConfigurationError("FLOWER_BASIC_AUTH is empty; set it to user:password")
    for number, pair in enumerate(pairs, start=1):
        user, sep, password = pair.partition(":")
        if not sep or not user or not password:
            # Name the entry by position only: what was typed may be a password.
            raise ConfigurationError(
                "FLOWER_BASIC_AUTH must be user:password (several separated by commas); "
                f"entry {number} lacks a user or a password"
            )
    return pairs


def flower_command(
    *, address: str, port: int, basic_auth: str | None, unauthenticated: bool, extra: list[str]
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start Flower on batchline's Celery app.

    Raises:
        ConfigurationError: no credentials and no ``--unauthenticated``, or unusable credentials.
    """
    env = dict(os.environ)
    if basic_auth:
        env["FLOWER_BASIC_AUTH"] = ",".join(check_basic_auth(basic_auth))
        env.pop("FLOWER_UNAUTHENTICATED_API", None)
    elif unauthenticated:
        env.pop("FLOWER_BASIC_AUTH", None)
        # Flower's HTTP API answers 401 to everyone without this, even with no auth configured.
        env["FLOWER_UNAUTHENTICATED_API"] = "true"
    else:
        raise ConfigurationError(
            "Flower can run and revoke tasks, so it needs credentials: set "
            "FLOWER_BASIC_AUTH=user:password, or pass --unauthenticated on a trusted machine"
        )
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "flower",
        f"--address={address}",
        f"--port={port}",
        *extra,
    ]
    return argv, env


@user_errors
def flower(
    port: Annotated[int, typer.Option(help="Port for Flower's web UI and API")] = 5555,
    address: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 inside a container)")
    ] = "127.0.0.1",
    unauthenticated: Annotated[
        bool,
        typer.Option(
            "--unauthenticated",
            help="Start without FLOWER_BASIC_AUTH: anyone who can reach the port can run tasks",
        ),
    ] = False,
    extra: Annotated[
        list[str] | None,
        typer.Argument(help="More Flower options, after --, e.g. -- --url_prefix=flower"),
    ] = None,
) -> None:
    """Run Flower, Celery's monitoring UI, on batchline's workers (basic auth required)."""
    from batchline.config import get_settings
    from batchline.ports import check_port_free

    argv, env = flower_command(
        address=address,
        port=port,
        basic_auth=get_settings().flower_basic_auth,
        unauthenticated=unauthenticated,
        extra=list(extra or []),
    )
    # Flower would print a traceback for either, and keep retrying a Redis that is not there.
    require_redis()
    check_port_free(address, port, "Flower")
    if "FLOWER_BASIC_AUTH" not in env:
        err_console.print(
            "[bold yellow]warning:[/] Flower is running without authentication", highlight=False
        )
    console.print(f"Flower on http://{address}:{port}", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process so that signals (Ctrl-C, docker stop) reach Flower directly.
    os.execve(sys.executable, argv, env)


@user_errors
def demo(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="provider/model-name to run for real (repeatable); none: the offline sandbox",
        ),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Use the sandbox even with --model")
    ] = False,
    requests: Annotated[int, typer.Option(min=1, max=100, help="Requests per job")] = 5,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for the jobs (default 120 on the sandbox, 86400 live)"),
    ] = None,
    log_dir: Annotated[
        Path | None, typer.Option(help="Keep the worker's and beat's logs here")
    ] = None,
) -> None:
    """Run one job per provider end to end (sandbox, Redis, worker, beat, callbacks) and show
    what the batch APIs saved. Offline with no arguments; real providers with --model."""
    from rich.live import Live

    from batchline.config import get_settings
    from batchline.demo import DemoEvents, DemoOptions, run_demo

    # The demo starts its own redis-server when none answers, but a typo cannot be guessed.
    from batchline.workers.stores.connection import quick_client

    quick_client(get_settings().redis_url).close()

    options = DemoOptions(
        models=tuple(model or ()), sandbox=sandbox, requests_per_job=requests, log_dir=log_dir
    )
    default_timeout = 120.0 if options.uses_sandbox else 86400.0
    options = replace(options, timeout=timeout or default_timeout)
    where = "the local sandbox" if options.uses_sandbox else "the real providers"
    console.print(f"[bold]batchline demo[/]: {len(options.job_models)} job(s) on {where}")
    with Live(console=console, refresh_per_second=8, transient=True) as live:
        events = DemoEvents(
            on_step=lambda text: live.console.print(f"  [green]\u2713[/] {text}", highlight=False),
            on_progress=lambda jobs: live.update(progress_table(jobs)),
        )
        try:
            report = run_demo(options, events)
        except KeyboardInterrupt:
            live.stop()
            print_interrupted(console, events.interrupted, options.uses_sandbox)
            raise typer.Exit(130) from None
        except (TimeoutError, ChildProcessError) as exc:
            live.stop()
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    print_report(console, report)


# -- what the demo shows ------------------------------------------------------------------------

#: Job states in the colour the live table shows them in.
_STATE_STYLE = {"callbacks_done": "green", "results_stored": "green", "failed": "red"}


def progress_table(jobs: list[JobProgress]) -> Table:
    """The live view: one row per job, redrawn as its state changes."""
    table = Table(title="jobs", title_justify="left")
    for column in ("model", "job", "state", "requests", "counts"):
        table.add_column(column)
    for job in jobs:
        style = _STATE_STYLE.get(job.state, "yellow")
        counts = ", ".join(f"{name} {value}" for name, value in sorted(job.counts.items()))
        table.add_row(job.model, job.job_id, f"[{style}]{job.state}[/]", str(job.requests), counts)
    return table


def _dollars(value: float | None) -> str:
    """Dollars, to the millionth below a cent: demo jobs cost fractions of a cent."""
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.6f}"


def print_report(out: Console, report: DemoReport) -> None:
    """Results per job, what the callbacks said, and what batching saved at list prices."""
    table = Table(title=f"results after {report.elapsed:.0f} s", title_justify="left")
    for column in ("model", "outcome", "typed", "tokens in/out"):
        table.add_column(column)
    for column in ("live", "batch", "saved"):
        table.add_column(column, justify="right")
    for job in report.jobs:
        saved = None
        if job.live_cost is not None and job.batch_cost is not None:
            saved = job.live_cost - job.batch_cost
        table.add_row(
            job.model,
            job.outcome or job.state,
            f"{job.succeeded}/{job.requests}",
            f"{job.tokens.input:,}/{job.tokens.output:,}",
            _dollars(job.live_cost),
            _dollars(job.batch_cost),
            _dollars(saved),
        )
    out.print(table)
    out.print("[bold]callbacks[/] (run by the worker when each job's results were stored):")
    for line in report.callback_lines or ["(none ran)"]:
        out.print(f"  {line}", highlight=False)
    live = sum(job.live_cost or 0.0 for job in report.jobs)
    share = f" ({report.saved / live:.0%})" if live else ""
    out.print(
        f"[bold]saved {_dollars(report.saved)}{share}[/] against live calls, at "
        f"{report.prices.currency} list prices of {report.prices.as_of.isoformat()} "
        "(batchline/data/prices.json)",
        highlight=False,
    )
    unpriced = [job.model for job in report.jobs if job.price is None]
    if unpriced:
        out.print(f"no list price for {', '.join(unpriced)}", highlight=False)
    if report.sandbox:
        out.print(
            "[dim]Token counts came from the sandbox. With real keys: "
            "batchline demo --model openai/gpt-4.1-mini[/]"
        )


def print_interrupted(out: Console, jobs: list[JobProgress], sandbox: bool) -> None:
    """After Ctrl-C: everything the demo started is stopped; say what may still run."""
    out.print("[yellow]interrupted[/]: worker, beat and everything else the demo started stopped")
    batch_ids = [(job.model, batch_id) for job in jobs for batch_id in job.batch_ids]
    if sandbox or not batch_ids:
        return
    out.print("These provider batches may still run (and be billed). To cancel them:")
    for model, batch_id in batch_ids:
        out.print(
            f"  batchline batch cancel --model {model} --batch-id {batch_id}", highlight=False
        )
