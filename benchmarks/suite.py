"""What to measure and in which order: sizes, runs, and the side-by-side rows of parts 1 and 2.

Runs of batchline and instructor are interleaved (batchline run 1, instructor run 1, batchline
run 2, ...), so a slow minute on the machine hits both libraries rather than one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import build, parse
from benchmarks.isolation import Measurement, Summary, run_isolated
from benchmarks.pipeline_figures import PipelinePlan
from benchmarks.result_lines import write_result_file

PROVIDERS = ("openai", "anthropic", "google")

#: Receives one line of progress per measurement.
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes and run counts of one benchmark run."""

    build_sizes: tuple[int, ...]
    parse_sizes: tuple[int, ...]
    #: Runs per figure (the figure is their median).
    runs: int
    #: Sizes at or above this count as large and get the ``large_*_runs`` below.
    large_size: int
    large_build_runs: int
    large_parse_runs: int
    #: Largest size at which instructor's build is measured (it writes ~800 requests/s).
    instructor_build_max: int
    #: Largest size at which instructor's parse is measured.
    instructor_parse_max: int
    pipeline: PipelinePlan = field(default_factory=PipelinePlan)
    providers: tuple[str, ...] = PROVIDERS

    def build_runs(self, size: int) -> int:
        return self.large_build_runs if size >= self.large_size else self.runs

    def parse_runs(self, size: int) -> int:
        return self.large_parse_runs if size >= self.large_size else self.runs


FULL_PLAN = Plan(
    build_sizes=(50_000, 1_000_000),
    parse_sizes=(50_000, 1_000_000),
    runs=3,
    large_size=1_000_000,
    large_build_runs=1,
    large_parse_runs=1,
    instructor_build_max=50_000,
    instructor_parse_max=1_000_000,
    pipeline=PipelinePlan(),
)

QUICK_PLAN = Plan(
    build_sizes=(5_000,),
    parse_sizes=(5_000,),
    runs=1,
    large_size=1_000_000,
    large_build_runs=1,
    large_parse_runs=1,
    instructor_build_max=5_000,
    instructor_parse_max=5_000,
    pipeline=PipelinePlan.quick(),
)


@dataclass(slots=True)
class Row:
    """One line of the build or parse table: batchline beside instructor on the same input."""

    part: str
    provider: str
    mode: str
    size: int
    batchline: Summary
    instructor: Summary | None = None
    #: Why instructor has no figure in this row, when it has none.
    instructor_note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.instructor is None:
            return None
        return self.batchline.rate / self.instructor.rate


def _measure_side_by_side(
    runs: int,
    libraries: list[str],
    target: Callable[..., Measurement],
    args: tuple[object, ...],
    label: str,
    progress: Progress,
) -> dict[str, Summary]:
    """``runs`` isolated runs of ``target(library, *args)`` per library, alternating."""
    collected: dict[str, list[Measurement]] = {library: [] for library in libraries}
    for run in range(1, runs + 1):
        for library in libraries:
            measurement = run_isolated(target, library, *args)
            collected[library].append(measurement)
            progress(
                f"{label} {library:<10} run {run}/{runs}: {measurement.rate:>12,.0f}/s  "
                f"{measurement.seconds:7.2f} s  peak {measurement.peak_rss / 2**20:7.0f} MB"
            )
    return {library: Summary.of(found) for library, found in collected.items()}


def _row(
    part: str,
    provider: str,
    mode: str,
    size: int,
    *,
    runs: int,
    instructor_max: int,
    target: Callable[..., Measurement],
    args: tuple[object, ...],
    progress: Progress,
    skip_instructor: str = "",
) -> Row:
    """Measure one row: batchline, and instructor beside it unless ``skip_instructor`` says why
    not, instructor has no such provider, or the size is beyond ``instructor_max``."""
    note = skip_instructor
    if not note and provider not in build.INSTRUCTOR_PROVIDERS:
        note = "no Google batch support in instructor 1.17"
    elif not note and size > instructor_max:
        note = f"not run (measured at {instructor_max:,} only)"
    libraries = ["batchline"] if note else ["batchline", "instructor"]
    label = f"{part} {provider:<9} {mode:<6} {size:>9,}"
    summaries = _measure_side_by_side(runs, libraries, target, args, label, progress)
    return Row(
        part, provider, mode, size, summaries["batchline"], summaries.get("instructor"), note
    )


def run_build(plan: Plan, progress: Progress) -> list[Row]:
    return [
        _row(
            "build",
            provider,
            mode,
            size,
            runs=plan.build_runs(size),
            instructor_max=plan.instructor_build_max,
            target=build.measure_build,
            args=(provider, mode, size),
            progress=progress,
        )
        for size in plan.build_sizes
        for provider in plan.providers
        for mode in build.MODES
    ]


def run_parse(plan: Plan, progress: Progress) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="batchline-bench-results-") as workdir:
        for size in plan.parse_sizes:
            for provider in plan.providers:
                path = Path(workdir) / f"{provider}-{size}.jsonl"
                written = write_result_file(provider, size, path)
                progress(
                    f"parse {provider:<9} {size:>9,}: {written.bytes / 2**20:,.0f} MB of result "
                    f"lines, {written.error_lines:,} errors"
                )
                for mode in parse.MODES:
                    row = _row(
                        "parse",
                        provider,
                        mode,
                        size,
                        runs=plan.parse_runs(size),
                        instructor_max=plan.instructor_parse_max,
                        target=parse.measure_parse,
                        args=(provider, mode, str(path), written.lines, written.error_lines),
                        progress=progress,
                        skip_instructor="instructor has no streaming parse"
                        if mode == "stream"
                        else "",
                    )
                    rows.append(row)
                path.unlink()
    return rows
