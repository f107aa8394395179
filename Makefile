# echo-service: one command to set up, one to test, one to deploy, one to tear down.
# `make help` lists the targets. STACK picks the stack (local, dev or gcp); local is the default.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= local

# The local stack keeps its state in a file backend inside the project, with an empty secrets
# passphrase: no Pulumi Cloud login and no cloud account. Other stacks use your own `pulumi login`.
ifeq ($(STACK),local)
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?=
endif

.PHONY: help install venv test lint format preflight stack preview up destroy outputs serve smoke logs estimate bench docs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

install: $(BIN)/python ## Create .venv and install the program, the endpoint, the test and docs tools
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r docs/requirements.txt

# Every target that runs the project's Python needs the virtualenv: say how to get it, in one line.
# Recipe lines are silent (@) throughout, so that output meant for a pipe
# (`make estimate STACK=gcp ARGS=--json | python -m json.tool`) is only the tool's own.
venv:
	@test -x $(BIN)/python || { echo "error: no virtualenv in $(VENV): run 'make install' first" >&2; exit 1; }

test: venv ## Run the whole test suite (no cloud account, no Pulumi CLI, no Docker needed)
	@$(BIN)/python -m pytest

lint: venv ## Lint and check formatting
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: venv ## Format the code
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

preflight:
	@command -v pulumi >/dev/null 2>&1 || { echo "error: the Pulumi CLI is not installed: install it with 'curl -fsSL https://get.pulumi.com | sh' (https://www.pulumi.com/docs/install/)" >&2; exit 1; }
	@command -v docker >/dev/null 2>&1 || { echo "error: Docker is not installed: install Docker Desktop or Docker Engine (https://docs.docker.com/get-docker/)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "error: the Docker engine is not running (docker info failed): start Docker Desktop or 'sudo systemctl start docker'" >&2; exit 1; }
	@test -x $(BIN)/python || { echo "error: no virtualenv: run 'make install' first" >&2; exit 1; }

stack: preflight
	@mkdir -p .pulumi-state
	@pulumi stack select --create $(STACK) >/dev/null

preview: stack ## Show what `make up` would change (STACK=local|dev|gcp)
	@pulumi preview --stack $(STACK)

# The local stack deploys without asking; a cloud stack shows its preview and asks first.
up: stack ## Deploy the stack (STACK=local|dev|gcp) and wait until the endpoint is healthy
	@pulumi up --stack $(STACK) $(if $(filter local,$(STACK)),--yes)
	@echo "url: $$(pulumi stack output url --stack $(STACK))"

destroy: stack ## Remove everything the stack made (asks first, except for local)
	@pulumi destroy --stack $(STACK) $(if $(filter local,$(STACK)),--yes)

outputs: stack ## Show the stack's outputs
	@pulumi stack output --stack $(STACK)

serve: venv ## Run the endpoint on this machine with the production server (PORT=8080)
	@$(BIN)/python -m app

# No preflight: the smoke needs no Docker, and says itself when the Pulumi CLI is missing.
# URL= checks that address (e.g. `make serve`'s); without it, the stack's url output.
smoke: venv ## Check a live endpoint with its model's example input (URL=http://... or STACK=local|dev|gcp; ARGS="--input JSON"; key: env ECHO_API_KEY)
	@$(BIN)/python -m infra.smoke $(if $(URL),'$(URL)',--stack $(STACK)) $(ARGS)

# No preflight: following a cloud stack's logs needs no Docker; each CLI missing is named.
logs: venv ## Follow the deployed stack's logs: aws logs tail, kubectl logs or docker logs (STACK=local|dev|gcp)
	@$(BIN)/python -m infra.logs --stack $(STACK)

estimate: venv ## Monthly cost of a stack at list prices, offline (STACK=dev|gcp|local, ARGS="--json --requests-per-month N")
	@$(BIN)/python -m infra.estimate $(STACK) $(ARGS)

bench: venv ## Benchmark python -m app against its peers (FastAPI, BentoML, Flask dev server; needs wrk; ~10 min)
	@$(BIN)/python bench/bench.py $(ARGS)

# Strict: a broken link or anchor, a page missing from the nav, or a warning fails the build.
docs: venv ## Build the docs site strictly into site/ (SITE=DIR for another folder)
	@NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet --site-dir '$(or $(SITE),site)'

clean: ## Remove the virtualenv, caches and the built docs (not the local stack's state)
	@rm -rf $(VENV) .pytest_cache .ruff_cache site
