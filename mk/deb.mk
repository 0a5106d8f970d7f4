# make deb: build/deb/urunc_<version>_amd64.deb, the files of
# `make install PREFIX=/usr SYSCONFDIR=/etc` (always with the guest kernel)
# packaged by nfpm (packaging/nfpm.yaml), reproducibly: SOURCE_DATE_EPOCH
# is the last commit's time (mk/version.mk), the binaries are built with
# -trimpath, so one commit gives the same bytes wherever it is built.
# nfpm is built from the Go module proxy into build/bin/nfpm, pinned.
NFPM_VERSION ?= v2.48.0
NFPM := build/bin/nfpm
DEB_DIR := build/deb
DEB_ROOT := $(DEB_DIR)/root
DEB_MAINTAINER ?= urunc developers <maintainers@urunc.invalid>
# Debian version from RELEASE: 0.1.0 stays; 0.1.0-3-gabc1234 (3 commits
# later) becomes 0.1.0+3.gabc1234 (after 0.1.0, before 0.1.1); a
# pre-release tag 0.2.0-rc1 becomes 0.2.0~rc1 (before 0.2.0). A dirty tree
# adds +dirty (or .dirty after a +).
DEB_VERSION := $(shell echo '$(RELEASE)' | sed -e 's/-\([0-9][0-9]*\)-g\([0-9a-f][0-9a-f]*\)$$/+\1.g\2/' -e 's/-/~/g')
ifeq ($(DIRTY),true)
DEB_VERSION := $(DEB_VERSION)$(if $(findstring +,$(DEB_VERSION)),.dirty,+dirty)
endif
DEB_FILE := $(DEB_DIR)/urunc_$(DEB_VERSION)_amd64.deb

.PHONY: deb nfpm
nfpm: $(NFPM)

$(NFPM): mk/deb.mk
	@mkdir -p $(@D)
	GOBIN=$(abspath $(@D)) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	touch $@

deb: linux-kernel $(NFPM)
	@case '$(RELEASE)' in unknown|'') echo "deb: no release known (not a git checkout): give RELEASE=... SOURCE_DATE_EPOCH=..." >&2; exit 1;; esac
	@[ -n '$(SOURCE_DATE_EPOCH)' ] || { echo "deb: SOURCE_DATE_EPOCH is not set" >&2; exit 1; }
	rm -rf $(DEB_ROOT) $(DEB_DIR)/*.deb
	umask 022 && $(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_ROOT)) PREFIX=/usr SYSCONFDIR=/etc
	@# nfpm takes the mtimes of a tree's files from the files themselves.
	find $(DEB_ROOT) -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) DEB_VERSION='$(DEB_VERSION)' DEB_ROOT=$(abspath $(DEB_ROOT)) \
		DEB_MAINTAINER='$(DEB_MAINTAINER)' $(NFPM) package -f packaging/nfpm.yaml -p deb -t $(DEB_FILE)
	@echo "deb: $(DEB_FILE)"
