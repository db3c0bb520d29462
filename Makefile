# Every target makes sure .venv exists and holds the project; nothing else is needed
# on a fresh machine than python3 (>= 3.11), pip, gcc and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest faults fuzz bench bench-smoke clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lali demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The full fault suite: the receiver is SIGKILLed 20 times mid-stream, the link is cut
# for 90 s; prints a table (make test runs the same tests with 3 kills and a 5 s cut).
faults: $(STAMP)
	LALI_FAULT_KILLS=20 LALI_LINK_CUT_S=90 $(BIN)/pytest tests/faults \
		tests/integration/test_cluster.py -p no:cacheprovider $(PYTEST_ARGS)

# A million mutated envelopes through open(): only declared error types may come out.
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_envelope.py --n 1000000

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# Lali beside raw NATS JetStream, every scenario of issue 7 (< 10 min); writes
# bench/results/latest.json and prints the table (docs/performance.md).
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Every scenario, short (<= 60 s), for CI: keeps the benchmark from rotting. Targets
# are reported, not enforced (timings on shared runners are noise); writes smoke.json.
bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke $(BENCH_ARGS)
