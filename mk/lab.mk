# The container lab: included from the Makefile; also usable alone:
#   make -f mk/lab.mk lab        three hosts under systemd-nspawn (lab/up)
#   make -f mk/lab.mk lab-down   remove them, leaving nothing behind
#   make -f mk/lab.mk lab-test   the lab scenarios (test/lab), pass or fail torn down
# Needs root. The .deb comes from `make package` (mk/package.mk), the root
# file system from scripts/rootfs.sh (cached under $(LAB_CACHE)).

SHELL := /bin/bash
LAB_CACHE     ?= $(or $(REJOIN_DEV_CACHE),/var/cache/etcd-rejoin-dev)
LAB_DIST      ?= dist
LAB_GO        ?= go
LAB_TEST_FLAGS ?= -count=1 -timeout 30m -parallel 3 -v

.PHONY: lab lab-down lab-test lab-deps

lab-deps:
	scripts/deps.sh apt tools
	REJOIN_DEV_CACHE=$(LAB_CACHE) scripts/rootfs.sh >/dev/null

lab: lab-deps
	$(MAKE) -f mk/package.mk package DIST=$(LAB_DIST)
	LAB_DEB=$$(ls -t $(LAB_DIST)/etcd-rejoin_*.deb | head -n1) REJOIN_DEV_CACHE=$(LAB_CACHE) lab/up

lab-down:
	lab/down

# Builds the package into a fresh directory so a stale dist/ is never tested.
lab-test: lab-deps
	@set -euo pipefail; \
	if [ "$$(id -u)" -ne 0 ]; then \
		if [ "$${CI:-}" = true ]; then echo "lab-test: the lab suite needs root; CI=true makes that an error" >&2; exit 1; fi; \
		echo "lab-test: NOT RUN: the lab suite needs root (network namespaces, systemd-nspawn)"; exit 0; \
	fi; \
	dist=$$(mktemp -d); trap 'rm -rf "$$dist"' EXIT; \
	$(MAKE) -s -f mk/package.mk package DIST=$$dist >/dev/null; \
	mkdir -p build; \
	REJOIN_DEV_DIST=$$dist REJOIN_DEV_CACHE=$(LAB_CACHE) $(LAB_GO) test $(LAB_TEST_FLAGS) ./test/lab/ 2>&1 | tee build/lab.log | \
		grep -E '^(=== RUN|--- |PASS|FAIL|ok|lab timings|  [^ ]|\s+\S+_test.go)'; exit $${PIPESTATUS[0]}
