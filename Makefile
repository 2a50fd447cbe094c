# The two commands of the README: `make run` (the main job) and `make test`.
# Both set up everything they need on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
# A real Triton server for the Triton backend's tests: nvidia-pytriton carries one, but pins
# numpy<2, so it gets an environment of its own.
PYTRITON_VENV ?= .venv-pytriton
SGUARDO := $(VENV)/bin/sguardo
# Debian packages the tests drive for real: a browser for the web page, Prometheus (+ promtool)
# and the Pushgateway for the monitoring checks, podman and debootstrap to build and run the
# serve image, wrk for the load-test sweep.
APT_PACKAGES ?= chromium prometheus prometheus-pushgateway podman buildah runc uidmap \
	slirp4netns fuse-overlayfs debootstrap wrk
# sguardo/model and sguardo/service are links to model/ and service/: ruff lints each file once.
LINT_PATHS := sguardo model service tests loadtests deploy

.PHONY: setup system-deps pytriton run test lint

setup: $(VENV)/.installed

# torch first, pinned: that version is a local CPU build here, and installing it
# before the extras stops pip from pulling the registry's CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[train,serve,dev]'
	touch $@

pytriton: $(PYTRITON_VENV)/.installed

$(PYTRITON_VENV)/.installed:
	python3 -m venv $(PYTRITON_VENV)
	$(PYTRITON_VENV)/bin/python -m pip install -q nvidia-pytriton onnxruntime
	touch $@

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: setup
	$(SGUARDO) serve

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

test: setup system-deps pytriton lint
	SGUARDO_PYTRITON_PYTHON=$(abspath $(PYTRITON_VENV))/bin/python $(VENV)/bin/pytest
