"""batchline's benchmarks: build, parse and pipeline figures, side by side with instructor.

Run ``python -m benchmarks`` (or ``make bench``); ``--quick`` for a fast check, ``--only`` for
one part. The full run writes ``docs/performance.md``.
"""
