# Kiro2API: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SRC_DIRS := libs/kiroproto/src libs/kiro-service/src libs/kiro-testing/src services/gateway/src services/token-broker/src \
            services/oauth/src services/dashboard/src services/kiro-sim/src
PKGS := kiroproto kiro_service kiro_testing gateway token_broker kiro_sim dashboard kiro_oauth

.PHONY: help venv run demo sim test check lint types unit integration security deploy fuzz chaos chaos-short bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.lock.txt Makefile scripts/bootstrap.sh scripts/fetch_tokenizer.py
	@bash scripts/bootstrap.sh "$(PYTHON)" "$(VENV)" $(SRC_DIRS)
	@$(PY) scripts/fetch_tokenizer.py
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the pinned dependencies (idempotent)

run: venv ## start nats, redis, broker, gateway, oauth, dashboard on PORT (Ctrl-C stops all)
	@$(PY) -m kiro_testing.runner run

demo: venv ## the whole stack against the Kiro simulator with a simulated credential
	@$(PY) -m kiro_testing.runner demo

sim: venv ## the Kiro simulator alone (see services/kiro-sim/README.md)
	@$(PY) -m kiro_sim

lint: venv ## ruff
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check libs/kiroproto/src

types: venv ## mypy (strict on libs/kiroproto)
	@$(VENV)/bin/mypy libs/kiroproto/src/kiroproto
	@$(VENV)/bin/mypy $(addprefix -p ,$(filter-out kiroproto,$(PKGS)))

unit: venv ## kiroproto and service unit tests (with kiroproto coverage gate)
	@$(VENV)/bin/pytest -q -p no:cacheprovider libs/kiroproto/tests \
	  --cov=kiroproto --cov-report=term --cov-fail-under=95
	@$(VENV)/bin/pytest -q -p no:cacheprovider libs/kiro-service/tests services

integration: venv ## end-to-end and browser tests against real nats-server / redis-server / simulator
	@bash scripts/install_browser.sh
	@$(VENV)/bin/pytest -q -p no:cacheprovider tests/integration

security: venv ## the security review's findings, each reproduced against the real stack
	@$(VENV)/bin/pytest -q -p no:cacheprovider tests/security

deploy: venv ## validate Dockerfile, Compose, Kubernetes, alerts, dashboard offline (no Docker engine)
	@bash scripts/install_deploy_tools.sh $(VENV)
	@$(VENV)/bin/pytest -q -p no:cacheprovider tests/deploy

fuzz: venv ## hypothesis + schemathesis against a real gateway (FUZZ_SCALE=10 for a long run)
	@$(VENV)/bin/pytest -q -p no:cacheprovider tests/fuzz

chaos-short: venv ## short chaos run + graceful-shutdown tests (part of make test)
	@$(VENV)/bin/pytest -q -p no:cacheprovider tests/chaos

chaos: venv ## reliability suite: faults under load, prints the table, exit 1 if anything is lost or hangs
	@$(PY) -m kiro_testing.chaos

check: lint types ## lint and types only

test: lint types unit integration security deploy fuzz chaos-short ## everything CI runs: lint, types, unit, integration, browser, security, deploy, fuzz, short chaos
	@echo "make test: all green"

bench: venv ## benchmarks, printed as ratios to a floor measured in the same run
	@$(PY) -m bench

clean: ## remove the virtual environment and local run data
	rm -rf $(VENV) .run build .pytest_cache .mypy_cache .ruff_cache .coverage
