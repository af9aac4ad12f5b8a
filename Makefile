# Two commands for a fresh machine (Python 3.11, pip and apt):
#   make demo   synthetic council -> warehouse -> site (prints the site's path)
#   make test   the test suite (installs what it needs, Debian's chromium included)
#   make dagster the Dagster UI on the runs `oba run` / `make demo` recorded in .dagster/
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
APT_PACKAGES := chromium poppler-utils postgresql

.PHONY: demo dagster test system-deps lint clean

# Every command here lets Python write the bytecode of what it imports (the venv's packages, the
# project's modules, pytest's rewritten tests), once, where the environment may have turned that
# off (PYTHONDONTWRITEBYTECODE): otherwise each process compiles every module it imports afresh,
# and the suite's imports take twice as long. Only what is imported gets compiled, as it is first
# imported, rather than all 1.2 GB of packages at install.
export PYTHONDONTWRITEBYTECODE :=

# uv (from PyPI, into the venv) installs the packages in a few seconds where pip takes most of a
# minute; where uv cannot reach the index pip is configured for, pip installs them.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	{ $(BIN)/pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'; } \
	  || { $(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[test]'; }
	touch $(STAMP)

system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(STAMP) system-deps
	$(BIN)/oba demo --out demo

# The instance `oba` records into when DAGSTER_HOME is unset: .dagster/ of the folder it runs in.
DAGSTER_HOME ?= $(CURDIR)/.dagster

dagster: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev

test: $(STAMP) system-deps
	$(BIN)/pytest -n auto --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf demo .pytest_cache test-artifacts
