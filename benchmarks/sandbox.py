"""The sandbox at volume: one batch of 50,000 small requests per provider, end to end.

Run: ``python -m benchmarks.sandbox [--requests N]``. The sandbox runs as ``batchline sandbox``
in its own process, so its peak RSS (``VmHWM``) is its own; the client side is batchline's
library through the official SDKs: build, submit, poll, stream every result back.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from batchline.sandbox.server import free_port

MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash")


class Person(BaseModel):
    name: str
    age: int


def conversations(count: int) -> Iterator[list[dict[str, str]]]:
    for index in range(count):
        yield [{"role": "user", "content": f"Extract the person from note {index}."}]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_sandbox(port: int, gcs_port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "batchline.cli", "sandbox", "--port", str(port)]
    command += ["--gcs-port", str(gcs_port), "--completion-delay", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def run_one(model: str, count: int, folder: Path) -> tuple[float, int]:
    from batchline.batching import BatchProcessor

    processor = BatchProcessor(model, Person)
    started = time.perf_counter()
    path = processor.create_batch_from_messages(conversations(count), folder / "requests.jsonl")
    batch_id = processor.submit_batch(path)
    while processor.get_batch_status(batch_id)["status"] != "completed":
        time.sleep(0.25)
    results = sum(1 for result in processor.iter_results(batch_id) if result.success)
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()
    port, gcs_port = free_port(), free_port()
    process = start_sandbox(port, gcs_port)
    base = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": f"{base}/openai/v1",
            "ANTHROPIC_API_KEY": "sk-ant-bench",
            "ANTHROPIC_BASE_URL": f"{base}/anthropic",
            "GOOGLE_CLOUD_PROJECT": "batchline-sandbox",
            "GCS_BUCKET": "batchline-sandbox",
            "GOOGLE_VERTEX_BASE_URL": f"{base}/google",
            "BATCHLINE_GOOGLE_ACCESS_TOKEN": "ya29.bench",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
        }
    )
    table = Table(title=f"one batch of {args.requests:,} requests through the sandbox")
    for column in ("provider", "seconds, end to end", "successes", "sandbox peak MB"):
        table.add_column(column, justify="right")
    try:
        with TemporaryDirectory() as folder:
            for model in MODELS:
                seconds, successes = run_one(model, args.requests, Path(folder))
                table.add_row(
                    model, f"{seconds:.1f}", f"{successes:,}", f"{peak_rss_mb(process.pid):.0f}"
                )
    finally:
        process.terminate()
        process.wait(timeout=10)
    Console().print(table)


if __name__ == "__main__":
    main()
