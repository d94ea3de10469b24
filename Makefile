# The two commands: `make run` starts the whole stack, `make test` runs every test.
# Both need only Python 3.11+ and make; they create .venv and install into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast typecheck coverage lint install clean bench-gateway bench-inventory bench-forecast bench-ml bench-replenishment bench-load

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/inventory-system up

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP)
	sh scripts/install-debian-tools.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The quick loop: everything but the suites that start whole stacks, fuzz, break servers or take long.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not slow and not e2e and not fuzz and not faults" -q $(PYTEST_ARGS)

# The seed's own coverage command, over its test file (test_improvements.py); the report lands in htmlcov/.
coverage: $(STAMP)
	$(BIN)/python -m pytest test_improvements.py --cov=sync --cov-report=html --cov-report=term:skip-covered -q

bench-gateway: $(STAMP)
	$(BIN)/python bench/gateway.py

bench-inventory: $(STAMP)
	$(BIN)/python bench/inventory.py

bench-forecast: $(STAMP)
	$(BIN)/python bench/forecast.py

bench-ml: $(STAMP)
	$(BIN)/python bench/ml_predict.py

bench-replenishment: $(STAMP)
	$(BIN)/python bench/replenishment.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

bench-load: $(STAMP)
	$(BIN)/python bench/load.py
