# The two entry points of the README. Each creates its own virtual environment.
#   make demo   set up and start the app on the committed default model
#   make test   set up (Python packages + Debian's chromium) and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501

.PHONY: demo test models chromium bench

# Serves the committed default model (models/DEFAULT). Bound to 127.0.0.1: that, not localhost,
# is the address a Spotify app accepts as a local redirect URI.
demo: $(VENV)/.serve-installed
	@test -f models/DEFAULT || { echo "models/DEFAULT is missing: run 'make models' first" >&2; exit 1; }
	@echo "Starting the app on http://127.0.0.1:$(PORT)/ (Ctrl+C stops it)"
	$(PY) -m streamlit run streamlit_app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --server.fileWatcherType none --browser.gatherUsageStats false

test: $(VENV)/.dev-installed chromium
	$(PY) -m pytest

# Rebuild the committed default artifacts from the embedded CSV (about 12 minutes on 2 busy cores).
models: $(VENV)/.dev-installed
	$(PY) -m scripts.build_default_models

# Speed figures (printed; run on a quiet machine). docs/ records what they printed.
bench: $(VENV)/.dev-installed chromium
	$(PY) -m benchmarks.ingest
	$(PY) -m benchmarks.serving
	$(PY) -m benchmarks.hybrid_serving
	$(PY) -m benchmarks.train_speed
	$(PY) -m benchmarks.app_cold_start

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# constraints.txt pins every package to the version the tests ran with (see its header).
$(VENV)/.serve-installed: requirements.txt constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-train.txt requirements-dev.txt constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@ $(VENV)/.serve-installed

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
