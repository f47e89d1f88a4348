# homeforge: the two commands of the README, and the pieces they are made of.
#   make demo   lab up --cluster (if needed) -> apply site -> apply site again (the fast path:
#               every host probed "unchanged (probe)", no Ansible run)
#               -> seed the model host to host -> models list -> verify -> cluster status
#               -> a question through the AI gateway with a consumer key -> gateway usage
#               -> lab recap (what ran for real, what against stand-ins; see README)
#   make test   lint + ansible-test sanity + unit, then integration (real podman labs) and
#               molecule side by side
# Both install what they need (Debian packages, a pinned virtualenv) and can be re-run.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
HF := $(VENV)/bin/homeforge
export CONTAINERS_CONF ?= $(CURDIR)/src/homeforge/lab/containers.conf
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.homeforge/collections
# Installed without recommends (podman's pull a kernel image and initramfs tools). Named
# because podman needs them and only recommends them: netavark + aardvark-dns (its
# network stack and the lab's name resolution), uidmap.
APT_PACKAGES := podman runc netavark aardvark-dns mmdebstrap uidmap iptables openssh-client python3-venv git wireguard-tools zstd

.PHONY: real help demo test deps system-deps venv lint sanity unit integration molecule bench lock clean
help:
	@echo "make demo   # run homeforge on the built-in lab (podman containers)"
	@echo "make test   # the whole test suite: lint, unit, integration, molecule"
	@echo "make bench  # speed: apply vs ansible-playbook, cutover/rollback under load"

# ---------------------------------------------------------------- set-up
system-deps: .homeforge/.system-deps
.homeforge/.system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@mkdir -p .homeforge && touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@# Byte-compiled here, not left to each run: with PYTHONDONTWRITEBYTECODE set (as on
	@# our CI machines) every process would compile every module it imports.
	@$(PY) -m pip install -q -c requirements.lock -e '.[test]'
	@mkdir -p .homeforge/collections/ansible_collections/homeforge
	@ln -sfn $(CURDIR) .homeforge/collections/ansible_collections/homeforge/homelab
	@touch $@

deps: system-deps venv

# ---------------------------------------------------------------- the main job
# The model lab-1 seeds to the others: the stand-in registry's, or one of the real models
# in $HOMEFORGE_OLLAMA_ARTIFACTS/models (an Ollama models directory) with a real release.
DEMO_MODEL ?= tiny:1b
demo: deps
	@$(HF) lab status --cluster >/dev/null 2>&1 || { $(HF) lab down >/dev/null 2>&1; $(HF) lab up --nodes 3 --cluster; }
	$(HF) inventory check
	$(HF) apply site
	$(HF) apply site
	$(HF) models seed $(DEMO_MODEL) --from lab-1
	$(HF) models list
	$(HF) verify
	$(HF) cluster status
	@# A question through the AI gateway (LiteLLM on lab-1) as consumer 'demo': its key is
	@# made on lab-1, shown once, and kept here only in this shell's variable.
	@key=$$($(HF) gateway keys rotate demo --json | $(PY) -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["key"]["key"])') && \
	  echo "homeforge gateway keys rotate demo  (the key, made on lab-1, is kept in this shell only)" && \
	  echo '$(HF) gateway ask $(DEMO_MODEL) "Why run models at home?"' && \
	  HOMEFORGE_GATEWAY_KEY=$$key $(HF) gateway ask $(DEMO_MODEL) "Why run models at home?"
	$(HF) gateway usage
	$(HF) lab recap

# ---------------------------------------------------------------- tests
# Everything: the integration files and the molecule scenarios side by side in TEST_LANES
# lanes (default 3), and lint, sanity and unit one after another in a lane of their own
# (tests/tools/lanes.py says why); logs in .homeforge/lanes/ and .homeforge/molecule/.
test: deps
	@HOMEFORGE_LAB_IMAGE=$$($(HF) lab image) $(PY) tests/tools/lanes.py

lint: deps
	$(VENV)/bin/ruff check src plugins tests bench
	$(VENV)/bin/ruff format --check src plugins tests bench
	$(VENV)/bin/ansible-lint --profile production roles playbooks molecule

# ansible-test sanity on a copy of the collection (venv mode: no containers here)
sanity: deps
	$(PY) tests/sanity/run.py

unit: deps
	$(VENV)/bin/pytest -q -n auto tests/unit

# Two test files side by side, each with a lab of its own (on two cores: 1085 s against
# 1593 s one after the other).
integration: deps
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --durations=10 tests/integration

# Real third-party software, when its artifacts are given (see tests/real/*.py):
#   HOMEFORGE_OLLAMA_ARTIFACTS=DIR HOMEFORGE_OLLAMA_MODEL=NAME make real
#   HOMEFORGE_K3S_ARTIFACTS=DIR HOMEFORGE_K3S_VERSION=vX.Y.Z+k3sN make real
#   HOMEFORGE_REAL_GPU=1 make real      (on a host with an NVIDIA GPU and its driver)
real: deps
	$(VENV)/bin/pytest -q -m real tests/real

# Every scenario, MOLECULE_JOBS (default 2) side by side; logs in .homeforge/molecule/.
molecule: deps
	@HOMEFORGE_LAB_IMAGE=$$($(HF) lab image) $(PY) tests/tools/molecule_all.py

bench: deps
	$(PY) bench/converge.py --nodes 3 --runs 5
	$(PY) bench/fast_path.py --nodes 3 8 --runs 3
	$(PY) bench/drift.py --nodes 3 --runs 3
	$(PY) bench/variable.py --nodes 3 --runs 3
	$(PY) bench/cutover.py --rounds 5
	$(PY) bench/gateway.py --requests 400
	$(PY) bench/models_apply.py

lock:
	@rm -rf /tmp/homeforge-lock && python3 -m venv /tmp/homeforge-lock
	@/tmp/homeforge-lock/bin/pip install -q '.[test]'
	@( echo "# Pinned Python dependencies for the controller and the test tools (pip install -c)."; \
	   echo "# Regenerate: make lock"; \
	   /tmp/homeforge-lock/bin/pip freeze | grep -vi '^homeforge' ) > requirements.lock

clean:
	-$(HF) lab down
	rm -rf .homeforge
