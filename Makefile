# Developer shortcuts. The benchmark's single entry point is `python -m benchmarks`.
PYTHON ?= .venv/bin/python

.PHONY: bench bench-quick

## Full benchmark run: prints the tables and rewrites docs/performance.md (about 30 min on 2 cores).
bench:
	$(PYTHON) -m benchmarks

## Small sizes, one run each: checks that every part still runs (a few minutes).
bench-quick:
	$(PYTHON) -m benchmarks --quick
