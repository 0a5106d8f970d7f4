# make install / make uninstall (docs/install.md), honouring PREFIX and
# DESTDIR as usual:
#   $(PREFIX)/bin/            the INSTALL_BINS below
#   $(PREFIX)/lib/urunc/linux/ the Linux guest kernel (LINUX_KERNEL), its
#                             provenance and Debian's modules, when make
#                             linux-kernel has run
#   $(SYSCONFDIR)/urunc/config.json   the default host configuration, only
#                             if absent (else beside it as config.json.dist)
#   $(PREFIX)/share/doc/urunc/ README, CHANGELOG, LICENSE, ... and docs/*.md
# urunc finds urunc-init beside itself and the kernel and modules in
# ../lib/urunc/linux from its own directory, so bin and lib stay together
# under one PREFIX (no separate BINDIR/LIBDIR).
#   make install-docker / uninstall-docker   add/remove the "urunc" runtime
#                             in $(DOCKER_DAEMON_JSON) (opt-in, explicit)
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
BINDIR = $(PREFIX)/bin
URUNC_LIBDIR = $(PREFIX)/lib/urunc
DOCDIR = $(PREFIX)/share/doc/urunc
CONFDIR = $(SYSCONFDIR)/urunc
# Not DOCKER_CONFIG: that is the docker client's own variable (~/.docker).
DOCKER_DAEMON_JSON ?= /etc/docker/daemon.json
INSTALL ?= install

# Every binary of $(BIN) that is installed; a new one is one more line.
INSTALL_BINS := urunc urunc-dev urunc-init
INSTALL_BINS += containerd-shim-urunc-v2

# Installed as plain text (links between them keep working).
INSTALL_DOCS := README.md CHANGELOG.md CONTRIBUTING.md LICENSE NOTICE
# docs/*.md as committed: an untracked draft is not installed (nor packaged).
INSTALL_DOC_PAGES := $(wildcard $(if $(filter true,$(IN_GIT)),$(shell git -C $(CURDIR) ls-files 'docs/*.md'),docs/*.md))
HOST_CONFIG := packaging/config.json

.PHONY: install uninstall install-docker uninstall-docker install-bins

# The list, for tests/install.
install-bins:
	@echo $(INSTALL_BINS)

install: build
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(addprefix $(BIN)/,$(INSTALL_BINS)) $(DESTDIR)$(BINDIR)/
	@# The guest kernel (the LINUX_KERNEL one of make linux-kernel), its
	@# provenance, and Debian's modules (for guests that boot Debian's
	@# kernel): replaced as a whole (no stale modules).
	@if [ -s $(LINUX_OUT)/vmlinux ]; then \
		set -ex; \
		rm -rf $(DESTDIR)$(URUNC_LIBDIR)/linux; \
		$(INSTALL) -d -m 0755 $(DESTDIR)$(URUNC_LIBDIR) $(DESTDIR)$(URUNC_LIBDIR)/linux; \
		$(INSTALL) -m 0644 $(LINUX_OUT)/vmlinux $(LINUX_OUT)/version $(DESTDIR)$(URUNC_LIBDIR)/linux/; \
		if [ -s $(LINUX_OUT)/copyright ]; then $(INSTALL) -m 0644 $(LINUX_OUT)/copyright $(DESTDIR)$(URUNC_LIBDIR)/linux/; fi; \
		if [ -s $(LINUX_OUT)/modules/modules.dep ]; then \
			$(INSTALL) -d -m 0755 $(DESTDIR)$(URUNC_LIBDIR)/linux/modules; \
			$(INSTALL) -m 0644 $(LINUX_OUT)/modules/* $(DESTDIR)$(URUNC_LIBDIR)/linux/modules/; \
		fi; \
	else \
		echo "install: no guest kernel in $(LINUX_OUT) (make linux-kernel): Linux microVM guests will not boot"; \
	fi
	@# The host configuration: an existing one is never overwritten.
	$(INSTALL) -d -m 0755 $(DESTDIR)$(CONFDIR)
	@conf=$(DESTDIR)$(CONFDIR)/config.json; \
	if [ ! -e $$conf ]; then \
		echo "$(INSTALL) -m 0644 $(HOST_CONFIG) $$conf"; \
		$(INSTALL) -m 0644 $(HOST_CONFIG) $$conf && rm -f $$conf.dist; \
	elif cmp -s $(HOST_CONFIG) $$conf; then \
		rm -f $$conf.dist; \
	else \
		$(INSTALL) -m 0644 $(HOST_CONFIG) $$conf.dist && \
		echo "install: kept your $$conf; the new default is $$conf.dist"; \
	fi
	$(INSTALL) -d -m 0755 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DOCDIR)/docs
	$(INSTALL) -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 $(INSTALL_DOC_PAGES) $(DESTDIR)$(DOCDIR)/docs/

# Removes what install installed; a changed config.json stays (and says so).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALL_BINS))
	rm -rf $(DESTDIR)$(URUNC_LIBDIR) $(DESTDIR)$(DOCDIR)
	@conf=$(DESTDIR)$(CONFDIR)/config.json; \
	rm -f $$conf.dist; \
	if cmp -s $(HOST_CONFIG) $$conf; then \
		echo "rm -f $$conf"; rm -f $$conf; \
	elif [ -e $$conf ]; then \
		echo "uninstall: kept $$conf (changed from the default)"; \
	fi; \
	rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true

# Registration with Docker is explicit: these only edit daemon.json (a
# backup beside it, other keys and runtimes kept); dockerd reads it on
# reload (systemctl reload docker, or kill -HUP the dockerd pid).
install-docker:
	@test -x $(DESTDIR)$(BINDIR)/urunc || { echo "install-docker: no $(DESTDIR)$(BINDIR)/urunc: make install first" >&2; exit 1; }
	$(GO) run ./scripts/docker-runtime -config $(DESTDIR)$(DOCKER_DAEMON_JSON) add urunc $(BINDIR)/urunc

uninstall-docker:
	$(GO) run ./scripts/docker-runtime -config $(DESTDIR)$(DOCKER_DAEMON_JSON) remove urunc $(BINDIR)/urunc
