# Kiro2API: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The workspace members (libs/*, services/*: [tool.uv.workspace] in pyproject.toml) and their tests.
MEMBER_PYPROJECTS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
PKGS = $(shell $(PY) scripts/workspace.py packages)
TEST_DIRS := $(wildcard libs/*/tests services/*/tests) tests bench scripts
# Test suites run on this many pytest-xdist workers, a test file per worker at a time (a file's stack
# fixtures start once); PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

.PHONY: help venv lock run demo sim test check lint types unit integration security deploy fuzz chaos chaos-short suites sharing bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.lock.txt pyproject.toml $(MEMBER_PYPROJECTS) Makefile scripts/bootstrap.sh \
          scripts/workspace.py scripts/fetch_tokenizer.py
	@bash scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@$(PY) scripts/fetch_tokenizer.py
	@touch $(STAMP)

venv: $(STAMP) ## create .venv: the pinned dependencies, then every workspace member in editable mode (idempotent)

lock: venv ## recompile requirements.lock.txt from the pyproject.toml declarations (keeps today's pins; needs the index)
	@$(PY) scripts/lock.py $(LOCK_ARGS)

run: venv ## start nats, redis, broker, gateway, oauth, dashboard on PORT (Ctrl-C stops all)
	@$(PY) -m kiro_testing.runner run

demo: venv ## the whole stack against the Kiro simulator with a simulated credential
	@$(PY) -m kiro_testing.runner demo

sim: venv ## the Kiro simulator alone (see services/kiro-sim/README.md)
	@$(PY) -m kiro_sim

lint: venv ## ruff check and ruff format --check on every package, the tests, bench and scripts
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

# Test folders without __init__.py import their helpers as top-level modules (pytest puts the folder
# on sys.path): mypy gets the same view through MYPYPATH, one run per folder (each has a conftest).
types: venv ## mypy --strict on every package, then on each test folder, bench and scripts
	@$(VENV)/bin/mypy $(addprefix -p ,$(PKGS))
	@failed=""; for d in $(TEST_DIRS); do \
	  if [ -f "$$d/__init__.py" ]; then base=""; else base="$$d"; fi; \
	  MYPYPATH="$$base" $(VENV)/bin/mypy "$$d" || failed="$$failed $$d"; \
	done; \
	if [ -n "$$failed" ]; then echo "types: mypy --strict failed in:$$failed" >&2; exit 1; fi

unit: venv ## kiroproto and service unit tests (with kiroproto coverage gate), the workspace and import-boundary checks
	@$(VENV)/bin/pytest -q -p no:cacheprovider $(XDIST) libs/kiroproto/tests \
	  --cov=kiroproto --cov-report=term --cov-fail-under=95
	@$(VENV)/bin/pytest -q -p no:cacheprovider $(XDIST) services $(filter-out libs/kiroproto/tests,$(wildcard libs/*/tests)) \
	  tests/architecture

integration: venv ## end-to-end and browser tests against real nats-server / redis-server / simulator
	@bash scripts/install_browser.sh
	@$(VENV)/bin/pytest -q -p no:cacheprovider $(XDIST) tests/integration

security: venv ## the security review's findings, each reproduced against the real stack
	@$(VENV)/bin/pytest -q -p no:cacheprovider $(XDIST) tests/security

deploy: venv ## validate Dockerfile, Compose, Kubernetes, alerts, dashboard offline (no Docker engine)
	@bash scripts/install_deploy_tools.sh $(VENV)
	@$(VENV)/bin/pytest -q -p no:cacheprovider $(XDIST) tests/deploy

# fuzz alone runs in one process, so that schemathesis reports each operation's cases as a test
# (under xdist, in `suites`, they run alike but are reported as one test).
fuzz: venv ## hypothesis + schemathesis against a real gateway (FUZZ_SCALE=10 for a long run)
	@$(VENV)/bin/pytest -q -p no:cacheprovider tests/fuzz

chaos-short: venv ## short chaos run + graceful-shutdown tests (part of make test)
	@$(VENV)/bin/pytest -q -p no:cacheprovider $(XDIST) tests/chaos

chaos: venv ## reliability suite: faults under load, prints the table, exit 1 if anything is lost or hangs
	@$(PY) -m kiro_testing.chaos

# The stack suites of `make test` in one pytest run: the workers stay busy to the end instead of
# waiting at the end of each suite. Files go to the workers in this order: the long ones (chaos,
# fuzz) first, the many short deploy checks last, to fill the gaps.
SUITES := tests/chaos tests/fuzz tests/integration tests/security tests/deploy

suites: venv ## integration (browser, Claude Code), security, deploy, fuzz and short chaos, in one run
	@bash scripts/install_browser.sh
	@bash scripts/install_deploy_tools.sh $(VENV)
	@$(VENV)/bin/pytest -q -p no:cacheprovider $(XDIST) $(SUITES)

# Slot reuse and the fair share of a full pool between gateways: timing between processes, so
# alone, never beside another test's stack (about 30 s)
sharing: venv ## lease reuse across gateways: the cap while slots are reused, a full pool shared by demand
	@$(VENV)/bin/pytest -q -p no:cacheprovider tests/sharing

check: lint types ## lint and types only

test: lint types unit suites sharing ## everything CI runs: lint, types, unit, integration, browser, security, deploy, fuzz, short chaos, lease sharing
	@echo "make test: all green"

bench: venv ## benchmarks, printed as ratios to a floor measured in the same run
	@$(PY) -m bench

clean: ## remove the virtual environment and local run data
	rm -rf $(VENV) .run build .pytest_cache .mypy_cache .ruff_cache .coverage
