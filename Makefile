# The two commands of the README: `make demo` (the main job on the embedded gallery) and
# `make test` (lint, types, tests). Both create the virtualenv they need on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
GS := $(BIN)/gallery-sync
IMAGE := swr.cn-north-4.myhuaweicloud.com/acme-ml/summarizer-t5@sha256:9f2c1e0b7a4d3c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6

.PHONY: install demo test lint bench bench-100k clean browser-tests-setup

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q src  # as pip does for a regular install
	touch $@

demo: install
	$(GS) validate
	$(GS) apps add flowers-resnet50 --region cn-north-4
	$(GS) apps add flowers-resnet50-v2 --region cn-east-3
	$(GS) apps add invoice-ocr-layoutlm --region cn-north-4
	$(GS) apps add summarizer-t5 --region cn-north-4 --image $(IMAGE)
	$(GS) plan
	$(GS) apply --auto-approve --message "make demo"
	$(GS) plan --detailed-exitcode
	$(GS) show

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# The browser tests' tools: Debian's Chromium (Playwright drives /usr/bin/chromium; its own
# browser download cannot work here) and axe-core from the npm registry, in tests/web.
browser-tests-setup: install
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)
	cd tests/web && npm ci --silent --no-audit --no-fund

bench: install
	$(BIN)/python -m pip install --quiet check-jsonschema
	$(BIN)/python -m compileall -q src
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/scale.py --assets 10000
	$(BIN)/python benchmarks/reconcile_bench.py --assets 10000 --rounds 100
	$(BIN)/python benchmarks/web.py --assets 10000
	command -v wrk >/dev/null 2>&1 || (apt-get install -y -qq wrk >/dev/null 2>&1 || true)  # else a Python load client
	$(BIN)/python benchmarks/serve_bench.py --assets 10000

# Issue 15's figures at 100,000 assets (several minutes): every command, every shape.
bench-100k: install
	$(BIN)/python -m compileall -q src
	$(BIN)/python benchmarks/scale.py --assets 100000 --repeat 2

clean:
	rm -rf $(VENV) .gallery .pytest_cache .mypy_cache .ruff_cache
