# Two commands: `make report` renders the demo report from the built-in simulator; `make test` runs every test
# (`make test-fast` the ones not marked slow).
# Both build .venv/ first when it is missing or older than pyproject.toml; a second run skips the install.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := credit-reports

.PHONY: report test test-fast lint lab bench clean browser-deps

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (credit-reports)" >/dev/null
	touch $(STAMP)

report: $(STAMP)
	$(VENV)/bin/credit-reports demo

test: $(STAMP) browser-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2  # two workers: most tests wait on HTTP, kernels and clocks, not on a core

# Everything not marked slow (no notebook kernels, no renders, no browser): under a minute, for the edit loop.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2 -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,bench]'
	$(PY) bench/fetch.py
	$(PY) bench/metrics.py
	$(PY) bench/render.py

# The browser test needs Debian's Chromium; install it when missing and we are allowed to (root with apt).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: the browser test will be skipped"; }

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
