"""Part 2, parse: result lines into typed results, batchline against instructor.

Modes:

- ``memory``: both libraries get the same ``str`` (instructor's ``parse_results`` accepts
  nothing else) and return a list of results. This is the like-for-like comparison.
- ``stream``: batchline only; ``iter_parse_results`` reads the file a line at a time and the
  benchmark just counts, which is how a million results should be consumed.

Every run checks that the library produced one result per line and exactly the expected
number of errors, so a fast run cannot be a run that silently skipped work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.build import make_processor
from benchmarks.isolation import Measurement, timed

MODES = ("memory", "stream")
#: Lines parsed in the untimed warm-up (validators and lazy imports are built on first use).
WARM_UP_LINES = 2


def _is_error(result: Any) -> bool:
    # batchline's results carry ``success``; instructor's errors are ``BatchError`` models.
    success = getattr(result, "success", None)
    if success is not None:
        return not success
    return type(result).__name__ == "BatchError"


def _warm_up(processor: Any, path: Path) -> None:
    with open(path, encoding="utf-8") as handle:
        head = "".join(handle.readline() for _ in range(WARM_UP_LINES))
    processor.parse_results(head)


def measure_parse(
    library: str, provider: str, mode: str, path: str, lines: int, error_lines: int
) -> Measurement:
    """Parse the result file at ``path`` once; runs in a fresh spawned child."""
    processor = make_processor(library, provider)
    source = Path(path)
    _warm_up(processor, source)
    errors = 0
    if mode == "memory":
        content = source.read_text(encoding="utf-8")
        kept: list[Any] = []

        def parse_all() -> int:
            kept.append(processor.parse_results(content))
            return len(kept[0])

        measurement = timed(parse_all)
        errors = sum(1 for result in kept[0] if _is_error(result))
    elif mode == "stream":
        if library != "batchline":
            raise ValueError("only batchline parses as a stream")

        def parse_stream() -> int:
            nonlocal errors
            count = 0
            for result in processor.iter_parse_results(source):
                count += 1
                errors += not result.success
            return count

        measurement = timed(parse_stream)
    else:
        raise ValueError(f"unknown parse mode {mode!r}")
    if measurement.items != lines or errors != error_lines:
        raise RuntimeError(
            f"{library} {provider} {mode}: {measurement.items:,} results with {errors:,} "
            f"errors, expected {lines:,} with {error_lines:,}"
        )
    return measurement
