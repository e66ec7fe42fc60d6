# What every makefile here builds the same way; included by the Makefile and
# by mk/package.mk (which is also usable alone), once.
#   build/etcd-rejoin  the product, one recipe for `make build` and the
#                      packages: static, no build paths, stripped, stamped
#                      with one VERSION and COMMIT
#   build/testsum      tools/testsum, which summarises `go test -json`
ifndef BUILD_MK
BUILD_MK := 1

GO      ?= go
# v1.2.3, v1.2.3-4-gabcdef0, or a bare commit such as abcdef0; -dirty when
# the tree has changes. mk/package.mk derives the package version from it.
ifndef VERSION
VERSION := $(shell git describe --tags --match 'v[0-9]*' --always --dirty 2>/dev/null || echo v0.0.0-dev)
endif
ifndef COMMIT
COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
endif
BIN      := build/etcd-rejoin
BIN_ARCH ?= $(shell $(GO) env GOARCH)

.PHONY: $(BIN)
$(BIN):
	CGO_ENABLED=0 GOARCH=$(BIN_ARCH) $(GO) build -trimpath \
		-ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)" \
		-o $@ ./cmd/etcd-rejoin

# Test suites pipe `go test -json` into $(call testsum,SUITE): results and
# failures on the console, the plain log in build/SUITE.log, the summary line
# in $(SUMMARY)/<make target> for `make test` to add up.
TESTSUM := build/testsum
SUMMARY := build/summary
testsum  = $(TESTSUM) -suite $(1) -log build/$(1).log -summary $(SUMMARY)/$@

$(TESTSUM): $(wildcard tools/testsum/*.go) go.mod
	$(GO) build -o $@ ./tools/testsum

endif
