"""Runs inside the instructor venv (see ``tests/instructor_venv.py``): the benchmark's build and
parse parts at tiny sizes, batchline beside instructor, measured in this process.

``python -m tests.side_by_side_child OUT_DIR`` writes ``OUT_DIR/performance.md`` (the report
``python -m benchmarks --quick`` writes) and ``OUT_DIR/rows.json`` (which rows carry a ratio, and
the target verdicts), for ``tests/test_benchmarks_smoke.py`` to check.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchmarks.__main__ as entry
from benchmarks import suite
from benchmarks.isolation import Measurement
from benchmarks.report import target_checks

TINY_PLAN = suite.Plan(
    build_sizes=(30,),
    parse_sizes=(100,),
    runs=1,
    large_size=1_000_000,
    large_build_runs=1,
    large_parse_runs=1,
    instructor_build_max=30,
    instructor_parse_max=100,
)


def in_process(target: Callable[..., Measurement], *args: Any) -> Measurement:
    """Instead of a spawned child per measurement: seconds of start-up each, and no figures
    are checked here."""
    return target(*args)


def main(out_dir: Path) -> None:
    suite.run_isolated = in_process
    entry.QUICK_PLAN = TINY_PLAN
    entry.main(
        [
            "--quick",
            "--only",
            "build",
            "--only",
            "parse",
            "--output",
            str(out_dir / "performance.md"),
        ]
    )

    plan = dataclasses.replace(TINY_PLAN, providers=("openai", "google"))
    rows = suite.run_build(plan, lambda line: None) + suite.run_parse(plan, lambda line: None)
    summary = {
        "compared": sorted([r.part, r.provider, r.mode] for r in rows if r.ratio is not None),
        "verdicts": {check.target: check.met for check in target_checks(rows, None)},
    }
    (out_dir / "rows.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
