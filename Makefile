# etcd-rejoin: build, test, demo. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := build

CACHE   ?= $(or $(REJOIN_DEV_CACHE),/var/cache/etcd-rejoin-dev)
STATICCHECK := $(CACHE)/bin/staticcheck
export REJOIN_DEV_CACHE := $(CACHE)

include mk/build.mk

# Flags of the Go test suites; CI takes the defaults.
UNIT_FLAGS ?= -count=1
E2E_FLAGS  ?= -count=1 -timeout 30m -parallel 4
FUZZ_FLAGS ?= -timeout 10m

# Fuzzing: count budgets, not durations (a -fuzztime duration can fail with
# a bare "context deadline exceeded" on Go < 1.27, golang/go#75804). Each
# budget is about what 15 s of fuzzing explored on a loaded 2-core machine
# (FuzzLoad: 5k-305k executions, median 27k, as minimising new inputs
# stalls it; FuzzInspectWAL: 53k-85k at about 4,500/s); these take about
# 5 s and 15 s there. A target not listed gets FUZZ_DEFAULT_EXECS.
FUZZ_BUDGETS       ?= FuzzLoad=50000 FuzzInspectWAL=70000
FUZZ_DEFAULT_EXECS ?= 50000
FUZZ_PKGS          ?= ./cmd/... ./internal/...

# The suites of `make test`, in order. A file mk/<name>.mk adding a suite
# (faults-short, bench-short, ...) defines its target, appends it to
# EXTRA_TEST_SUITES, and pipes its go test -json through $(call testsum,NAME)
# so that it reports a summary line; it is included below and runs after fuzz.
EXTRA_TEST_SUITES :=
TEST_SUITES = lint test-unit test-e2e fuzz $(EXTRA_TEST_SUITES) test-package lab-test

.PHONY: help deps deps-etcd build lint test test-unit test-e2e fuzz demo clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort -t: -k1,1 | awk '{ i = index($$0, "## "); t = $$0; sub(/:.*/, "", t); printf "%-14s %s\n", t, substr($$0, i + 3) }'

deps: ## install/build everything the suites need (apt packages, etcd 3.5/3.6, staticcheck, nfpm)
	scripts/deps.sh all

deps-etcd: ## install/build the etcd servers only (Debian's 3.4, 3.5 and 3.6 from the module proxy)
	scripts/deps.sh etcd

$(STATICCHECK):
	scripts/deps.sh staticcheck

build: $(BIN) ## build build/etcd-rejoin (the binary the packages ship)

lint: $(STATICCHECK) ## gofmt, go vet, staticcheck (each one check in the summary)
	@mkdir -p $(SUMMARY); passed=0; failed=0; \
	check() { local name=$$1; shift; if "$$@"; then passed=$$((passed + 1)); echo "--- PASS: $$name"; else failed=$$((failed + 1)); echo "--- FAIL: $$name"; fi; }; \
	gofmt_clean() { local out; out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt would change:"; echo "$$out"; return 1; }; }; \
	check gofmt gofmt_clean; \
	check "go vet" go vet ./...; \
	check staticcheck $(STATICCHECK) ./...; \
	line="lint: $$passed passed, $$failed failed"; echo "$$line"; echo "$$line" >$(SUMMARY)/$@; \
	[ $$failed -eq 0 ]

test-unit: deps-etcd $(TESTSUM) ## package tests (real etcd 3.4, 3.5 and 3.6 where they need one)
	@set -o pipefail; go test -json $(UNIT_FLAGS) ./cmd/... ./internal/... ./tools/... 2>&1 | $(call testsum,unit)

test-e2e: deps-etcd $(TESTSUM) ## the real binary against real etcd 3.4, 3.5 and 3.6 clusters
	@set -o pipefail; go test -json $(E2E_FLAGS) ./test/e2e/ 2>&1 | $(call testsum,e2e)

# fuzz replays every committed seed corpus (testdata/fuzz and f.Add) with
# plain go test, the deterministic gate, then fuzzes each target for its
# budget. A finding fails loudly: its input is written to the package's
# testdata/fuzz and the failing output is shown; nothing is retried.
fuzz: $(TESTSUM) ## replay the seed corpora, then fuzz each target for a fixed number of executions
	@set -o pipefail; \
	targets=$$(go test -list '^Fuzz' $(FUZZ_PKGS) | awk '/^Fuzz/ { t[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2, t[i]; n = 0 }'); \
	[ -n "$$targets" ] || { echo "fuzz: no fuzz targets found in $(FUZZ_PKGS)"; exit 1; }; \
	{ \
		rc=0; \
		go test -json -count=1 -run '^Fuzz' $$(echo "$$targets" | awk '{ print $$1 }' | sort -u) || rc=1; \
		while read -r pkg target; do \
			n=$$(for b in $(FUZZ_BUDGETS); do [ "$${b%%=*}" = "$$target" ] && echo "$${b#*=}"; done); \
			go test -json $(FUZZ_FLAGS) -run '^$$' -fuzz "^$$target$$" -fuzztime "$${n:-$(FUZZ_DEFAULT_EXECS)}x" "$$pkg" || rc=1; \
		done <<<"$$targets"; \
		exit $$rc; \
	} 2>&1 | $(call testsum,fuzz)

# test runs every suite even after one failed, so that one run shows all
# that is wrong, then prints each suite's summary line and the total.
test: deps $(TESTSUM) ## every suite (lint, unit, e2e, fuzz, extra suites, packages, lab) and a summary line each
	@rm -rf $(SUMMARY); mkdir -p $(SUMMARY); steps=(); \
	for s in $(TEST_SUITES); do \
		echo "=== make $$s"; start=$$SECONDS; \
		$(MAKE) --no-print-directory $$s; rc=$$?; \
		steps+=("$$s=$$rc"); echo "=== make $$s: exit $$rc after $$((SECONDS - start)) s"; \
	done; \
	echo; echo "=== summary"; \
	$(TESTSUM) total -dir $(SUMMARY) "$${steps[@]}"

demo: build ## a local three-member cluster that loses a member and heals (installs Debian's etcd only)
	scripts/deps.sh demo
	scripts/demo.sh $(BIN)

clean: ## remove build outputs
	rm -rf build dist

include mk/package.mk
include mk/lab.mk
-include $(filter-out mk/build.mk mk/package.mk mk/lab.mk,$(wildcard mk/*.mk))
