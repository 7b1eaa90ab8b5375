# The two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
# The CPU build, installed only when no torch is importable in the venv.
# GPU users: make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124"
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning
# threads of torch and scikit-learn starve each other (training measured 4.5x faster
# under load with PASSIVE). Set it in the environment to override.
export OMP_WAIT_POLICY ?= PASSIVE
STAMP := $(VENV)/.vaelab-installed

.PHONY: install demo test bench bench-install keras-install keras-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -e ".[test]"
	@touch $(STAMP)

demo: install
	$(VENV)/bin/vaelab demo

test: install
	$(PY) -m pytest

# Benchmarks run in their own venv: the comparisons (pythae, PyOD, SDV) pin versions (SDV: pandas < 3)
# that must not leak into the venv the tests run in.
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python

$(BENCH_VENV)/.vaelab-installed: pyproject.toml
	@test -x $(BENCH_PY) || $(PYTHON) -m venv $(BENCH_VENV)
	@$(BENCH_PY) -c "import torch" 2>/dev/null || $(BENCH_PY) -m pip install $(TORCH_SPEC)
	$(BENCH_PY) -m pip install -e ".[test]"
	$(BENCH_PY) -m pip install -e ".[bench]" || echo "some comparisons could not be installed; their benchmarks run without them"
	@touch $@

bench-install: $(BENCH_VENV)/.vaelab-installed

bench: bench-install
	$(BENCH_PY) bench/train_speed.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) build src/*.egg-info .pytest_cache

# A Keras VAE adopted through ONNX (bench/keras_adopt.py): TensorFlow and tf2onnx in a venv of their own.
KERAS_VENV ?= .venv-keras
keras-install: $(KERAS_VENV)/.installed

$(KERAS_VENV)/.installed:
	@test -x $(KERAS_VENV)/bin/python || $(PYTHON) -m venv $(KERAS_VENV)
	$(KERAS_VENV)/bin/python -m pip install tensorflow-cpu tf2onnx onnxruntime scikit-learn
	@touch $@

keras-check: install keras-install
	$(PY) bench/keras_adopt.py --keras-python $(KERAS_VENV)/bin/python
