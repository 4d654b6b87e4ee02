# labkit: `make lab-up` gets a lab; `make test` runs every test. Each target sets up what
# it needs first (host engine, Python package, node image), idempotently.
SHELL := /bin/bash
# labkit and its dev tools live in this checkout's own virtual environment: the machine's
# interpreter gets nothing, and another checkout's `make` repoints nothing of this one.
VENV ?= .venv
# Only makes the environment; everything else runs from it.
BASE_PYTHON ?= python3
PYTHON := $(VENV)/bin/python
LABKIT := $(VENV)/bin/labkit
KUBERNETES_VERSION ?=
LAB ?= lab
WORKERS ?= 2
PYTEST_ARGS ?=

image_flags := $(if $(KUBERNETES_VERSION),--kubernetes-version $(KUBERNETES_VERSION),)
stamp := $(VENV)/.labkit-installed
lint_paths := labkit tests scenarios conftest.py bench

.PHONY: help host install image scenario-images suites lab-up lab-down test test-unit test-integration scenarios lint prune

help:
	@echo "make lab-up        bring up a lab ($(LAB): 1 control plane + $(WORKERS) workers)"
	@echo "make lab-down      remove it"
	@echo "make test          unit tests, node image integration test and scenarios"
	@echo "make test-unit     unit tests only (no Docker)"
	@echo "make image         build the node image (offline, cached)"
	@echo "make host          install and start Docker, register the capability wrapper"
	@echo "make prune         remove everything labkit created"

host:
	bash labkit/host/setup.sh

# uv installs labkit and its dev extras in 1.6 s where the venv's pip takes 21 s (empty
# caches both; the venv and uv in it 4.4 s), so pip only brings uv in.
$(VENV)/bin/uv:
	$(BASE_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv

$(stamp): pyproject.toml | $(VENV)/bin/uv
	$(VENV)/bin/uv pip install --quiet --python $(PYTHON) -e '.[dev]'
	touch $@

install: $(stamp)

image: host install
	$(LABKIT) image build $(image_flags)

# The upgrade and skew scenarios also run the newest patch of the previous minor.
scenario-images: image
	$(LABKIT) image build --kubernetes-version $$($(PYTHON) -c 'from labkit.versions import PREVIOUS_MINOR_VERSION as v; print(v)')

lab-up: image
	$(LABKIT) lab up --name $(LAB) --workers $(WORKERS) $(image_flags)
	@echo "labkit is in $(VENV): \`. $(VENV)/bin/activate\` puts it on PATH, or run $(LABKIT)"

lab-down: install
	$(LABKIT) lab down $(LAB)

test-unit: install
	$(PYTHON) -m pytest tests/ -m "not integration" $(PYTEST_ARGS)

test-integration: image
	$(PYTHON) -m pytest tests/ -m integration $(PYTEST_ARGS)

# The suites' binaries and test images of the default release, built before any lab
# exists rather than while a scenario's lab waits for them (a no-op once cached).
suites: image
	$(LABKIT) image suites

# The scenarios run on SCENARIO_WORKERS xdist workers; --dist loadscope keeps a module's
# tests, hence its one lab, on one worker (not loadgroup: xdist 3.8 loses its groups on
# pytest 9, bench/xdist_notes.md). A host_wide scenario (the host-wide prune) removes every
# lab on the host, so it runs alone afterwards.
SCENARIO_WORKERS ?= 2
xdist := -n $(SCENARIO_WORKERS) --dist loadscope

scenarios: scenario-images suites
	$(PYTHON) -m pytest scenarios/ $(xdist) -m "not host_wide" $(PYTEST_ARGS)
	$(PYTHON) -m pytest scenarios/ -m host_wide $(PYTEST_ARGS)

test: scenario-images suites
	$(PYTHON) -m pytest tests/ scenarios/ $(xdist) -m "not host_wide" $(PYTEST_ARGS)
	$(PYTHON) -m pytest scenarios/ -m host_wide $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check $(lint_paths)
	$(VENV)/bin/ruff format --check $(lint_paths)

prune: install
	$(LABKIT) lab prune

# Every [Conformance] spec of the release on a fresh 1 + 2 lab, removed afterwards (its
# reports stay in CONFORMANCE_REPORT); ginkgo runs the [Serial] specs alone.
CONFORMANCE_LAB ?= conformance
CONFORMANCE_PARALLEL ?= 4
CONFORMANCE_REPORT ?= labkit-logs/conformance
.PHONY: conformance
conformance: image
	$(LABKIT) lab up --name $(CONFORMANCE_LAB) --workers 2 $(image_flags)
	status=0; $(LABKIT) conformance $(CONFORMANCE_LAB) --suite conformance \
		--parallel $(CONFORMANCE_PARALLEL) --report $(CONFORMANCE_REPORT) || status=$$?; \
	$(LABKIT) lab down $(CONFORMANCE_LAB); exit $$status
