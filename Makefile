# Invoice Scanner: two commands on a fresh machine.
#   make run    set up, then run the whole stack locally (API, Flower, one worker per queue)
#   make test   set up, then run the tests
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-unit benchmark-accuracy benchmark-ocr benchmark-chaos benchmark-pipeline benchmark-load clean

setup: $(STAMP)

$(STAMP): invoice.scanner.processing/pyproject.toml invoice.scanner.api/pyproject.toml requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert (3, 10) <= sys.version_info[:2] < (3, 13), "Python 3.10-3.12 is needed (rapidocr-onnxruntime): set PYTHON=python3.11"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e './invoice.scanner.processing[stages,vendors,flower]' -e ./invoice.scanner.api -r requirements-dev.txt
	touch $(STAMP)

run: setup
	$(PY) -m invoice.scanner.processing.devstack run

test: setup
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit

benchmark-accuracy: setup
	$(PY) benchmarks/accuracy/run.py --n 300 --seed 7 --workers 2

benchmark-ocr: setup
	$(PY) benchmarks/ocr/run.py

benchmark-chaos: setup
	$(PY) benchmarks/chaos/run.py --docs 40 --duration 300

benchmark-pipeline: setup
	$(PY) benchmarks/pipeline/run.py --docs 10

benchmark-load: setup
	$(PY) benchmarks/load/run.py --pollers 50 --duration 300 --upload-every 2

clean:
	rm -rf var .pytest_cache
