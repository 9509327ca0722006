"""Tables for the terminal (Rich) and for ``docs/performance.md``, and the target checks.

Both outputs are built from the same rows of cells, so the terminal and the document can never
disagree. Memory is in MB of 10^6 bytes, the unit the targets are written in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from benchmarks.isolation import Summary
from benchmarks.machine import Machine
from benchmarks.pipeline_figures import PipelineResults
from benchmarks.suite import Plan, Row

MB = 1_000_000
BUILD_RATIO_TARGET = 50.0
PARSE_RATIO_TARGET = 3.0
PEAK_RSS_TARGET_MB = 300.0
#: The enqueuing process (a web handler) must not grow with the job: issue 18's target.
ENQUEUE_RSS_TARGET_MB = 150.0
OVERHEAD_TARGET_S = 2.0
CALLS_TARGET = 1.0
#: The size the memory targets are written for.
LARGE = 1_000_000


@dataclass(frozen=True, slots=True)
class Cells:
    """A table as strings: a title, a header and rows (shared by Rich and Markdown)."""

    title: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class TargetCheck:
    target: str
    measured: str
    #: None when the run did not measure what the target is about.
    met: bool | None


def _rate(summary: Summary | None) -> str:
    return f"{summary.rate:,.0f}" if summary else "—"


def _peak(summary: Summary | None) -> str:
    return f"{summary.peak_rss / MB:,.0f}" if summary else "—"


def _ratio(row: Row) -> str:
    return f"{row.ratio:,.1f}x" if row.ratio is not None else "—"


def side_by_side_cells(rows: Sequence[Row], part: str) -> Cells:
    unit = "requests/s" if part == "build" else "results/s"
    header = (
        "provider",
        "mode",
        "size",
        f"batchline {unit}",
        "batchline peak MB",
        f"instructor {unit}",
        "instructor peak MB",
        "ratio",
        "runs",
        "note",
    )
    cells = []
    for row in rows:
        if row.part != part:
            continue
        runs = str(row.batchline.runs)
        if row.instructor and row.instructor.runs != row.batchline.runs:
            runs += f" / {row.instructor.runs}"
        cells.append(
            (
                row.provider,
                row.mode,
                f"{row.size:,}",
                _rate(row.batchline),
                _peak(row.batchline),
                _rate(row.instructor),
                _peak(row.instructor),
                _ratio(row),
                runs,
                row.instructor_note,
            )
        )
    title = "Build: create_batch_from_messages" if part == "build" else "Parse: result lines"
    return Cells(title, header, cells)


def pipeline_cells(results: PipelineResults) -> Cells:
    plan = results.plan
    rows: list[tuple[str, ...]] = []
    if results.enqueue:
        enqueue = results.enqueue
        rows.append(
            (
                f"enqueue_batch, {enqueue.requests:,} requests (web handler wait)",
                f"{enqueue.median * 1000:,.0f} ms",
                f"median of {len(enqueue.seconds)}; "
                f"{enqueue.requests / enqueue.median:,.0f} requests/s",
            )
        )
    if results.large_enqueue:
        large = results.large_enqueue
        rows.append(
            (
                f"enqueue_batch, {large.requests:,} requests from a generator",
                f"{large.seconds:,.1f} s, {large.peak_rss / MB:,.0f} MB peak RSS",
                f"{large.requests / large.seconds:,.0f} requests/s; process baseline "
                f"{large.baseline_rss / MB:,.0f} MB; Redis {large.bytes_per_request:,.0f} B per "
                f"stored request ({large.redis_bytes / MB:,.0f} MB), "
                f"{large.bytes_per_result:,.0f} B per stored result",
            )
        )
    for latency in results.latency:
        stages = ", ".join(f"{name} {value:.2f} s" for name, value in latency.stages.items())
        rows.append(
            (
                f"enqueue → callback, {latency.provider}, {latency.requests:,} requests",
                f"{latency.median:.2f} s",
                f"{latency.overhead:+.2f} s beyond one {latency.poll_interval:g} s poll "
                f"interval; median of {len(latency.totals)} (min {min(latency.totals):.2f}"
                f", max {max(latency.totals):.2f}); stages: {stages}",
            )
        )
    if results.throughput:
        through = results.throughput
        scale = "" if through.jobs == 1_000 else f" (scaled to {through.jobs:,} jobs)"
        timed_out = " — timed out, partial" if through.timed_out else ""
        calls_per_job = through.calls_per_job
        bound = 5 * 60 / calls_per_job if calls_per_job else 0.0
        rows.append(
            (
                f"jobs completed per minute, {through.workers} workers, "
                f"{through.requests_per_job} requests/job, {through.provider}{scale}",
                f"{through.jobs_per_minute:,.0f}",
                f"{through.completed:,}/{through.jobs:,} jobs in {through.seconds:.1f} s"
                f"{timed_out} (enqueueing took {through.enqueue_seconds:.1f} s); "
                f"{calls_per_job:.1f} provider calls/job {through.calls}; at the default "
                f"rate limit of 5 calls/s that many calls cap a provider at "
                f"{bound:,.0f} jobs/min",
            )
        )
    for pending in results.pending:
        polled = pending.polls_per_job_per_interval
        per_poll = pending.calls_per_poll
        kept = (
            "poll ticks' own reports unreadable"
            if polled is None or per_poll is None
            else f"each pending job was polled {polled:.2f} times per interval (1.00 = the "
            f"interval was kept), at {per_poll:.3f} provider calls per poll"
        )
        rows.append(
            (
                f"provider calls per pending job per interval, {pending.provider}, "
                f"{pending.pending_jobs:,} jobs pending",
                f"{pending.per_job_per_interval:.3f}",
                f"{sum(pending.calls.values()):,} calls over {pending.intervals} intervals "
                f"({pending.window_seconds:.1f} s): {pending.calls}; {kept}",
            )
        )
    if results.scale_tick is not None:
        tick = results.scale_tick
        rows.append(
            (
                f"one poll tick, {tick.pending_jobs:,} pending {tick.provider} jobs, default "
                f"limit ({tick.rate_limit:g} calls/s), 30 s interval",
                f"{tick.seconds:.1f} s",
                f"{tick.polled:,} jobs polled; {sum(tick.calls.values()):,} calls {tick.calls} = "
                f"{tick.calls_per_job:.3f} per job; every job within the interval: "
                f"{'yes' if tick.kept_interval else 'no'}",
            )
        )
    rows += [("not measured", "—", note) for note in results.notes]
    note = (
        f"poll interval {plan.poll_interval:g} s, worker rate limit "
        f"{plan.rate_limit:,.0f} calls/s, {plan.workers} worker processes"
    )
    return Cells(f"Pipeline ({note})", ("measure", "value", "detail"), rows)


# -- targets ------------------------------------------------------------------------------------
def _ratio_check(rows: Sequence[Row], part: str, goal: float) -> TargetCheck:
    compared = [row for row in rows if row.part == part and row.ratio is not None]
    label = f"{part} ≥ {goal:g}x instructor"
    if not compared:
        return TargetCheck(label, "not measured", None)
    worst = min(compared, key=lambda row: row.ratio or 0.0)
    listed = "; ".join(f"{r.provider} {r.mode} {r.size:,}: {r.ratio:,.1f}x" for r in compared)
    return TargetCheck(
        label,
        f"lowest {worst.ratio:,.1f}x ({listed})",
        all((row.ratio or 0.0) >= goal for row in compared),
    )


def _memory_check(rows: Sequence[Row], part: str, mode: str, label: str) -> TargetCheck:
    large = [row for row in rows if row.part == part and row.mode == mode and row.size >= LARGE]
    if not large:
        return TargetCheck(label, f"not measured at {LARGE:,}", None)
    listed = "; ".join(f"{r.provider} {r.batchline.peak_rss / MB:,.0f} MB" for r in large)
    met = all(row.batchline.peak_rss / MB < PEAK_RSS_TARGET_MB for row in large)
    return TargetCheck(label, listed, met)


def target_checks(rows: Sequence[Row], pipeline: PipelineResults | None) -> list[TargetCheck]:
    checks = [
        _ratio_check(rows, "build", BUILD_RATIO_TARGET),
        _ratio_check(rows, "parse", PARSE_RATIO_TARGET),
        _memory_check(
            rows,
            "build",
            "file",
            f"1,000,000-request build (file mode) < {PEAK_RSS_TARGET_MB:g} MB peak RSS",
        ),
        _memory_check(
            rows,
            "parse",
            "stream",
            f"1,000,000-line streaming parse < {PEAK_RSS_TARGET_MB:g} MB peak RSS",
        ),
    ]
    memory_rows = [r for r in rows if r.part == "build" and r.mode == "memory" and r.size >= LARGE]
    if memory_rows:
        listed = "; ".join(f"{r.provider} {r.batchline.peak_rss / MB:,.0f} MB" for r in memory_rows)
        checks.append(
            TargetCheck(
                "(for reference) 1,000,000-request build, in-memory mode",
                f"{listed} — the returned buffer holds the whole file",
                None,
            )
        )
    enqueue_label = f"1,000,000-request enqueue_batch < {ENQUEUE_RSS_TARGET_MB:g} MB peak RSS"
    large = pipeline.large_enqueue if pipeline is not None else None
    if large is None or large.requests < LARGE:
        checks.append(TargetCheck(enqueue_label, f"not measured at {LARGE:,}", None))
    else:
        checks.append(
            TargetCheck(
                enqueue_label,
                f"{large.peak_rss / MB:,.0f} MB in {large.seconds:.1f} s",
                large.peak_rss / MB < ENQUEUE_RSS_TARGET_MB,
            )
        )
    overhead_label = f"enqueue → callback overhead < {OVERHEAD_TARGET_S:g} s beyond one interval"
    calls_label = f"< {CALLS_TARGET:g} provider call per pending job per interval"
    if pipeline is None or not pipeline.latency:
        checks.append(TargetCheck(overhead_label, "not measured", None))
    else:
        listed = "; ".join(f"{x.provider} {x.overhead:+.2f} s" for x in pipeline.latency)
        met = all(x.overhead < OVERHEAD_TARGET_S for x in pipeline.latency)
        checks.append(TargetCheck(overhead_label, listed, met))
    if pipeline is None or not pipeline.pending:
        checks.append(TargetCheck(calls_label, "not measured", None))
    else:
        listed = "; ".join(
            f"{x.provider} {x.per_job_per_interval:.3f}"
            + (
                f" (jobs polled {x.polls_per_job_per_interval:.2f} times per interval)"
                if x.polls_per_job_per_interval is not None
                else ""
            )
            for x in pipeline.pending
        )
        met = all(x.per_job_per_interval < CALLS_TARGET for x in pipeline.pending)
        checks.append(TargetCheck(calls_label, listed, met))
    return checks


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "—"}[met]


def targets_cells(checks: Sequence[TargetCheck]) -> Cells:
    rows = [(check.target, _verdict(check.met), check.measured) for check in checks]
    return Cells("Targets", ("target", "result", "measured"), rows)


# -- output -------------------------------------------------------------------------------------
def print_tables(console: Console, tables: Sequence[Cells]) -> None:
    for cells in tables:
        table = Table(title=cells.title, title_justify="left", show_lines=False)
        for column in cells.header:
            numeric = column.endswith(("/s", "MB", "ratio", "value"))
            table.add_column(column, justify="right" if numeric else "left", overflow="fold")
        for row in cells.rows:
            table.add_row(*row)
        console.print(table)


def markdown_table(cells: Cells) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| " + " | ".join(cells.header) + " |",
        "|"
        + "|".join(
            "---:" if h.endswith(("/s", "MB", "ratio", "value")) else "---" for h in cells.header
        )
        + "|",
    ]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in cells.rows]
    return "\n".join(lines)


def markdown_document(
    machine: Machine,
    plan: Plan,
    tables: Sequence[Cells],
    elapsed_seconds: float,
    command: str,
) -> str:
    packages = ", ".join(f"{name} {version}" for name, version in machine.packages.items())
    sections = [
        "# Performance",
        "",
        f"Written by `{command}` on {machine.date}; regenerate rather than edit. "
        f"The run took {elapsed_seconds / 60:.1f} minutes.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.cpu_model}, {machine.cores} cores; memory {machine.memory_gib:.1f} GiB",
        f"- System: {machine.system}; Python {machine.python}",
        f"- Packages: {packages}",
        f"- Redis server: {machine.redis_server or 'not used'}",
        f"- batchline revision: {machine.git_revision}",
        f"- Load average (1 / 5 / 15 min): {machine.load_at_start} at the start, "
        f"{machine.load_at_end or 'unknown'} at the end. The machine was shared with other "
        "work; a load above the core count means the figures are pessimistic, the absolute "
        "ones more than the ratios (runs of both libraries alternate).",
        "",
    ]
    for cells in tables:
        sections += [f"## {cells.title}", "", markdown_table(cells), ""]
    sections += ["## How this was measured", "", *method_notes(plan), ""]
    return "\n".join(sections)


def method_notes(plan: Plan) -> list[str]:
    large_note = (
        f"{plan.large_build_runs} for builds and {plan.large_parse_runs} for parses "
        f"of {plan.large_size:,} or more"
    )
    return [
        f"- Every figure is the median of {plan.runs} runs ({large_note}; the `runs` column "
        "says which). Runs of the two libraries alternate, and both are measured in the same "
        "`python -m benchmarks` invocation, so each ratio compares figures from one run.",
        "- Each run is a fresh `multiprocessing` spawn process that imports only the library "
        "it measures. The timed call is preceded by an untimed warm-up of two requests or "
        "lines (schema generation, lazy imports).",
        "- Peak RSS is the process's `VmHWM` after the call; the high-water mark is reset "
        "(`/proc/self/clear_refs`) just before the call, so reading or generating the input is "
        "not charged, while what stays resident (interpreter, imports, input) is.",
        "- Build input: the same stream of conversations for both libraries (a system prompt "
        "and a ~400-character user message, cycled from 1,000 seeded variants, as a "
        "generator), `max_tokens=1000`, `temperature=0.1`, a response model with an optional "
        "field, a list and a nested model. Every run checks the number of lines written.",
        f"- instructor's build is measured up to {plan.instructor_build_max:,} requests only "
        "(it writes about 800 requests/s, so a million would take over 20 minutes a run); the "
        "larger rows show batchline alone and no ratio. Nothing is extrapolated.",
        "- Parse input: generated lines in each provider's real result shape (OpenAI output "
        "lines with usage details and error-file lines; Anthropic `succeeded` lines with a "
        "`tool_use` answer and `errored` lines; Vertex `predictions.jsonl` lines that echo the "
        "request, with a non-empty `status` for failures); every 50th line is an error (2 %). "
        "`memory` mode gives both libraries the same `str` and builds a list (instructor's "
        "`parse_results` accepts only a string); `stream` mode is batchline's "
        "`iter_parse_results` over the file, counting. Every run checks the result and error "
        "counts.",
        "- Where batchline's parse time goes: ordinary success lines take a per-provider fast "
        "path (decode, pick the answer, validate, done); every other line takes the general "
        "path, and a test breaks every field of known lines to check both paths agree. "
        "`parse_results` pauses the cyclic garbage collector while it builds the list and "
        "hands the results to the oldest generation at the end (`gc.freeze()` + "
        "`gc.unfreeze()`, skipped if the process froze objects itself), so they are not "
        "rescanned by young collections; later full collections still scan them, as they "
        "scan any long-lived object. Counting a full `gc.collect()` after the parse in the "
        "timing, 50,000 Anthropic lines took 606 ms this way against 752 ms with an ordinary "
        "re-enable (in-process check, not part of this report's tables).",
        "- instructor 1.17 has no Google batch provider (`get_provider` knows only openai and "
        "anthropic), so Google rows have no instructor figure.",
        "- Pipeline: the sandbox (`completion_delay=0`) in the benchmark process, real Redis "
        "(private DB 13, a unique key prefix deleted afterwards), and real `celery worker` "
        "(threads pool, default concurrency) and `celery beat` processes started with "
        "batchline's production app. Provider calls are counted by wrapping the sandbox's "
        "ASGI app; Cloud Storage calls (Google uploads) go to a separate emulator and are not "
        "counted. For the pending-calls figure the sandbox keeps new batches running for a "
        "day, and calls are counted over whole poll intervals after every job was submitted "
        "and polled once.",
    ]
