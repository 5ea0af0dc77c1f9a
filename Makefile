# MobixAI: `make run` starts the whole system, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install bench lint clean

$(STAMP): pyproject.toml
	@echo "[setup] creating $(VENV) and installing the project with its dependencies (first run: a few minutes)…"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "[setup] python3 -m venv failed: install python3-venv (apt-get install python3-venv) and retry"; exit 1; }
	$(BIN)/python -m pip install --upgrade pip --progress-bar on
	$(BIN)/python -m pip install -e '.[dev]' --progress-bar on
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m devinfra run $(PROCS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf var .pytest_cache .hypothesis
