# The two entry points of the README. Each creates its own virtual environment.
#   make demo   set up and start the app on the committed default model
#   make test   set up (Python packages + Debian's chromium) and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501

.PHONY: demo test models chromium bench

demo: $(VENV)/.serve-installed
	$(PY) -m streamlit run streamlit_app.py --server.port $(PORT) --server.headless true

test: $(VENV)/.dev-installed chromium
	$(PY) -m pytest

# Rebuild the committed default artifacts from the embedded CSV (under 5 minutes on 2 cores).
models: $(VENV)/.dev-installed
	$(PY) scripts/build_default_models.py

bench: $(VENV)/.dev-installed
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/serving.py
	$(PY) benchmarks/train_speed.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.serve-installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-train.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.serve-installed

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
