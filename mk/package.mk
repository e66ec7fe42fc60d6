# Packages: included from the Makefile; also usable alone:
#   make -f mk/package.mk package        -> $(DIST)/*.deb and $(DIST)/*.rpm
#   make -f mk/package.mk test-package   -> the tests in test/packaging
# nfpm is installed pinned from the Go module proxy by scripts/deps.sh tools.

PKG_CACHE      ?= $(or $(REJOIN_DEV_CACHE),/var/cache/etcd-rejoin-dev)
NFPM           ?= $(PKG_CACHE)/bin/nfpm
GO             ?= go
DIST           ?= dist
VERSION        ?= $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null || echo v0.0.0-dev)
COMMIT         ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
# Debian and RPM versions: no leading v, no dash, starting with a digit
# (v1.2.3-4-gabc -> 1.2.3+4+gabc; a bare commit f94fcd4-dirty -> 0.0.0+f94fcd4+dirty).
PKG_VERSION    ?= $(shell v='$(VERSION)'; v=$${v#v}; case "$$v" in ([0-9]*) ;; (*) v="0.0.0+$$v" ;; esac; echo "$$v" | tr -- - +)
PKG_ARCH       ?= $(shell $(GO) env GOARCH)
PKG_MAINTAINER ?= etcd-rejoin maintainers <maintainers@etcd-rejoin.invalid>
PKG_TEST_FLAGS ?= -count=1 -timeout 30m

export PKG_VERSION PKG_MAINTAINER

.PHONY: package package-bin package-assets test-package

package: package-bin package-assets $(NFPM) ## build the .deb and .rpm into dist/ (or DIST=)
	mkdir -p $(DIST)
	rm -f $(DIST)/etcd-rejoin_*.deb $(DIST)/etcd-rejoin-*.rpm
	GOARCH=$(PKG_ARCH) $(NFPM) package -f nfpm.yaml -p deb -t $(DIST)/
	GOARCH=$(PKG_ARCH) $(NFPM) package -f nfpm.yaml -p rpm -t $(DIST)/
	@ls -l $(DIST)/etcd-rejoin_*.deb $(DIST)/etcd-rejoin-*.rpm

# The binary as shipped: static, no build paths, stripped, version stamped.
package-bin:
	CGO_ENABLED=0 GOARCH=$(PKG_ARCH) $(GO) build -trimpath \
		-ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)" \
		-o build/etcd-rejoin ./cmd/etcd-rejoin

package-assets:
	packaging/assets.sh $(PKG_VERSION) build/pkg

$(NFPM):
	scripts/deps.sh tools

test-package: package ## packaging tests: systemd-analyze, lintian, rpm -qp, install under systemd (root)
	REJOIN_DEV_DIST=$(abspath $(DIST)) $(GO) test $(PKG_TEST_FLAGS) ./test/packaging/
