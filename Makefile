# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/reglab claims --out reglab-report
	@echo "Report: $(CURDIR)/reglab-report/index.html"

# the report's browser test drives headless Chromium (Debian's package); as root it is installed
# here, otherwise the one command that installs it is printed and make stops before any test runs
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        echo "Installing Chromium for the browser test (apt-get install -y chromium)"; \
	        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	    else \
	        echo "$(CHROMIUM) is missing: run 'sudo apt-get update && sudo apt-get install -y chromium', then make test again." >&2; \
	        exit 1; \
	    fi; \
	fi

# the whole suite, without -x: a failing run lists every failure at once
test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# the peers (skglm, celer) are the bench extra: installed here, never by `make install` / `make test`
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) reglab-report .pytest_cache
