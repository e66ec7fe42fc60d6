# The container lab: included from the Makefile; also usable alone:
#   make -f mk/lab.mk lab        three hosts under systemd-nspawn (lab/up)
#   make -f mk/lab.mk lab-down   remove them, leaving nothing behind
#   make -f mk/lab.mk lab-test   the lab scenarios (test/lab), pass or fail torn down
# Needs root. The .deb comes from `make package` (mk/package.mk), the root
# file system from scripts/rootfs.sh (cached under $(LAB_CACHE)).

SHELL := /bin/bash
include mk/build.mk

LAB_CACHE     ?= $(or $(REJOIN_DEV_CACHE),/var/cache/etcd-rejoin-dev)
LAB_DIST      ?= dist
LAB_GO        ?= go
LAB_TEST_FLAGS ?= -count=1 -timeout 30m -parallel 3

.PHONY: lab lab-down lab-test lab-deps

lab-deps:
	scripts/deps.sh apt tools
	REJOIN_DEV_CACHE=$(LAB_CACHE) scripts/rootfs.sh >/dev/null

lab: lab-deps ## three Debian hosts under systemd-nspawn running the built .deb (root)
	$(MAKE) -f mk/package.mk package DIST=$(LAB_DIST)
	LAB_DEB=$$(ls -t $(LAB_DIST)/etcd-rejoin_*.deb | head -n1) REJOIN_DEV_CACHE=$(LAB_CACHE) lab/up

lab-down: ## remove the lab's hosts, bridge and namespace
	lab/down

# Builds the package into a fresh directory so a stale dist/ is never tested.
lab-test: lab-deps $(TESTSUM) ## the lab scenarios against fresh packages, torn down pass or fail (root)
	@set -euo pipefail; mkdir -p $(SUMMARY); \
	if [ "$$(id -u)" -ne 0 ]; then \
		if [ "$${CI:-}" = true ]; then echo "lab-test: the lab suite needs root; CI=true makes that an error" >&2; exit 1; fi; \
		echo "lab: NOT RUN: the lab suite needs root (network namespaces, systemd-nspawn)" | tee $(SUMMARY)/$@; exit 0; \
	fi; \
	dist=$$(mktemp -d); trap 'rm -rf "$$dist"' EXIT; \
	$(MAKE) -s -f mk/package.mk package DIST=$$dist >/dev/null; \
	REJOIN_DEV_DIST=$$dist REJOIN_DEV_CACHE=$(LAB_CACHE) $(LAB_GO) test -json $(LAB_TEST_FLAGS) ./test/lab/ 2>&1 | $(call testsum,lab)
