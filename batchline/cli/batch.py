"""``batchline batch ...``: the guide's CLI commands, for one provider batch at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from batchline.cli.common import (
    ErrorTypesOpt,
    console,
    load_model,
    outcome_of,
    print_outcomes,
    user_errors,
)
from batchline.errors import InvalidRequestError

if TYPE_CHECKING:
    from batchline.batching.results import BatchError

app = typer.Typer(no_args_is_help=True)

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="provider/model-name, e.g. openai/gpt-4.1-mini"),
]
ResponseModelOpt = Annotated[
    str | None,
    typer.Option(
        "--response-model",
        help="Import path of the pydantic model to parse into (pkg.module:Model); "
        "without it, any JSON object is accepted.",
    ),
]


def _processor(model: str | None, batch_id: str | None, response_model: str | None) -> Any:
    """The processor for ``--model``; without it, for the provider whose batch ids look like
    ``batch_id`` (each provider's differ, so the guide's ``results`` needs no --model) and that
    provider's example model, since reading a batch depends on no model."""
    from batchline.batching import BatchProcessor
    from batchline.batching.providers import provider_for_batch_id

    if model is None:
        if batch_id is None:
            raise InvalidRequestError("--model is required (provider/model-name)")
        provider = provider_for_batch_id(batch_id)
        model = f"{provider.name}/{provider.example_model}"
    return BatchProcessor(model, load_model(response_model))


@app.command("list")
@user_errors
def list_batches(
    model: ModelOpt = None,
    limit: Annotated[int, typer.Option(help="How many recent batches")] = 10,
) -> None:
    """List recent batches of the model's provider, newest first."""
    batches = _processor(model, None, None).list_batches(limit=limit)
    table = Table(title=f"{len(batches)} batch(es)")
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True, min_width=10)
    for column in ("provider status", "done/total", "failed", "created"):
        table.add_column(column)
    for info in batches:
        counts = info.request_counts
        table.add_row(
            info.id,
            info.status.value,
            info.provider_status,
            f"{counts.completed}/{counts.total}",
            str(counts.failed),
            info.created_at.strftime("%Y-%m-%d %H:%M") if info.created_at else "",
        )
    console.print(table)


@app.command("create-from-file")
@user_errors
def create_from_file(
    file_path: Annotated[Path, typer.Option("--file-path", help="JSONL request file")],
    model: ModelOpt = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="key=value, repeatable")
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="Refuse the file if it may cost more (dollars)"),
    ] = None,
) -> None:
    """Submit an existing request file as one provider batch."""
    pairs = dict(item.split("=", 1) for item in metadata or [] if "=" in item)
    processor = _processor(model, None, None)
    batch_id = processor.submit_batch(str(file_path), metadata=pairs or None, max_cost=max_cost)
    console.print(f"Batch submitted: [bold]{batch_id}[/]")


@app.command("estimate")
@user_errors
def estimate(
    file_path: Annotated[Path, typer.Option("--file-path", help="JSONL request file")],
    model: ModelOpt = None,
) -> None:
    """What a request file would cost, estimated offline: nothing is uploaded."""
    from batchline.cli.costs import estimate_table

    console.print(estimate_table(_processor(model, None, None).estimate_cost(file_path)))


@app.command("status")
@user_errors
def status(
    batch_id: Annotated[str, typer.Option("--batch-id")],
    model: ModelOpt = None,
) -> None:
    """Show one batch's status and request counts."""
    info = _processor(model, batch_id, None).get_batch_status(batch_id)
    table = Table(show_header=False)
    for key in ("id", "status", "provider_status", "created_at", "completed_at", "error"):
        table.add_row(key, str(info.get(key) or ""))
    for key, value in info["request_counts"].items():
        table.add_row(f"requests {key}", str(value))
    console.print(table)


@app.command("cancel")
@user_errors
def cancel(
    batch_id: Annotated[str, typer.Option("--batch-id")],
    model: ModelOpt = None,
) -> None:
    """Ask the provider to cancel a batch (finished requests keep their results)."""
    from batchline.batching.status import BatchStatus

    processor = _processor(model, batch_id, None)
    before = processor.get_batch(batch_id)
    if before.status.is_terminal:
        console.print(
            f"{batch_id} has already ended ({before.status.value}, "
            f"{before.provider_status}): nothing to cancel"
        )
        return
    info = processor.cancel_batch(batch_id)
    ending = info["status"] in (BatchStatus.CANCELLING.value, BatchStatus.CANCELLED.value)
    said = "cancel requested" if ending else "the provider did not cancel it"
    console.print(f"{batch_id}: {said}; now {info['status']} ({info['provider_status']})")


@app.command("results")
@user_errors
def results(
    batch_id: Annotated[str, typer.Option("--batch-id")],
    output_file: Annotated[
        Path | None, typer.Option("--output-file", help="Write parsed results as JSONL")
    ] = None,
    model: ModelOpt = None,
    response_model: ResponseModelOpt = None,
    raw: Annotated[bool, typer.Option(help="Write the provider's raw lines instead")] = False,
) -> None:
    """Download a finished batch's results, a line at a time, with a progress bar."""
    processor = _processor(model, batch_id, response_model)
    total = processor.get_batch_status(batch_id)["request_counts"]["total"] or None
    kinds: Counter[str] = Counter()
    with (
        open(output_file, "wb") if output_file else _NullSink() as sink,
        Progress(
            TextColumn("[bold]downloading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("results", total=total)
        raw_sink = sink if raw and output_file else None
        for result in processor.iter_results(batch_id, raw_sink=raw_sink):
            kinds[outcome_of(result)] += 1
            if output_file and not raw:
                sink.write(orjson.dumps(result.to_dict()) + b"\n")
            progress.advance(task)
    print_outcomes(kinds, output_file)


@app.command("retry-file")
@user_errors
def retry_file(
    file_path: Annotated[Path, typer.Option("--file-path", help="The batch's JSONL request file")],
    results_file: Annotated[
        Path,
        typer.Option("--results-file", help="Its results, as written by `batch results`"),
    ],
    output_file: Annotated[Path, typer.Option("--output-file", help="The retry request file")],
    model: ModelOpt = None,
    error_type: ErrorTypesOpt = None,
) -> None:
    """Write a request file of only the failed requests, to submit again with create-from-file."""
    from batchline.batching.results import RETRYABLE_ERRORS

    errors = list(_errors_in(results_file))
    kinds = error_type or sorted(RETRYABLE_ERRORS)
    if not any(str(e.error_type) in kinds for e in errors):
        # Nothing failed that way: a good outcome, not an error; no file is written.
        console.print(f"nothing to retry: no request failed with {', '.join(kinds)}")
        return
    _processor(model, None, None).create_retry_batch(
        str(file_path), errors, output_file, error_types=kinds
    )
    chosen = Counter(str(e.error_type) for e in errors if str(e.error_type) in kinds)
    print_outcomes(chosen, output_file)


def _errors_in(results_file: Path) -> Iterator[BatchError]:
    """The errors of a parsed results file (``batch results --output-file``), a line at a time."""
    from batchline.batching.results import BatchError

    with open(results_file, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
                if data["success"]:
                    continue
                yield BatchError(data["custom_id"], data["error_type"], data["error_message"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise InvalidRequestError(
                    f"{results_file} line {number} is not a parsed result: write the results "
                    "with `batchline batch results --output-file` (without --raw)"
                ) from None


class _NullSink:
    def __enter__(self) -> _NullSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        return len(data)
