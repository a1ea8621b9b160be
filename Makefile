# grocery-forecast: the front door. `make` (or `make help`) lists the targets.
#
# Two commands set everything up on a fresh machine:
#   make demo   -> venvs, emulator, Lambda bundles, terraform apply, model, then an upload -> forecast
#   make test   -> everything CI runs: lint, unit tests, terraform checks, integration tests

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON        ?= python3
VENV          := .venv
PY            := $(VENV)/bin/python
EMULATOR_VENV := .venv-emulator
EMULATOR      ?= ministack
EMULATOR_PORT ?= 4566
ENDPOINT      ?= http://localhost:$(EMULATOR_PORT)
TF_LOCAL      := terraform/environments/local
DATA_DIR      ?= build/sample-data
MODEL_DIR     ?= build/model
FAVORITA_DIR  ?= ../shared/data/favorita
# `make bench` deploys production's shard size (the e2e tests' 1,000-row shards would split a daily upload
# into 1,600); BENCH=kaggle (or e2e ingest ...) runs only those benchmarks.
BENCH_SHARD_ROWS ?= 2000000
# Production's ingest shard size (128 MiB) and a partition count for the 2-core machine (BENCH=year)
BENCH_INGEST_SHARD_BYTES ?= 134217728
BENCH_INGEST_PARTITIONS ?= 8
# Rows per sub-bucket of a partition task: 0 derives it from the ETL's memory, as on AWS
BENCH_INGEST_BUCKET_ROWS ?= 0
BENCH         ?=

export AWS_ACCESS_KEY_ID     ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_DEFAULT_REGION    ?= us-east-1
export EMULATOR_PORT
export TF_CLI_CONFIG_FILE    := $(CURDIR)/build/terraformrc
export TF_IN_AUTOMATION      := 1
export FAVORITA_DIR

TF := terraform -chdir=$(TF_LOCAL)
# Terraform variables go through the environment, so a plain `terraform plan` (and the tests)
# see exactly what `make deploy` applied.
export TF_VAR_endpoint := $(ENDPOINT)

# MiniStack from PyPI runs the Lambdas on the host Python: bundle for the host. The Docker
# emulators run them in AWS runtime containers: bundle for AWS (python3.12, manylinux).
ifeq ($(EMULATOR),ministack)
BUNDLE_TARGET := local
else ifneq ($(filter $(EMULATOR),localstack ministack-docker),)
BUNDLE_TARGET := aws
export TF_VAR_etl_package_path := $(CURDIR)/build/lambdas-aws/etl.zip
export TF_VAR_predict_package_path := $(CURDIR)/build/lambdas-aws/predict.zip
export TF_VAR_monitor_package_path := $(CURDIR)/build/lambdas-aws/monitor.zip
export TF_VAR_train_package_path := $(CURDIR)/build/lambdas-aws/train.zip
else
$(error EMULATOR must be ministack (default, no Docker), localstack or ministack-docker)
endif

##@ Help

## Show this help
help:
	@awk 'BEGIN {FS=":"} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} \
	     /^## / {desc=substr($$0, 4)} /^[a-zA-Z0-9_-]+:/ && desc {printf "  \033[36m%-14s\033[0m %s\n", $$1, desc; desc=""}' $(MAKEFILE_LIST)

## Check the prerequisites (python3 >= 3.11, terraform, a provider source) and say what to install
check:
	@command -v $(PYTHON) >/dev/null || { echo "missing: python3 >= 3.11 (https://www.python.org/downloads/)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "python3 is %s; need >= 3.11" % sys.version.split()[0])'
	@command -v terraform >/dev/null || { echo "missing: terraform >= 1.10 (https://developer.hashicorp.com/terraform/install)"; exit 1; }
	@$(PYTHON) scripts/terraform_config.py >/dev/null
	@echo "prerequisites OK: $$($(PYTHON) --version), $$(terraform version | head -1), provider source in build/terraformrc"

##@ Setup

$(VENV)/.installed: pyproject.toml
	@echo "==> project venv ($(VENV))"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(PY) -c 'import grocery_forecast, lightgbm, pandas, boto3'
	@touch $@

$(EMULATOR_VENV)/.installed: requirements/emulator.txt
	@echo "==> emulator venv ($(EMULATOR_VENV)): MiniStack"
	@$(PYTHON) -m venv $(EMULATOR_VENV)
	@$(EMULATOR_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/emulator.txt 2>&1 | grep -v '^WARNING: Location' || true
	@test -x $(EMULATOR_VENV)/bin/ministack
	@touch $@

## Create the project venv (.venv) with the library, CLI and dev tools
venv: $(VENV)/.installed

$(VENV)-checkov/.installed: requirements/checkov.txt
	@echo "==> checkov venv ($(VENV)-checkov)"
	@$(PYTHON) -m venv $(VENV)-checkov
	@$(VENV)-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements/checkov.txt 2>&1 | grep -v '^WARNING: Location' || true
	@test -x $(VENV)-checkov/bin/checkov
	@touch $@

$(VENV)-compare/.installed: requirements/compare.txt pyproject.toml
	@echo "==> compare venv ($(VENV)-compare): statsforecast, mlforecast"
	@$(PYTHON) -m venv $(VENV)-compare
	@$(VENV)-compare/bin/pip install --quiet --disable-pip-version-check -r requirements/compare.txt 2>&1 | grep -v '^WARNING: Location' || true
	@$(VENV)-compare/bin/pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | grep -v '^WARNING: Location' || true
	@$(VENV)-compare/bin/python -c 'import statsforecast, mlforecast, grocery_forecast'
	@touch $@

## Create the emulator venv (.venv-emulator) with MiniStack
emulator-venv: $(EMULATOR_VENV)/.installed

build/terraformrc: scripts/terraform_config.py
	@$(PYTHON) scripts/terraform_config.py >/dev/null

## Build the Lambda zips for the emulator (build/lambdas/*.zip; build/lambdas-aws/ for the Docker emulators)
bundle: venv
	@echo "==> Lambda bundles ($(BUNDLE_TARGET))"
	@$(PY) scripts/build_lambdas.py --target $(BUNDLE_TARGET)

## Build the Lambda zips for AWS (python3.12, manylinux) into build/lambdas-aws/
bundle-aws: venv
	@$(PY) scripts/build_lambdas.py --target aws

##@ Local stack

## Start the emulator, build the bundles, terraform apply, train and publish the sample model
up: venv emulator-start bundle deploy publish
	@echo "==> stack is up: $(ENDPOINT) (make demo | make e2e | make down)"

## Start the local AWS emulator (EMULATOR=ministack; with Docker: localstack or ministack-docker)
emulator-start:
ifeq ($(EMULATOR),ministack)
	@$(MAKE) emulator-venv
	@$(PYTHON) scripts/emulator.py start
else
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "EMULATOR=$(EMULATOR) needs a running Docker engine; without one use the default (make up)"; exit 1; }
	docker compose $(if $(filter ministack-docker,$(EMULATOR)),--profile ministack) up -d --wait $(if $(filter ministack-docker,$(EMULATOR)),ministack,localstack)
endif

## terraform init + apply of environments/local onto the emulator
deploy: build/terraformrc bundle
	@echo "==> terraform apply ($(TF_LOCAL) -> $(ENDPOINT))"
	@$(TF) init -input=false -no-color >/dev/null
	@$(TF) apply -input=false -auto-approve -no-color | grep -E '^(Apply complete|No changes|Error)' || { $(TF) apply -input=false -auto-approve; exit 1; }

## Generate the deterministic Favorita-shaped sample data into build/sample-data
sample-data: $(DATA_DIR)/train.csv

$(DATA_DIR)/train.csv: | $(VENV)/.installed
	@echo "==> sample data ($(DATA_DIR))"
	@$(VENV)/bin/grocery-forecast generate --out $(DATA_DIR) --force

$(MODEL_DIR)/metadata.json: $(DATA_DIR)/train.csv src/grocery_forecast/forecasting/features.py src/grocery_forecast/forecasting/model.py
	@echo "==> train model on the sample data"
	@$(VENV)/bin/grocery-forecast train --sales $(DATA_DIR)/train.csv --reference $(DATA_DIR) --out $(MODEL_DIR)

## Train on the sample data (if changed), publish the model and upload the reference tables
publish: $(MODEL_DIR)/metadata.json
	@echo "==> publish model + reference tables"
	@$(VENV)/bin/grocery-forecast models publish $(MODEL_DIR)
	@$(VENV)/bin/grocery-forecast reference upload $(DATA_DIR) --wait

## Upload the sample sales and a forecast request, wait for the forecasts, print where they are
demo: up
	@$(PY) scripts/demo.py --data $(DATA_DIR)

## Show the emulator's log (Lambda output included); LINES=200 by default
logs:
	@tail -n $${LINES:-200} .state/emulator/ministack.log 2>/dev/null || echo "no emulator log yet (.state/emulator/ministack.log): run make up"

## Stop the emulator (state is kept; `make up` brings the same stack back)
down:
ifeq ($(EMULATOR),ministack)
	@$(PYTHON) scripts/emulator.py stop
else
	docker compose --profile ministack down
endif

## Stop everything and delete local state: emulator data, terraform state, bundles, venvs stay
clean: down
	rm -rf .state build/lambdas build/lambdas-aws build/model build/sample-data build/demo
	rm -rf $(TF_LOCAL)/terraform.tfstate $(TF_LOCAL)/terraform.tfstate.backup $(TF_LOCAL)/.terraform

## clean + delete the venvs and every build artefact
distclean: clean
	rm -rf $(VENV) $(EMULATOR_VENV) $(VENV)-checkov $(VENV)-compare build

##@ Testing

## Unit tests (library, handlers with fake clients; no emulator)
unit: venv
	@$(PY) -m pytest tests/unit -q

## Terraform checks: fmt, validate both environments, terraform test with mock providers
tf-check: build/terraformrc
	@echo "==> terraform fmt / validate / test"
	@terraform fmt -check -recursive terraform
	@for env in terraform/environments/*/; do \
	  terraform -chdir=$$env init -backend=false -input=false -no-color >/dev/null && \
	  terraform -chdir=$$env validate -no-color >/dev/null && echo "  validate OK: $$env" || exit 1; done
	@for mod in terraform/modules/*/ terraform/environments/*/; do \
	  if ls $$mod/tests/*.tftest.hcl >/dev/null 2>&1; then \
	    terraform -chdir=$$mod init -backend=false -input=false -no-color >/dev/null && \
	    terraform -chdir=$$mod test -no-color | tail -1; fi; done

COMPARE_CUTOFF ?= 2017-07-30
COMPARE_SINCE ?=
## Side by side on one backtest split (DATA_DIR, COMPARE_CUTOFF, COMPARE_SINCE for a short history): model + baselines vs statsforecast and mlforecast; not in `make test`
compare: $(VENV)-compare/.installed $(DATA_DIR)/train.csv
	@$(VENV)-compare/bin/python scripts/compare.py --data $(DATA_DIR) --cutoff $(COMPARE_CUTOFF) \
	  $(if $(COMPARE_SINCE),--since $(COMPARE_SINCE))

## Security scan of terraform/ with checkov (skips are in the code, each with its reason)
checkov: $(VENV)-checkov/.installed
	@echo "==> checkov terraform/"
	@$(VENV)-checkov/bin/checkov -d terraform --framework terraform --download-external-modules false \
	  --skip-download --compact --quiet

## Integration tests against the deployed local stack (real terraform apply, real S3 notifications)
e2e: up
	@$(PY) -m pytest tests/integration -q

## Where retraining can run: time and peak memory of the train step on a year of Favorita-size history (slow; not in `make test`)
bench-training: venv
	@test -f build/bench/favorita-year/panel.npz || nice -n 10 $(PY) -m scripts.bench.training_size prepare --out build/bench/favorita-year
	@test -f build/bench/favorita-year/part-0007.npz || nice -n 10 $(PY) -m scripts.bench.training_size parts --data build/bench/favorita-year
	@nice -n 10 $(PY) -m scripts.bench.training_size measure --data build/bench/favorita-year --report build/bench/training_size.json \
	  $(if $(wildcard $(MODEL_DIR)/metadata.json),--champion $(MODEL_DIR))

## Backtest on two years of Favorita-size history (210,600 series, 86.6 M rows): time and peak memory of each phase; no emulator (slow; also in `make bench`)
bench-training-full: venv
	@nice -n 10 $(PY) -m scripts.bench.run --only training_full --out build/bench/training_full.json

## Benchmarks on the local stack: every figure on its own line, all in build/bench/bench.json
bench: export TF_VAR_forecast_shard_rows := $(BENCH_SHARD_ROWS)
bench: export TF_VAR_ingest_shard_bytes := $(BENCH_INGEST_SHARD_BYTES)
bench: export TF_VAR_ingest_partitions := $(BENCH_INGEST_PARTITIONS)
bench: export TF_VAR_ingest_bucket_rows := $(BENCH_INGEST_BUCKET_ROWS)
bench: up
	@$(PY) -m scripts.bench.run $(if $(BENCH),--only $(BENCH))

PY_SOURCES := src lambdas training scripts tests

## Lint and types: ruff check, ruff format --check, mypy (library, training, scripts, each handler)
lint: venv
	@echo "==> ruff check / ruff format --check / mypy"
	@$(VENV)/bin/ruff check $(PY_SOURCES)
	@$(VENV)/bin/ruff format --check $(PY_SOURCES)
	@$(VENV)/bin/mypy src training scripts
	@# both handlers are named handler.py: one mypy run each, or the module names collide
	@for handler in lambdas/*/handler.py; do $(VENV)/bin/mypy $$handler || exit 1; done

## Rewrite the Python sources in the project's format (ruff format) and apply ruff's safe fixes
format: venv
	@$(VENV)/bin/ruff check --fix $(PY_SOURCES)
	@$(VENV)/bin/ruff format $(PY_SOURCES)

## Everything CI runs: lint, unit, terraform checks and checkov, then the stack and the integration tests
test: lint unit tf-check checkov e2e

.PHONY: help check venv emulator-venv bundle bundle-aws up emulator-start deploy sample-data publish demo logs down clean \
        distclean unit tf-check checkov e2e bench bench-training bench-training-full lint format test
