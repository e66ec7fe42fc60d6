# etcd-rejoin: build, test, demo. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := build

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
CACHE   ?= $(or $(REJOIN_DEV_CACHE),/var/cache/etcd-rejoin-dev)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := build/etcd-rejoin
STATICCHECK := $(CACHE)/bin/staticcheck
FUZZTIME ?= 15s
export REJOIN_DEV_CACHE := $(CACHE)

.PHONY: help deps build lint test test-unit test-e2e fuzz demo clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

deps: ## install/build what the tests need (apt packages, etcd 3.6, staticcheck, nfpm)
	scripts/deps.sh all

build: ## build build/etcd-rejoin
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/etcd-rejoin

lint: deps ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...

test-unit: deps ## package tests (real etcd for member and datadir)
	go test -count=1 ./cmd/... ./internal/...

test-e2e: deps ## the real binary against real etcd 3.4 and 3.6 clusters
	@mkdir -p build
	go test -count=1 -timeout 30m -parallel 4 -v ./test/e2e/ 2>&1 | tee build/e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\S+_test.go)' ; exit $${PIPESTATUS[0]}

fuzz: deps ## run each fuzz target briefly
	go test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/config
	go test -run '^$$' -fuzz '^FuzzInspectWAL$$' -fuzztime $(FUZZTIME) ./internal/datadir

test: ## the whole suite: lint, unit, end-to-end, fuzz, packages, the three-host lab (root)
	@mkdir -p build
	$(MAKE) lint
	$(MAKE) test-unit
	$(MAKE) test-e2e
	$(MAKE) fuzz
	$(MAKE) test-package
	$(MAKE) lab-test
	@echo "make test: all suites passed"

demo: build ## a local three-member cluster that loses a member and heals
	scripts/deps.sh apt
	scripts/demo.sh $(BIN)

clean: ## remove build outputs
	rm -rf build dist

include mk/package.mk
include mk/lab.mk
