# Packages: included from the Makefile; also usable alone:
#   make -f mk/package.mk package        -> $(DIST)/*.deb and $(DIST)/*.rpm
#   make -f mk/package.mk test-package   -> the tests in test/packaging
# nfpm is installed pinned from the Go module proxy by scripts/deps.sh tools.

include mk/build.mk

PKG_CACHE      ?= $(or $(REJOIN_DEV_CACHE),/var/cache/etcd-rejoin-dev)
NFPM           ?= $(PKG_CACHE)/bin/nfpm
DIST           ?= dist
# Debian and RPM versions: no leading v, no dash, starting with a digit
# (v1.2.3-4-gabc -> 1.2.3+4+gabc; a bare commit f94fcd4-dirty, which has no
# dot, even one that starts with a digit -> 0.0.0+f94fcd4+dirty).
PKG_VERSION    ?= $(shell v='$(VERSION)'; case "$$v" in (v[0-9]*.*|[0-9]*.*) v=$${v#v} ;; (*) v="0.0.0+$$v" ;; esac; echo "$$v" | tr -- - +)
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

# The binary as shipped, from the one recipe in mk/build.mk, for PKG_ARCH.
package-bin: BIN_ARCH = $(PKG_ARCH)
package-bin: $(BIN)

package-assets:
	packaging/assets.sh $(PKG_VERSION) build/pkg

$(NFPM):
	scripts/deps.sh tools

test-package: package $(TESTSUM) ## packaging tests: systemd-analyze, lintian, rpm -qp, install under systemd (root)
	@set -o pipefail; REJOIN_DEV_DIST=$(abspath $(DIST)) $(GO) test -json $(PKG_TEST_FLAGS) ./test/packaging/ 2>&1 | $(call testsum,package)
