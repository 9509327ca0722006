"""The ``batchline`` command. Each command group lives in its own module and imports the heavy
parts (SDKs, Celery) only inside the commands that need them, so ``--help`` stays instant."""

from __future__ import annotations

import typer

from batchline.cli import batch, jobs, ops, services

app = typer.Typer(
    name="batchline",
    help="Run large LLM jobs through the providers' batch APIs at half price.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(
    batch.app,
    name="batch",
    help="Provider batches: create-from-file, list, status, cancel, results, retry-file.",
)
app.add_typer(
    jobs.app,
    name="jobs",
    help="Jobs run by batchline's workers: list, show, results, cancel, retry.",
)
services.register(app)
ops.register(app)


def main() -> None:
    app()
