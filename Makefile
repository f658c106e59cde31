# markwatch: two commands on a fresh machine.
#   make demo   crawl the bundled demo marketplace into ./markwatch-data and verify it
#   make test   lint, type-check and run the whole test suite (what CI runs)
# Both create .venv, install the project and make sure a Chromium is there, idempotently.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck chromium ceph testtools redis postgres bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "markwatch needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

chromium: $(STAMP)
	@VENV=$(VENV) scripts/ensure-chromium.sh

# The S3 tests run against a real Ceph RADOS Gateway; install it when missing (root + apt).
# Without root or apt the Ceph tests are skipped loudly (CI=true makes that a failure).
ceph:
	@bash scripts/install-ceph.sh || echo "markwatch: Ceph not installed; its tests will be skipped"

# Programs the tests use, installed when missing: poppler-utils (the PDF report is turned into
# images and text) and openssl (the tests' RFC 3161 time-stamping authority).
testtools:
	@scripts/apt-ensure.sh pdftoppm poppler-utils || echo "markwatch: PDF report tests will fail"
	@scripts/apt-ensure.sh openssl openssl || echo "markwatch: time-stamping tests will fail"

# The frontier tests run a real Redis (Debian's redis-server), installed when missing.
redis:
	@scripts/apt-ensure.sh redis-server redis-server || echo "markwatch: Redis frontier tests will be skipped"

# The PostgreSQL catalog tests run a real PostgreSQL (Debian's postgresql), installed when missing.
postgres:
	@scripts/apt-ensure.sh pg_ctlcluster postgresql || echo "markwatch: PostgreSQL catalog tests will be skipped"

# The demo's time-stamping authority signs with the openssl command (without it the demo runs,
# and says its time is not attested).
demo: $(STAMP) chromium
	@scripts/apt-ensure.sh openssl openssl || echo "markwatch: no openssl; the demo run's time will not be attested"
	$(BIN)/markwatch demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) chromium ceph testtools redis postgres lint typecheck
	$(BIN)/pytest

bench: $(STAMP) chromium
	$(BIN)/python bench/run.py $(BENCH_ARGS)

.PHONY: triage-eval
triage-eval: $(STAMP)  # offline, no browser: precision@50, recall, AUC, cluster purity
	$(BIN)/python bench/triage_eval.py $(TRIAGE_EVAL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
