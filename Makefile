# framerun — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := .stamps

.PHONY: setup demo test soak bench bench-peer compat lint lint-infra clean

# setup: system packages (apt), the Python venv with the project installed
# editable, and the pinned third-party JS. Each step re-runs only when its
# inputs change.
setup: $(STAMP)/system $(STAMP)/venv $(STAMP)/vendor

$(STAMP)/system: scripts/install-system-deps.sh
	@mkdir -p $(STAMP)
	bash scripts/install-system-deps.sh
	@touch $@

$(STAMP)/venv: pyproject.toml
	@mkdir -p $(STAMP)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

$(STAMP)/vendor: package.json package-lock.json scripts/vendor-js.sh scripts/vendor.mjs examples/vendor.json scripts/install-fontset.mjs service/framerun_service/render/fontset.json examples/video/make_clip.py $(STAMP)/venv
	@mkdir -p $(STAMP)
	bash scripts/vendor-js.sh
	@touch $@

# demo: the full distributed path on the local stack (left running for the next
# demo; `.venv/bin/framerun local down` stops it).
demo: setup
	$(PY) examples/render_hello_cloud.py

test: setup
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

# soak: the reliability suite scaled up (every fault 5×, 24 renders at once,
# 3000 fuzzed requests, random seeds); its figures go to out/reliability-figures-soak.json.
soak: setup
	FRAMERUN_SOAK=1 $(PY) -m pytest -q -p no:cacheprovider -o timeout=1800 tests/reliability

bench: setup
	$(PY) scripts/bench.py

# bench-peer: framerun against the HyperFrames CLI (../shared/peer) on the peer kit's four
# compositions and HyperFrames' own fixtures: fps, peak memory, PSNR against framerun's
# lossless reference; writes docs/performance.md and .png. Not part of `make test`.
# Pass options with ARGS, e.g. `make bench-peer ARGS="--only blank-demo --reps 1"`.
bench-peer: setup
	$(PY) scripts/bench_peer.py $(ARGS)

# compat: HyperFrames' own regression fixtures (../shared/hf-fixtures), rendered by the
# HyperFrames CLI and by framerun and compared; writes docs/compatibility.md. Needs the
# shared peer kit beside the repo (installs the peer on first use); not part of `make test`.
compat: setup
	$(PY) scripts/compat.py

lint: setup lint-infra
	$(VENV)/bin/yamllint workflows
	$(VENV)/bin/ruff check sdk service tests scripts examples
	$(VENV)/bin/ruff format --check sdk service tests scripts examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile

# lint-infra: `terraform fmt -check` when a terraform binary is present, and checkov
# from its own venv (it replaces python-hcl2's module, so never the project venv).
lint-infra:
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; \
	else echo "terraform not on PATH: skipping terraform fmt -check (tests/infra parses the module)"; fi
	test -x .venv-checkov/bin/checkov || (python3 -m venv .venv-checkov && .venv-checkov/bin/pip install -q checkov)
	.venv-checkov/bin/checkov -d terraform --framework terraform --skip-download --quiet --compact

clean:
	rm -rf $(STAMP) out .pytest_cache
