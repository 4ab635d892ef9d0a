# The two commands of the README: `make demo` and `make test` (each sets up what it needs).
SAMPLE ?= sample_data/htm_sample
VENV := .venv/bin
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# duckdb 2.0's nanobind bindings print ~40 'leaked instance' lines when the interpreter exits
# (harmless, after the test summary); they are filtered so pytest's summary stays the last line
NANOBIND_NOISE := ^(nanobind: | - leaked | - \.\.\. skipped|See https://nanobind)

.PHONY: setup demo test lint bench review

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/aligner auto-align $(SAMPLE)
	$(VENV)/aligner evaluate $(SAMPLE)
	$(VENV)/aligner export $(SAMPLE) --format jsonl --out cleaned.jsonl
	@echo "Review it: $(VENV)/aligner review $(SAMPLE)   (then open http://localhost:8501)"

test: setup lint
	HF_HUB_OFFLINE=1 $(VENV)/pytest -q --durations=15 2>&1 | grep -Ev '$(NANOBIND_NOISE)'

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

review: setup
	$(VENV)/aligner review $(SAMPLE)

bench: setup
	for b in benchmarks/bench_*.py; do $(VENV)/python $$b || exit 1; done
