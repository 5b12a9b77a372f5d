# casenotes — set-up and everyday commands. Each target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --disable-pip-version-check -q

.PHONY: demo demo-once stack stack-triton test test-fast bench bench-stream model eval install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Runtime install (what the worker and the demo need).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

# Everything the test suite needs: training (torch pinned to the CPU build), the development
# Triton server (nvidia-pytriton), and the test tools.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev,train,triton-dev,eval]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install            ## broker + worker + sample replay; notes live in the terminal and on http://127.0.0.1:6066/
	$(BIN)/casenotes demo

demo-once: install       ## the same, exits 0 once every sample case is processed, with a summary
	$(BIN)/casenotes demo --once

stack: install-dev       ## the Procfile (broker, worker, replay) under honcho, as separate processes
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

stack-triton: install-dev ## the same with the development Triton server and CASENOTES_ENGINE=triton
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile.triton start

test: install-dev        ## everything CI runs
	$(BIN)/python -m pytest -q -ra

test-fast: install-dev   ## unit tests only (no broker, worker or Triton)
	$(BIN)/python -m pytest -q -m "not integration"

bench: install-dev       ## classifier latency/throughput, note-taking throughput
	$(BIN)/python bench/relevance_bench.py
	$(BIN)/python bench/notetaker_bench.py

bench-stream: install-dev ## broker + worker + simulated LLM: note latency, overhead phases, throughput, worker CPU per message (tuned vs naive)
	$(BIN)/python bench/stream_bench.py $(BENCH_ARGS)

model: install-dev       ## rebuild the bundled relevance classifier from data/relevance (progress shown)
	$(BIN)/python -m casenotes.engines.relevance.split
	$(BIN)/python -m casenotes.engines.relevance.export

TWEETSUMM_VALID := ../shared/data/tweetsumm/valid.jsonl
EVAL_SYSTEMS    := progressive,progressive-nofilter,chunk-200,chunk-500,bulk,lead-2,first-last-tagged

eval: install-dev        ## notes on TweetSumm valid (5 systems + baselines, judge skipped); classifier reports
	@if [ -f $(TWEETSUMM_VALID) ]; then $(BIN)/casenotes eval run --dataset tweetsumm:$(TWEETSUMM_VALID) \
		--systems $(EVAL_SYSTEMS) --out reports/eval/tweetsumm-valid; \
	else echo "$(TWEETSUMM_VALID) absent: note evaluation skipped"; fi
	$(BIN)/python -m casenotes.engines.relevance.evaluate --out .casenotes/eval/test   # the committed report is written by make model
	$(BIN)/python -m casenotes.engines.relevance.evaluate --data data/relevance/independent/bullets.jsonl \
		--exclude-seen --out reports/relevance/independent
	@if [ -f ../shared/data/twitter-care/dev.json ]; then $(BIN)/python -m casenotes.engines.relevance.external; \
	else echo "../shared/data absent: external evaluation skipped"; fi

clean:
	rm -rf .casenotes .pytest_cache
