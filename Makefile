# Virtual Tutor developer commands. Every target installs what it needs first (safe to repeat).
VENV   ?= .venv
PY     := $(VENV)/bin/python
BUF    := node_modules/.bin/buf
# Hand-written Python packages (generated *_pb2* files under protos/ are excluded).
PACKAGES := $(wildcard svc_core asr_svc llm_svc tts_svc lipsync_svc gateway rtc_edge web_backend loadtest benchmarks model_fetch)

.PHONY: install dev test check lint protos bench clean

install:
	@bash scripts/bootstrap.sh

dev: install  ## Run every service on its default port with the embedded engines.
	$(PY) scripts/dev.py

test: install  ## The whole test suite.
	$(PY) -m pytest $(PYTEST_ARGS)

check: install  ## Lint, format, types, protobuf lint.
	$(VENV)/bin/ruff check $(PACKAGES) tests scripts
	$(VENV)/bin/ruff format --check $(PACKAGES) tests scripts
	$(VENV)/bin/mypy $(PACKAGES)
	$(BUF) lint
	$(BUF) format --diff --exit-code

protos: install  ## Regenerate the Python code beside each .proto.
	$(PY) scripts/gen_protos.py

bench: install  ## Service benchmarks, then one summary table and bench-results/summary.json.
	$(PY) scripts/bench.py

clean:
	rm -rf var bench-results test-artifacts .pytest_cache .mypy_cache .ruff_cache
