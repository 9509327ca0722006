# Developer shortcuts. The benchmark's single entry point is `python -m benchmarks`.
# It runs instructor side by side, whose pins would hold back the dev venv's SDKs, so it gets a
# venv of its own with the `bench` extra.
BENCH_VENV ?= .cache/bench-venv
PYTHON ?= $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/installed.stamp

.PHONY: bench bench-quick

$(BENCH_STAMP): pyproject.toml
	python3 -m venv $(BENCH_VENV)
	$(PYTHON) -m pip install -q -e '.[bench]'
	touch $(BENCH_STAMP)

## Full benchmark run: prints the tables and rewrites docs/performance.md (about 30 min on 2 cores).
bench: $(BENCH_STAMP)
	$(PYTHON) -m benchmarks

## Small sizes, one run each: checks that every part still runs (a few minutes).
bench-quick: $(BENCH_STAMP)
	$(PYTHON) -m benchmarks --quick
