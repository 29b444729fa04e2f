# Two commands do all set-up on a machine with python3 (>= 3.11) and make: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint install clean bench screenshots

demo: $(STAMP)
	$(BIN)/dorpskluis demo $(ARGS)

test: lint
	$(BIN)/python -m pytest $(ARGS)

# The benchmark suite: writes benchmarks/RESULTS.md (ARGS="--smoke" for a quick check that it works).
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# Refresh the pictures of the web pages in docs/screenshots (the browser tests take them).
screenshots: $(STAMP)
	DK_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/cloud/web/test_resident_browser.py tests/cloud/web/test_dashboard_browser.py tests/e2e/test_kiosk.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Dorpskluis needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the dependency pins change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

clean:
	rm -rf $(VENV) data .pytest_cache
