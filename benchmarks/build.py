"""Part 1, build: ``create_batch_from_messages`` for batchline and instructor on the same input.

Both libraries get the same conversation stream, the same ``max_tokens`` and ``temperature``
and the same response model, in file mode (a path) and in-memory mode (``file_path=None``). The
library imports happen inside the measurement functions, so a process measuring batchline
never loads instructor and the other way round.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.isolation import Measurement, timed

#: Model names per provider; only the provider part changes what the code does.
MODELS: dict[str, str] = {
    "openai": "openai/gpt-4.1-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "google": "google/gemini-2.5-flash",
}
MODES = ("file", "memory")
#: Providers instructor 1.17's ``instructor.batch`` supports (its ``get_provider`` has no Google).
INSTRUCTOR_PROVIDERS = frozenset({"openai", "anthropic"})
MAX_TOKENS = 1000
TEMPERATURE = 0.1
#: Requests in the untimed warm-up call (schema generation, lazy imports).
WARM_UP_REQUESTS = 2


def make_processor(library: str, provider: str) -> Any:
    """A ``BatchProcessor`` of ``library`` for ``provider``, with the benchmark's model."""
    from benchmarks.inputs import Contact

    if library == "batchline":
        from batchline.batching import BatchProcessor

        return BatchProcessor(MODELS[provider], Contact)
    if library == "instructor":
        from instructor.batch import BatchProcessor as InstructorProcessor

        return InstructorProcessor(MODELS[provider], Contact)
    raise ValueError(f"unknown library {library!r}")


def count_request_lines(output: str | io.BytesIO) -> int:
    """Lines written, read back after timing, to prove both libraries did the whole job."""
    if isinstance(output, io.BytesIO):
        return output.getbuffer().tobytes().count(b"\n")
    lines = 0
    with open(output, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
    return lines


def measure_build(library: str, provider: str, mode: str, count: int) -> Measurement:
    """Build ``count`` requests once in this process; runs in a fresh spawned child."""
    from benchmarks.inputs import conversation_pool, conversations

    processor = make_processor(library, provider)
    quiet = contextlib.redirect_stdout(io.StringIO())  # instructor prints a line per call
    with quiet:
        processor.create_batch_from_messages(conversation_pool(WARM_UP_REQUESTS), None)
    with tempfile.TemporaryDirectory(prefix="batchline-bench-") as workdir:
        target = str(Path(workdir) / "requests.jsonl") if mode == "file" else None
        stream = conversations(count)
        outputs: list[str | io.BytesIO] = []

        def build() -> int:
            with contextlib.redirect_stdout(io.StringIO()):
                outputs.append(
                    processor.create_batch_from_messages(
                        stream, target, max_tokens=MAX_TOKENS, temperature=TEMPERATURE
                    )
                )
            return count

        measurement = timed(build)
        written = count_request_lines(outputs[0])
    if written != count:
        raise RuntimeError(f"{library} wrote {written:,} request lines, expected {count:,}")
    return measurement
