"""The benchmark's code paths at tiny sizes, so that ``python -m benchmarks`` cannot rot.

Figures are not checked here (a loaded CI machine proves nothing about speed); what is checked
is that every measurement runs, verifies its own work, and ends up in the tables and the
document. Measurements run in-process except one, which goes through the spawned child the
real run uses. The side-by-side runs against instructor happen in a venv of their own
(``tests/instructor_venv.py``), so instructor's pins never reach the dev environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker

from benchmarks import build, parse, suite
from benchmarks.isolation import run_isolated
from benchmarks.pipeline import run_pipeline
from benchmarks.pipeline_figures import PipelinePlan
from benchmarks.report import pipeline_cells
from benchmarks.result_lines import is_error_line, write_result_file
from benchmarks.service import (
    REDIS_URL,
    ServiceConfig,
    celery_processes,
    classify,
    delete_prefix,
    wait_for_workers,
)
from tests.instructor_venv import REPO, instructor_python

#: The side-by-side child installs nothing; its tiny build and parse take seconds.
CHILD_TIMEOUT = 300

TINY_PIPELINE = PipelinePlan(
    providers=("openai",),
    poll_interval=0.1,
    workers=1,
    latency_requests=5,
    latency_runs=1,
    throughput_jobs=3,
    throughput_job_requests=2,
    throughput_timeout=30.0,
    pending_jobs=3,
    pending_intervals=3,
    enqueue_requests=200,
    enqueue_runs=1,
)


@contextmanager
def in_process_workers(app: Any, config: Any, sandbox_env: Any, workers: int) -> Iterator[None]:
    """A threads worker and beat inside the test process: the same tasks and settings as the
    benchmark's worker processes, without seconds of interpreter start-up."""
    with start_worker(
        app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING"
    ):
        beat = EmbeddedService(app, thread=True, scheduler_cls="celery.beat:Scheduler")
        beat.start()
        try:
            yield
        finally:
            beat.stop()


def redis_available() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def test_result_files_have_two_percent_errors_in_each_providers_shape(tmp_path: Path) -> None:
    for provider in suite.PROVIDERS:
        written = write_result_file(provider, 200, tmp_path / f"{provider}.jsonl")

        assert written.lines == 200
        assert written.error_lines == 4
        assert sum(1 for index in range(200) if is_error_line(index)) == 4


def test_a_spawned_measurement_reports_time_and_memory() -> None:
    # Google: its provider module imports no SDK, so the child starts fastest.
    measurement = run_isolated(build.measure_build, "batchline", "google", "file", 50)

    assert measurement.items == 50
    assert measurement.seconds > 0
    assert measurement.peak_rss >= measurement.baseline_rss > 0


def test_parse_refuses_a_run_that_lost_results(tmp_path: Path) -> None:
    written = write_result_file("openai", 100, tmp_path / "openai.jsonl")

    with pytest.raises(RuntimeError, match="expected 100"):
        parse.measure_parse("batchline", "openai", "memory", str(written.path), 100, 3)


def test_sandbox_calls_are_classified_by_provider_and_kind() -> None:
    assert classify("GET", "/openai/v1/batches") == ("openai", "list")
    assert classify("GET", "/openai/v1/batches/batch_1") == ("openai", "get")
    assert classify("POST", "/openai/v1/files") == ("openai", "upload")
    assert classify("GET", "/anthropic/v1/messages/batches/b/results") == ("anthropic", "results")
    jobs = "/google/v1beta1/projects/p/locations/l/batchPredictionJobs"
    assert classify("POST", jobs) == ("google", "create")
    assert classify("GET", jobs + "/123") == ("google", "get")


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The build and parse parts beside instructor, run in the instructor venv: the report they
    write and which rows carry a ratio."""
    out_dir = tmp_path_factory.mktemp("side-by-side")
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    done = subprocess.run(
        [str(instructor_python()), "-m", "tests.side_by_side_child", str(out_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((out_dir / "rows.json").read_text())
    return (out_dir / "performance.md").read_text(), rows


@pytest.mark.slow
@pytest.mark.xdist_group("instructor")
def test_build_and_parse_parts_fill_the_tables_and_the_document(
    side_by_side: tuple[str, dict[str, Any]],
) -> None:
    document, _ = side_by_side

    for title in ("## Targets", "## Build", "## Parse", "## Machine", "## How this was measured"):
        assert title in document
    for provider in suite.PROVIDERS:
        assert f"| {provider} | file | 30 |" in document
        assert f"| {provider} | stream | 100 |" in document
    assert "no Google batch support in instructor" in document


@pytest.mark.slow
@pytest.mark.xdist_group("instructor")
def test_side_by_side_rows_carry_a_ratio_only_where_instructor_ran(
    side_by_side: tuple[str, dict[str, Any]],
) -> None:
    _, rows = side_by_side

    assert rows["compared"] == [
        ["build", "openai", "file"],
        ["build", "openai", "memory"],
        ["parse", "openai", "memory"],
    ]
    verdicts = rows["verdicts"]
    assert all(met is None for target, met in verdicts.items() if "1,000,000" in target)


needs_redis = pytest.mark.skipif(
    not redis_available(), reason="needs the Redis server at 127.0.0.1:6379"
)


@pytest.fixture(scope="module", autouse=True)
def booting_worker() -> Iterator[tuple[Any, ServiceConfig] | None]:
    """One real worker process, started as the module starts: its seconds of interpreter
    start-up overlap the other tests, and the last test checks that it answers."""
    if not redis_available():
        yield None
        return
    from batchline.workers.app import create_app
    from batchline.workers.settings import WorkerSettings

    config = ServiceConfig.fresh(poll_interval=1.0, rate_limit=1000.0)
    app = create_app(WorkerSettings(**config.settings_values()))
    try:
        with celery_processes(config, {}, 1, beat=False):
            yield app, config
    finally:
        app.close()
        delete_prefix(config.prefix)


@needs_redis
def test_pipeline_part_runs_against_the_sandbox_and_real_redis() -> None:
    results = run_pipeline(TINY_PIPELINE, lambda line: None, launcher=in_process_workers)

    assert results.enqueue is not None and results.enqueue.median > 0
    assert [latency.provider for latency in results.latency] == ["openai"]
    assert results.latency[0].median > 0
    assert results.throughput is not None and results.throughput.completed == 3
    assert results.pending[0].pending_jobs == 3
    assert len(pipeline_cells(results).rows) == 4


@needs_redis
def test_worker_processes_start_and_answer_before_anything_is_timed(
    booting_worker: tuple[Any, ServiceConfig],
) -> None:
    app, _ = booting_worker

    wait_for_workers(app, 1)

    assert len(app.control.ping(timeout=1.0, limit=1)) == 1
