# Two commands do all the setup: `make bench` (the suite here, site published, table printed)
# and `make test`. Both create .venv on first use with the MLX build for this platform.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PRESET ?=
ARGS ?=
# Which MLX: Metal on macOS, CUDA 13 where an NVIDIA driver is present (with torchao for llm_quant and
# nvidia-ml-py for the energy figures), else the CPU build.
MLX_EXTRA := $(shell if [ "$$(uname -s)" = Darwin ]; then echo metal; \
	elif command -v nvidia-smi >/dev/null 2>&1; then echo cuda13,quant,energy; else echo cpu; fi)

.PHONY: setup bench test check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch on Linux pulls a multi-GB CUDA build on CPU-only machines
	$(BIN)/python -m pip install -q --no-compile -c constraints.txt torch
	$(BIN)/python -m pip install -q --no-compile -c constraints.txt -e ".[$(MLX_EXTRA),test]"
	# the bytecode pip would write one file at a time, on every core (a 2-core install: 67 s against 97 s),
	# but not the packages' tests nor transformers' models other than auto and llama (a third of the sources:
	# 18 s against 29 s; two other model folders the imports touch are read from source); a file for another
	# Python (torch's py312_intrinsics.py) fails to compile, as pip lets it
	$(BIN)/python -m compileall -q -j0 -x '/tests?/|/transformers/models/(?!(auto|llama)/)[^/]+/' \
		$(VENV)/lib > /dev/null || true
	touch $@

bench: setup
	$(BIN)/mlxvspt run $(if $(PRESET),--preset $(PRESET)) $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(ARGS)

check: setup
	$(BIN)/mlxvspt check $(ARGS)

clean:
	rm -rf $(VENV) .asv
