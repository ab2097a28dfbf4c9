# weixi — two commands: `make demo` and `make test`. Everything else they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SUBSCRIBERS ?= 200000
DEMO_MONTHS ?= 4
HOST ?= 127.0.0.1
PORT ?= 8000
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: demo test test-fast lint format lock sysdeps venv clean bench loadtest

venv: $(STAMP)

# Bytecode is compiled once, here: where PYTHONDONTWRITEBYTECODE is set (as on this project's
# machines and CI) no import writes it, and every process compiled every module it imported
# again (importing the churn trainer took 6.1 s instead of 2.3 s; `weixi --help` 1.09 s, 0.44 s).

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q src
	@touch $(STAMP)

# Debian packages the tests drive for real: chromium (Playwright), PostgreSQL, a Java runtime (Spark).
sysdeps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	fc-list 2>/dev/null | grep -qi 'noto.*cjk\|wqy' || missing="$$missing fonts-wqy-zenhei"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test: venv sysdeps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=1200

test-fast: venv
	$(BIN)/python -m pytest -q -x -m "not slow and not spark and not browser and not postgres"

demo: venv
	WEIXI_ENV=dev $(BIN)/weixi demo --subscribers $(DEMO_SUBSCRIBERS) --months $(DEMO_MONTHS) --host $(HOST) --port $(PORT)

# The whole monthly cycle on a synthetic province (weixi bench); bench/run.py runs the per-step scripts.
BENCH_SUBSCRIBERS ?= 1000000
bench: venv
	$(BIN)/weixi bench --subscribers $(BENCH_SUBSCRIBERS) --json

# 200 agents claim and close tasks over HTTP for 5 minutes on a throw-away PostgreSQL (bench/loadtest.py).
LOAD_AGENTS ?= 200
LOAD_SECONDS ?= 300
loadtest: venv sysdeps
	$(BIN)/python bench/loadtest.py --agents $(LOAD_AGENTS) --seconds $(LOAD_SECONDS)

lint: venv
	$(BIN)/ruff check src tests bench

format: venv
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Re-resolve the locked dependencies after editing pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --all-extras --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements.lock

clean:
	rm -rf $(VENV) var demo .pytest_cache .ruff_cache
