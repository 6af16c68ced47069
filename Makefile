# DGL Lab. `make test` and `make run` set everything up on first use (.venv + requirements).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: setup test test-fast run cli bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser"

run: setup
	$(PY) -m streamlit run app/main.py --server.port $(PORT)

cli: setup
	$(PY) -m dgl_engine train

bench: setup
	$(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) .pytest_cache
