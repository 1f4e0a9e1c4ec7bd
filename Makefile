# MLaaS Workbench: `make lab` (set up, then JupyterLab) and `make test` (set up, then every test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8888
# A CPU build of PyTorch where no NVIDIA GPU is present. On machines whose pip cannot find a
# CPU wheel locally, point TORCH_INDEX_URL at PyTorch's CPU wheel index (see pytorch.org).
TORCH_CPU ?= torch==2.13.0
TORCH_INDEX_URL ?=
HAS_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1)
# comma must be defined before EXTRAS expands it (:= expands at once).
comma := ,
EXTRAS := test,bench$(if $(HAS_GPU),$(comma)gpu$(comma)torch)
STAMP := $(VENV)/.installed

.PHONY: setup lab test bench doctor clean help

help:
	@echo "make lab    set up .venv and start JupyterLab on 127.0.0.1:$(PORT) (PORT=...)"
	@echo "make test   set up .venv and run every test (unit, notebooks, browser)"
	@echo "make bench  print the benchmarks' figures"
	@echo "make doctor what the workbench sees on this machine"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile extensions/settings/overrides.json | $(BIN)/python
ifeq ($(HAS_GPU),1)
	@echo "NVIDIA GPU found: installing the gpu extra (cuDF, cuML, CuPy) and a CUDA build of PyTorch"
else
	@echo "no NVIDIA GPU: installing a CPU build of PyTorch ($(TORCH_CPU))"
	$(BIN)/python -m pip install --quiet "$(TORCH_CPU)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -c "import torch, sys; sys.exit('a CUDA build of torch was installed on a machine without a GPU' if torch.version.cuda else 0)"
endif
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp extensions/settings/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

lab: setup
	$(BIN)/mlaas lab --port $(PORT)

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/explore.py
	$(BIN)/python bench/label_active.py
	$(BIN)/python bench/train_mnist.py
	$(BIN)/python bench/embedding_mnist.py
	$(BIN)/python bench/dashboards.py
	$(BIN)/python bench/tune.py
	$(BIN)/python bench/conformal.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/pipelines.py

doctor: setup
	$(BIN)/mlaas doctor

clean:
	rm -rf $(VENV) *.egg-info test-artifacts .pytest_cache
