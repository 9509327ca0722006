"""One measurement per fresh process, so that timings and peak memory never mix.

Each measurement runs in its own spawned interpreter: one library's imports, caches and freed
arenas cannot make the next figure look better or worse, and the process's high-water mark
(``VmHWM``) belongs to that measurement alone. Just before the timed call the child resets its
high-water mark, so transient memory from preparing the input (reading a file, decoding it)
is not charged to the library; what stays resident (the interpreter, the imports, the input)
is, because a user pays for that too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One timed call in one process."""

    #: Wall-clock seconds of the call alone (no start-up, no input preparation).
    seconds: float
    #: Items the call handled (requests written, results parsed).
    items: int
    #: Peak resident memory of the process during the call, in bytes.
    peak_rss: int
    #: Resident memory just before the call (interpreter, imports, input), in bytes.
    baseline_rss: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class Summary:
    """The median of several measurements of one scenario."""

    runs: int
    items: int
    seconds: float
    peak_rss: int
    baseline_rss: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    @classmethod
    def of(cls, measurements: Sequence[Measurement]) -> Summary:
        """Medians of time and memory; the item count must agree across runs."""
        counts = {m.items for m in measurements}
        if len(counts) != 1:
            raise RuntimeError(f"runs of one scenario handled different counts: {counts}")
        return cls(
            runs=len(measurements),
            items=counts.pop(),
            seconds=statistics.median(m.seconds for m in measurements),
            peak_rss=int(statistics.median(m.peak_rss for m in measurements)),
            baseline_rss=int(statistics.median(m.baseline_rss for m in measurements)),
        )


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def resident_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def peak_resident_bytes() -> int:
    return _status_kib("VmHWM") * 1024


def reset_peak() -> None:
    """Make the high-water mark start again from the current resident size (Linux >= 4.0)."""
    # On an older kernel this fails and the peak also covers preparing the input.
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")


def timed(call: Callable[[], int]) -> Measurement:
    """Time ``call`` (which returns the number of items it handled) and record its memory."""
    baseline = resident_bytes()
    reset_peak()
    start = time.perf_counter()
    items = call()
    seconds = time.perf_counter() - start
    return Measurement(seconds, items, peak_resident_bytes(), baseline)


def run_isolated(target: Callable[..., Measurement], *args: Any) -> Measurement:
    """Run ``target(*args)`` in a fresh spawned interpreter and return its measurement.

    ``target`` must be a module-level function (spawn imports it by name in the child).
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(target, *args).result()
