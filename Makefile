# agentsite — `make run` starts the server, `make test` runs the whole suite (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# PostgreSQL pass of the suite; the test runner creates and drops its own test_* database.
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: install install-server js-clients vendor-js migrate run serve test test-sqlite test-postgres fuzz bench lint format clean

# Two installs, each remembered by a stamp that is older than pyproject.toml when it changes:
# the server's packages (`make run`), and those plus the test, lint and benchmark tools (the
# `dev` extra: `make test`, `make lint`, …). The dev install also satisfies the server one.
SERVER_STAMP := $(VENV)/.installed-server
DEV_STAMP := $(VENV)/.installed-dev

# pip is upgraded first: the current one installs the packages faster than the one a
# virtualenv starts with (measured: it more than pays for its own download).
$(BIN)/python:
	@echo "==> Creating the virtualenv $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> Upgrading pip"
	$(BIN)/python -m pip install --upgrade pip

$(SERVER_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> Installing the server's packages (pyproject.toml dependencies) into $(VENV)"
	$(BIN)/python -m pip install -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> Installing the server's packages and the dev extra (pytest, ruff, playwright, …)"
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $@ $(SERVER_STAMP)

install-server: $(SERVER_STAMP)

install: $(DEV_STAMP)

# Real JavaScript client libraries the suite drives under Node (tests/js), from the lockfile.
JS_CLIENTS := tests/js
$(JS_CLIENTS)/node_modules/.installed: $(JS_CLIENTS)/package-lock.json
	@echo "==> Installing the JavaScript client libraries the tests drive (tests/js, npm ci)"
	cd $(JS_CLIENTS) && npm ci --no-audit --no-fund
	@touch $@

js-clients: $(JS_CLIENTS)/node_modules/.installed

# The web UI's browser libraries (Markdown parser, HTML sanitizer, code highlighter), pinned by
# vendor/package-lock.json and committed as static files with their licences: the pages load
# only the site's own files (strict CSP) and a server needs no Node. Edit vendor/package.json,
# run `cd vendor && npm install` to move the lockfile, then `make vendor-js` to refresh the copies.
VENDOR_JS := agentsite/static/agentsite/vendor
vendor-js:
	@echo "==> Installing the web UI's browser libraries (vendor/, npm ci) and copying them to $(VENDOR_JS)"
	cd vendor && npm ci --no-audit --no-fund --ignore-scripts
	rm -rf $(VENDOR_JS) && mkdir -p $(VENDOR_JS)
	cp vendor/node_modules/marked/lib/marked.umd.js $(VENDOR_JS)/marked.umd.js
	cp vendor/node_modules/marked/LICENSE.md $(VENDOR_JS)/marked.LICENSE.md
	cp vendor/node_modules/dompurify/dist/purify.min.js $(VENDOR_JS)/purify.min.js
	cp vendor/node_modules/dompurify/LICENSE $(VENDOR_JS)/dompurify.LICENSE
	cp vendor/node_modules/@highlightjs/cdn-assets/highlight.min.js $(VENDOR_JS)/highlight.min.js
	cp vendor/node_modules/@highlightjs/cdn-assets/styles/github.min.css $(VENDOR_JS)/highlight-github.min.css
	cp vendor/node_modules/@highlightjs/cdn-assets/styles/github-dark.min.css $(VENDOR_JS)/highlight-github-dark.min.css
	cp vendor/node_modules/@highlightjs/cdn-assets/LICENSE $(VENDOR_JS)/highlight.js.LICENSE
	# The source maps are not shipped: a reference to a missing one fails collectstatic.
	sed -i '/sourceMappingURL=/d' $(VENDOR_JS)/*.js
	cd vendor && node -e 'const l=require("./package-lock.json").packages;for(const[k,v]of Object.entries(l))if(k)console.log(k.replace("node_modules/",""),v.version)' > ../$(VENDOR_JS)/VERSIONS

migrate: install-server
	@echo "==> Migrating the database (DATABASE_URL, default db.sqlite3)"
	$(BIN)/python manage.py migrate --noinput

# The development server, with DEBUG on unless DEBUG is set in the environment: with DEBUG off
# the site refuses to serve with the development SECRET_KEY (README "Production").
run: migrate
	@echo "==> Serving http://$(HOST):$(PORT)/ — the offline model answers unless OPENAI_API_KEY is set; Ctrl-C stops"
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The production server (`manage.py serve`: uvicorn with uvloop + httptools, no autoreload, a
# listen backlog of LISTEN_BACKLOG). HOST, PORT and WORKERS come from the environment (or
# `make serve WORKERS=2`); DEBUG stays as set, so production settings (SECRET_KEY, …) apply.
WORKERS ?= 1
serve: migrate
	@echo "==> Serving http://$(HOST):$(PORT)/ with $(WORKERS) worker process(es); Ctrl-C stops"
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

# The whole suite (fast tests and the slow ones that start server processes) on SQLite, then
# again on PostgreSQL. Plain `.venv/bin/pytest` runs only the fast tests. Redis is needed by
# both passes (the event-log contract tests); the multi-process tests always run on
# PostgreSQL + Redis whatever the pass, so they run once, in the PostgreSQL pass.
ALL := -m "slow or not slow"
ALL_BUT_MULTIPROCESS := -m "(slow or not slow) and not multiprocess"
# The browser tests (e2e: headless /usr/bin/chromium) and the benchmark harness's smoke run
# (which makes its own SQLite and PostgreSQL databases) run once, in the SQLite pass; so do the
# README's examples (they document `make run`, which is SQLite) and the SSE client-library
# tests (the wire format does not depend on the database).
ALL_BUT_E2E := -m "(slow or not slow) and not e2e and not bench" \
	--ignore=tests/test_readme_examples.py --ignore=tests/agentsite/web/test_sse_clients.py
# The slowest tests of each pass are listed at its end, to see where the suite's time goes.
DURATIONS := --durations=25

test: install test-sqlite test-postgres

test-sqlite: install js-clients
	bash scripts/services.sh redis chromium
	$(BIN)/pytest $(ALL_BUT_MULTIPROCESS) $(DURATIONS)

test-postgres: install js-clients
	bash scripts/services.sh postgres redis
	DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest $(ALL_BUT_E2E) $(DURATIONS)

# A longer, randomized schemathesis run against /openapi.json (`make test` runs a bounded,
# derandomized one), on SQLite. FUZZ_EXAMPLES=2000 make fuzz for more.
FUZZ_EXAMPLES ?= 500
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/agentsite/web/test_schema_fuzz.py

# Benchmarks (bench): agentsite beside the FastAPI service it replaces (throughput, time to the
# first event and first text delta), 1,000 slow streams, session-store latency, a py-spy
# profile of the server. Needs PostgreSQL; prints a table and writes bench-results.json.
# `.venv/bin/python -m bench --quick` is a smoke run.
bench: install
	bash scripts/services.sh postgres
	$(BIN)/python -m bench

# ruff, then mypy with django-stubs over agentsite/, chat/ and research/ ([tool.mypy] in
# pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(JS_CLIENTS)/node_modules db.sqlite3 test-db.sqlite3* .pytest_cache .ruff_cache .mypy_cache *.egg-info
