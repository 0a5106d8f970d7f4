# Version stamping (internal/version), computed once per make run from git:
#   RELEASE  git describe of the last v* tag without its "v" (0.1.0, or
#            0.1.0-3-gabc1234 three commits later); before the first tag
#            0.0.0-N-gHASH, as if v0.0.0 were the first commit
#   COMMIT   the full hash of HEAD
#   DIRTY    true when tracked files differ from HEAD (git describe --dirty)
#   SOURCE_DATE_EPOCH  the last commit's time (reproducible packages)
# Outside git (a source tarball) all are "unknown" unless given on the
# command line: make RELEASE=0.1.0 COMMIT=... DIRTY=false SOURCE_DATE_EPOCH=...
# (Each is computed only when not given, and only once: := not ?=.)
IN_GIT := $(shell git -C $(CURDIR) rev-parse --is-inside-work-tree 2>/dev/null)
ifeq ($(IN_GIT),true)
ifeq ($(origin COMMIT),undefined)
COMMIT := $(shell git -C $(CURDIR) rev-parse HEAD)
endif
ifeq ($(origin DIRTY),undefined)
DIRTY := $(if $(shell git -C $(CURDIR) status --porcelain --untracked-files=no),true,false)
endif
ifeq ($(origin RELEASE),undefined)
RELEASE := $(patsubst v%,%,$(shell git -C $(CURDIR) describe --tags --match 'v[0-9]*' 2>/dev/null))
ifeq ($(RELEASE),)
RELEASE := 0.0.0-$(shell git -C $(CURDIR) rev-list --count HEAD)-g$(shell git -C $(CURDIR) rev-parse --short=7 HEAD)
endif
endif
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git -C $(CURDIR) log -1 --format=%ct)
endif
endif
COMMIT ?= unknown
DIRTY ?= unknown
RELEASE ?= unknown

VERSION_PKG := github.com/urunc-dev/urunc/internal/version
VERSION_LDFLAGS := -X $(VERSION_PKG).release=$(RELEASE) -X $(VERSION_PKG).commit=$(COMMIT) -X $(VERSION_PKG).dirty=$(DIRTY)
# Builds of the installed binaries: no source paths (-trimpath) and no
# toolchain VCS stamp (-buildvcs=false: the ldflags above say it, and an
# untracked file would otherwise change the binary), so a checkout anywhere
# gives the same bytes.
GO_BUILD_FLAGS := -trimpath -buildvcs=false

.PHONY: version
version:
	@echo "release $(RELEASE)"
	@echo "commit $(COMMIT)"
	@echo "dirty $(DIRTY)"
	@echo "source date $(SOURCE_DATE_EPOCH)"
