# Agent OS — the two newcomer commands are `make demo` and `make test`; each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test check lint format typecheck bench soak chaos npm-tools npm-tools-if-available clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	./demo.sh $(if $(AGENT),--agent $(AGENT),)

test: $(STAMP) npm-tools-if-available
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy orchestrator tests

# the layering written down as import contracts (pyproject.toml [tool.importlinter])
.PHONY: contracts
contracts: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck contracts test

bench: $(STAMP)
	$(BIN)/python -m bench.run

soak: $(STAMP)
	$(BIN)/python -m bench.run --only s --out bench/soak_results.json

chaos: $(STAMP)
	$(BIN)/python -m chaos.run

npm-tools:
	cd tools/npm && npm ci --no-audit --no-fund || (cd tools/npm && npm install --no-audit --no-fund)

# `make test` on a fresh machine: install the pinned npm tools (GitHub's OpenAPI description and GraphQL schema,
# prism, the agent CLIs) when npm is there and they are missing or not the pinned versions (`npm ls` checks).
npm-tools-if-available:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "npm not found: the contract and agent-CLI tests will skip (install Node.js and npm to run them)"; \
	elif ! (cd tools/npm && npm ls --depth=0 >/dev/null 2>&1); then \
	  echo "installing the pinned npm tools (tools/npm)"; $(MAKE) --no-print-directory npm-tools; \
	fi

clean:
	rm -rf $(VENV) runtime/sandbox runtime/worktrees
