# MobixAI: `make run` starts the whole system, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make run` installs the services and the tools that start them (the `run` extra); `make test` adds
# the test runners, linters and validators (the `dev` extra). Both install the exact, hash-checked
# versions of the lock files in requirements/ (`make lock` regenerates them from pyproject.toml), then
# the project itself without dependencies. Each stamp is redone when its lock file changes.
RUN_STAMP := $(VENV)/.run-stamp
DEV_STAMP := $(VENV)/.dev-stamp
# One lock per install: the images' (runtime + s3), `make run`'s and `make test`'s. Pinned for the
# platform the images and CI run on (CPython 3.11, x86-64 Linux).
LOCKS := requirements/runtime.txt requirements/run.txt requirements/dev.txt
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--custom-compile-command "make lock" --quiet

.PHONY: run test test-fast install install-run lock webapp chromium bench lint clean

$(BIN)/python:
	@echo "[setup] creating $(VENV) (first run: a few minutes to install)…"
	@$(PYTHON) -m venv $(VENV) || { echo "[setup] python3 -m venv failed: install python3-venv (apt-get install python3-venv) and retry"; exit 1; }
	$(BIN)/python -m pip install --upgrade pip --progress-bar on

$(RUN_STAMP): requirements/run.txt | $(BIN)/python
	@echo "[setup] installing the project and what \`make run\` needs (requirements/run.txt)…"
	$(BIN)/python -m pip install --require-hashes --no-deps -r requirements/run.txt --progress-bar on
	$(BIN)/python -m pip install --no-deps -e .
	@touch $(RUN_STAMP)

$(DEV_STAMP): requirements/dev.txt | $(BIN)/python
	@echo "[setup] installing the project with its test and development tools (requirements/dev.txt)…"
	$(BIN)/python -m pip install --require-hashes --no-deps -r requirements/dev.txt --progress-bar on
	$(BIN)/python -m pip install --no-deps -e .
	@touch $(DEV_STAMP) $(RUN_STAMP)

install-run: $(RUN_STAMP)

install: $(DEV_STAMP)

# Regenerate the lock files after a change to pyproject.toml's dependencies. Versions already locked
# are kept where they still fit; `make lock LOCK_ARGS=--upgrade` moves everything to the newest.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra s3 $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra run $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements/run.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements/dev.txt

# The browser web app (webapp/): npm ci from the committed lock file, then a Vite build into
# webapp/dist (not committed), which the gateway serves at /. Rebuilt when a source changes.
WEBAPP_SOURCES := $(shell find webapp/src webapp/public -type f 2>/dev/null) webapp/index.html webapp/vite.config.js

webapp/node_modules/.installed: webapp/package-lock.json
	@command -v npm >/dev/null || { echo "[setup] npm not found: install Node.js 20+ (apt-get install nodejs npm) and retry"; exit 1; }
	npm --prefix webapp ci --no-audit --no-fund
	@touch $@

webapp/dist/index.html: webapp/node_modules/.installed $(WEBAPP_SOURCES)
	npm --prefix webapp run build

webapp: webapp/dist/index.html

# The browser tests drive Debian's Chromium (never a browser downloaded by Playwright).
chromium:
	@test -x /usr/bin/chromium || { echo "[setup] installing Debian's chromium for the browser tests"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }

run: install-run webapp
	$(BIN)/python -m devinfra run $(PROCS)

test: install webapp chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit tier: every test that needs no real server (no RabbitMQ, Redis or PostgreSQL).
test-fast: install
	$(BIN)/python -m pytest -m "not servers and not soak" -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf var .pytest_cache .hypothesis
