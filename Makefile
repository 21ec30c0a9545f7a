# Two commands on a fresh machine: `make demo` (the main job on simulated data) and
# `make test`. Both create the virtual environment first (`make setup`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo

.PHONY: setup chromium demo test lint check bench clean

setup: $(STAMP) chromium

# The web tests drive Debian's headless Chromium and its driver (never a downloaded browser).
chromium:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Byte-compiled once here: the environment may forbid writing .pyc at run time
	# (PYTHONDONTWRITEBYTECODE), and compiling the package costs every command ~0.25 s.
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

demo: setup
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/civicsentry simulate $(DEMO)/data --posts 200000 --seed 7
	$(BIN)/civicsentry ingest $(DEMO)/data/posts.parquet $(DEMO)/data/accounts.parquet -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry info -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry detect -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry network export $(DEMO)/network.gexf -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry clusters export $(DEMO)/clusters.csv -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry score $(DEMO)/data/truth.csv -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry accounts build -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry report $(DEMO)/report.html --cluster 1 -w $(DEMO)/civicsentry.duckdb
	$(BIN)/civicsentry warn -w $(DEMO)/civicsentry.duckdb

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

check: lint test

bench: setup
	$(BIN)/python bench/bench_ingest.py --sizes 1000000 10000000
	$(BIN)/python bench/bench_coordination.py --runs 3 --default
	$(BIN)/python bench/score_detection.py --posts 200000 1000000 --seed 1
	$(BIN)/python bench/bench_engines.py --sizes 1000000 10000000 --write
	$(BIN)/python bench/bench_claims.py
	$(BIN)/python bench/bench_narratives.py --posts 1000000 --detect
	$(BIN)/python bench/bench_signals.py --posts 200000 --seeds 7 8 9 10 11
	$(BIN)/python bench/bench_warn.py replay --posts 200000 --seed 1
	$(BIN)/python bench/bench_warn.py incremental --posts 10000000 --batch 10000 --repeat 3

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
