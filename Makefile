# Two entry points (README quick start): `make demo` and `make test`.
# Both create .venv on first use and reuse it afterwards (re-installing only when a
# requirements file changed).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONFIG ?= config.yml
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test bench results clean-demo

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# The whole pipeline on the bundled (synthetic) demo data. Every step reuses what is
# already up to date, so a second run is quick.
BUDGETS ?= 10 20 40
demo: $(STAMP)
	$(PY) embed_dataset.py --config_path $(CONFIG)
	$(PY) predictor.py --config_path $(CONFIG) --strategy all
	$(PY) predictor.py --config_path $(CONFIG) --strategy all --predict
	$(PY) routing_unconstrained.py --config_path $(CONFIG)
	$(PY) routing_constrained.py --config_path $(CONFIG) --mode global --budget $(BUDGETS)
	$(PY) routing_constrained.py --config_path $(CONFIG) --mode local --budget $(BUDGETS)

test: $(STAMP)
	$(PY) -m pytest -q tests

# Regenerate docs/RESULTS.md and its plots from the real data in ../shared/data
# (or $$CONCUR_SHARED_DATA). Intermediate files go to results_work/ and are reused.
results: $(STAMP)
	$(PY) results.py

# Speed benchmarks (they measure and print). bench_predictor_switches.py and
# bench_predictor_levers.py are quality studies on imported data; run them by hand.
bench: $(STAMP)
	@for b in benchmarks/bench_import.py benchmarks/bench_predictor.py benchmarks/bench_routing.py; do \
		echo "== $$b"; $(PY) $$b || exit 1; done

# Remove generated demo artifacts (embeddings, predictors, outputs); inputs stay.
clean-demo:
	rm -rf data/demo/*.pt data/demo/*.pt.meta.json data/demo/predictors data/demo/output
