"""``python -m benchmarks``: measure, print the tables, and write ``docs/performance.md``.

The full run writes the document; ``--quick`` and ``--only`` runs print only (unless
``--output`` says where to write), so a partial run never replaces the full figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from benchmarks.machine import describe_machine, load_average
from benchmarks.pipeline import run_pipeline
from benchmarks.pipeline_figures import PipelineResults
from benchmarks.report import (
    Cells,
    markdown_document,
    pipeline_cells,
    print_tables,
    side_by_side_cells,
    target_checks,
    targets_cells,
)
from benchmarks.suite import FULL_PLAN, QUICK_PLAN, Plan, Row, run_build, run_parse

PARTS = ("build", "parse", "pipeline")
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="batchline's throughput, memory and overhead, side by side with instructor.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and one run each: a fast check, not figures to quote",
    )
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only this part (repeat for several)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the Markdown report here (default: docs/performance.md, "
        "for full runs of every part only)",
    )
    return parser.parse_args(argv)


def redis_version() -> str:
    import redis

    from benchmarks.service import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def run(
    plan: Plan, parts: Sequence[str], console: Console
) -> tuple[list[Row], PipelineResults | None]:
    def progress(line: str) -> None:
        console.log(line, highlight=False)

    rows: list[Row] = []
    if "build" in parts:
        rows += run_build(plan, progress)
    if "parse" in parts:
        rows += run_parse(plan, progress)
    pipeline = None
    if "pipeline" in parts:
        try:
            pipeline = run_pipeline(plan.pipeline, progress)
        except Exception as exc:  # keep the build and parse figures of a long run
            console.print_exception()
            pipeline = PipelineResults(plan.pipeline, notes=[f"the pipeline part failed: {exc!r}"])
    return rows, pipeline


def tables_for(rows: list[Row], pipeline: PipelineResults | None) -> list[Cells]:
    tables = [targets_cells(target_checks(rows, pipeline))]
    if any(row.part == "build" for row in rows):
        tables.append(side_by_side_cells(rows, "build"))
    if any(row.part == "parse" for row in rows):
        tables.append(side_by_side_cells(rows, "parse"))
    if pipeline is not None:
        tables.append(pipeline_cells(pipeline))
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    parts = tuple(args.only or PARTS)
    # Piped output (CI logs, ``tee``) would otherwise wrap the tables at 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 220)
    progress_console = Console(stderr=True)
    started = time.monotonic()
    machine = describe_machine()
    if "pipeline" in parts:
        machine = dataclasses.replace(machine, redis_server=redis_version())
    rows, pipeline = run(plan, parts, progress_console)
    elapsed = time.monotonic() - started
    machine = dataclasses.replace(machine, load_at_end=load_average())
    tables = tables_for(rows, pipeline)
    print_tables(console, tables)
    console.print(f"Run time: {elapsed / 60:.1f} min")
    output = args.output
    if output is None and not args.quick and parts == PARTS:
        output = DEFAULT_OUTPUT
    if output is not None:
        command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
        document = markdown_document(machine, plan, tables, elapsed, command.strip())
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(document + "\n", encoding="utf-8")
        console.print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
