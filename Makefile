# Two commands for a fresh machine:   make grade KATA=ex01   and   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KATA ?= ex01

.PHONY: grade test sandbox browser

# torch 2.13.0 (CPU wheel) goes in first, so the `torch>=2.2` of pyproject.toml fetches nothing more
$(BIN)/grade: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

# our tests also need the dev tools and nbgrader (the classroom tests run it for real)
$(VENV)/.dev: $(BIN)/grade
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# bubblewrap sandboxes the worker; without it grading still runs, "unsandboxed", and says so
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } \
		|| echo "note: bubblewrap is not installed: the grader will run unsandboxed"

# headless Chromium for the report and feedback tests (Playwright drives it; never `playwright install`)
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "note: chromium is not installed: the report's browser tests are skipped"

# a graded result is not a failed make: 0 is full marks, 1 is not yet (2 is a usage error)
grade: $(BIN)/grade sandbox
	@$(BIN)/grade $(KATA) || [ $$? -eq 1 ]

test: $(VENV)/.dev sandbox browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto --dist loadgroup
