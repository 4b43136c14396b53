# imdsd Makefile: works with GNU make (>= 4.0) and BSD make (bmake).
# Only the subset both accept is used: ?=, !=, $(VAR), explicit rules, and
# variable-name indirection ($(VAR_$(OS))) for per-OS defaults; no
# conditionals, $(shell), $(wildcard), pattern rules or $^.

GO      ?= go
VERSION != (git describe --tags --always --dirty 2>/dev/null || echo dev) | sed 's/^v//'
LDFLAGS  = -s -w -X main.version=$(VERSION)
GOBUILD  = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"

# Installation layout.  DESTDIR is prepended to every path at install time
# and never ends up in an installed file; the other directories are what
# the installed files refer to.  Override any of them on the command line:
#	make install PREFIX=/usr DESTDIR=/tmp/stage
OS      != uname -s
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man

# The configuration lives under PREFIX on the BSDs and in /etc on Linux.
SYSCONFDIR_FreeBSD   = $(PREFIX)/etc
SYSCONFDIR_DragonFly = $(PREFIX)/etc
SYSCONFDIR_NetBSD    = $(PREFIX)/etc
SYSCONFDIR_OpenBSD   = $(PREFIX)/etc
SYSCONFDIR_Darwin    = $(PREFIX)/etc
SYSCONFDIR_Linux     = /etc
SYSCONFDIR ?= $(SYSCONFDIR_$(OS))
ETCDIR     ?= $(SYSCONFDIR)/imdsd

# FreeBSD: rc.d script, syslogd and newsyslog snippets.
RCDIR        ?= $(PREFIX)/etc/rc.d
SYSLOGDIR    ?= $(PREFIX)/etc/syslog.d
NEWSYSLOGDIR ?= $(PREFIX)/etc/newsyslog.conf.d
# Linux: systemd searches /usr/lib/systemd/system (PREFIX=/usr) and
# /usr/local/lib/systemd/system (PREFIX=/usr/local).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

# install(1) with portable flags only: no -D, -t, -v, -o or -g, so that
# staging into DESTDIR works without root.
INSTALL ?= install
BINMODE ?= 0755
MANMODE ?= 0644
CONFMODE ?= 0644
SCRIPTMODE ?= 0755

# sed script rendering the templates (rc.d/imdsd.in, systemd/imdsd.service.in).
SUBST = -e 's|%%PREFIX%%/sbin|$(SBINDIR)|g' -e 's|%%PREFIX%%/etc/imdsd|$(ETCDIR)|g' \
	-e 's|%%PREFIX%%|$(PREFIX)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@ETCDIR@|$(ETCDIR)|g'

.PHONY: all build run test test-go fuzz lint fmt vet staticcheck tools bench cross clean render vm-test \
	install install-FreeBSD install-Linux uninstall uninstall-FreeBSD uninstall-Linux

all: build

build:
	$(GOBUILD) -o bin/imdsd ./cmd/imdsd
	$(GOBUILD) -o bin/getimds ./cmd/getimds
	$(GOBUILD) -o bin/imdsctl ./cmd/imdsctl

# imdsd on 127.0.0.1:8000 with the built-in default config; no root needed.
run: build
	./bin/imdsd --host 127.0.0.1 --port 8000

# The whole suite: static checks, then every Go test with the race detector.
test: lint cross test-go fuzz

# Test modules of their own (own go.mod, a replace directive pointing here),
# for real clients whose module trees stay out of the daemon's go.mod:
# ./... in the root does not reach them.
TESTMODS = test/nth

test-go:
	$(GO) test -race -count=1 ./...
	@for m in $(TESTMODS); do \
		echo "cd $$m && $(GO) test -race -count=1 ./..."; \
		(cd $$m && $(GO) test -race -count=1 ./...) || exit 1; \
	done

# A real Debian guest boots under QEMU on a tap in a network namespace and
# configures itself from bin/imdsd with cloud-init (cmd/imdsd/vm_test.go,
# build tag vmtest; root, debootstrap, qemu-system-x86, dnsmasq). The guest
# image is cached in build/vm-cache (or $XDG_CACHE_HOME/imdsd/vm). Not
# part of make test: a boot without KVM takes minutes. A broken imdsd must
# make it fail: IMDSD_VM_FAULT='{"api/token":404}' make vm-test.
# One recipe only: make vm-test VMRUN='TestVM/^smbios'
VMRUN ?= TestVM
vm-test: build
	$(GO) vet -tags vmtest ./cmd/imdsd
	$(GO) test -tags vmtest -count=1 -v -timeout 120m -run '$(VMRUN)' ./cmd/imdsd

# Each fuzz target for a short, bounded time: path normalisation, the Host
# fix-up, request handling, the front end against net/http (differential),
# token decoding, config decoding. Longer runs:
# make fuzz FUZZTIME=10m.
FUZZTIME ?= 5s
FUZZ = internal/imdspath:FuzzClean internal/hostheader:FuzzFix pkg/server:FuzzRequest pkg/server:FuzzFrontEnd internal/token:FuzzVerify pkg/config:FuzzParse
fuzz:
	@for f in $(FUZZ); do \
		echo "fuzz $$f for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "$${f#*:}" -fuzztime $(FUZZTIME) ./$${f%%:*}/ || exit 1; \
	done

# Static checks.  The Go tests of cmd/imdsd (dist_test.go) go further:
# shellcheck, systemd-analyze verify and security, make install layouts.
lint: vet staticcheck
	@out=$$(gofmt -l cmd pkg internal $(TESTMODS)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for f in man/*.[158]; do [ -e "$$f" ] || continue; mandoc -Tlint -Wwarning "$$f" || exit 1; done
	@sed $(SUBST) rc.d/imdsd.in | sh -n
	$(GO) mod tidy -diff
	@for m in $(TESTMODS); do (cd $$m && $(GO) mod tidy -diff) || exit 1; done

vet:
	$(GO) vet ./...
	GOOS=freebsd $(GO) vet ./...
	@for m in $(TESTMODS); do (cd $$m && $(GO) vet ./...) || exit 1; done

# staticcheck at a pinned version, installed by "make tools" into
# TOOLSDIR (a directory per version, so that changing the pin installs the
# new one).  It must support the Go of go.mod.
STATICCHECK_VERSION = 0.8.2
TOOLSDIR ?= .tools
STATICCHECK = $(TOOLSDIR)/staticcheck-$(STATICCHECK_VERSION)/staticcheck

staticcheck: tools
	$(STATICCHECK) ./...
	GOOS=freebsd $(STATICCHECK) ./...

tools:
	@if [ ! -x $(STATICCHECK) ]; then \
		echo "installing staticcheck $(STATICCHECK_VERSION) into $(TOOLSDIR)"; \
		mkdir -p $(TOOLSDIR) || exit 1; \
		GOBIN=$$(cd $(TOOLSDIR) && pwd)/staticcheck-$(STATICCHECK_VERSION) \
			$(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION) || exit 1; \
	fi

fmt:
	gofmt -w cmd pkg internal

# Go benchmarks of the hot paths, then imdsbench: the imdsd just built (the
# release build) against a minimal net/http baseline over loopback.
# imdsbench flags go in BENCHFLAGS, e.g. make bench BENCHFLAGS="--json bench.json".
BENCHFLAGS ?=
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./cmd/imdsbench --imdsd bin/imdsd $(BENCHFLAGS)

cross:
	for t in freebsd/amd64 freebsd/arm64 linux/amd64 linux/arm64; do \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GOBUILD) -o build/$${t%/*}-$${t#*/}/ ./cmd/... || exit 1; \
	done

# Render the templates for this layout.  Always redone: they depend on the
# directory variables, not only on the templates.
render:
	@mkdir -p build/rc.d build/systemd
	sed $(SUBST) rc.d/imdsd.in >build/rc.d/imdsd.tmp
	mv build/rc.d/imdsd.tmp build/rc.d/imdsd
	sed $(SUBST) systemd/imdsd.service.in >build/systemd/imdsd.service.tmp
	mv build/systemd/imdsd.service.tmp build/systemd/imdsd.service

# Common files, then the service files of this OS (install-FreeBSD or
# install-Linux; nothing on other systems).  imdsd.conf is created from the
# sample only when it does not exist yet, as a port's @sample does.  The
# sample names instances.d (its instances_dir), so the directory is created
# with its README; the guest files put there are never touched.
OSINSTALL_FreeBSD   = install-FreeBSD
OSINSTALL_Linux     = install-Linux
OSUNINSTALL_FreeBSD = uninstall-FreeBSD
OSUNINSTALL_Linux   = uninstall-Linux

install: build render $(OSINSTALL_$(OS))
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(ETCDIR) \
		$(DESTDIR)$(ETCDIR)/instances.d \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m $(BINMODE) bin/imdsd $(DESTDIR)$(SBINDIR)/imdsd
	$(INSTALL) -m $(BINMODE) bin/getimds $(DESTDIR)$(BINDIR)/getimds
	$(INSTALL) -m $(BINMODE) bin/imdsctl $(DESTDIR)$(SBINDIR)/imdsctl
	$(INSTALL) -m $(MANMODE) man/getimds.1 $(DESTDIR)$(MANDIR)/man1/getimds.1
	$(INSTALL) -m $(MANMODE) man/imdsd.conf.5 $(DESTDIR)$(MANDIR)/man5/imdsd.conf.5
	$(INSTALL) -m $(MANMODE) man/imdsd.8 $(DESTDIR)$(MANDIR)/man8/imdsd.8
	$(INSTALL) -m $(MANMODE) man/imdsctl.8 $(DESTDIR)$(MANDIR)/man8/imdsctl.8
	$(INSTALL) -m $(CONFMODE) etc/imdsd.conf.sample $(DESTDIR)$(ETCDIR)/imdsd.conf.sample
	$(INSTALL) -m $(CONFMODE) etc/instances.d/README $(DESTDIR)$(ETCDIR)/instances.d/README
	@if [ ! -e $(DESTDIR)$(ETCDIR)/imdsd.conf ]; then \
		echo "$(INSTALL) -m $(CONFMODE) etc/imdsd.conf.sample $(DESTDIR)$(ETCDIR)/imdsd.conf"; \
		$(INSTALL) -m $(CONFMODE) etc/imdsd.conf.sample $(DESTDIR)$(ETCDIR)/imdsd.conf; \
	fi

install-FreeBSD: render
	$(INSTALL) -d -m 0755 $(DESTDIR)$(RCDIR) $(DESTDIR)$(SYSLOGDIR) $(DESTDIR)$(NEWSYSLOGDIR)
	$(INSTALL) -m $(SCRIPTMODE) build/rc.d/imdsd $(DESTDIR)$(RCDIR)/imdsd
	$(INSTALL) -m $(CONFMODE) etc/syslog.d/imdsd.conf $(DESTDIR)$(SYSLOGDIR)/imdsd.conf
	$(INSTALL) -m $(CONFMODE) etc/newsyslog.conf.d/imdsd.conf $(DESTDIR)$(NEWSYSLOGDIR)/imdsd.conf

install-Linux: render
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR)
	$(INSTALL) -m $(CONFMODE) systemd/imdsd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/imdsd.socket
	$(INSTALL) -m $(CONFMODE) build/systemd/imdsd.service $(DESTDIR)$(SYSTEMDUNITDIR)/imdsd.service

# Removes what install put in place, except an imdsd.conf that differs from
# the sample (a port's @sample does the same), the guest files of
# instances.d and the directories that are not empty.
uninstall: $(OSUNINSTALL_$(OS))
	rm -f $(DESTDIR)$(SBINDIR)/imdsd $(DESTDIR)$(SBINDIR)/imdsctl $(DESTDIR)$(BINDIR)/getimds \
		$(DESTDIR)$(MANDIR)/man1/getimds.1 $(DESTDIR)$(MANDIR)/man5/imdsd.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/imdsd.8 $(DESTDIR)$(MANDIR)/man8/imdsctl.8
	@if cmp -s $(DESTDIR)$(ETCDIR)/imdsd.conf $(DESTDIR)$(ETCDIR)/imdsd.conf.sample; then \
		echo "rm -f $(DESTDIR)$(ETCDIR)/imdsd.conf"; rm -f $(DESTDIR)$(ETCDIR)/imdsd.conf; \
	fi
	rm -f $(DESTDIR)$(ETCDIR)/imdsd.conf.sample $(DESTDIR)$(ETCDIR)/instances.d/README
	@rmdir $(DESTDIR)$(ETCDIR)/instances.d 2>/dev/null || true
	@rmdir $(DESTDIR)$(ETCDIR) 2>/dev/null || true

uninstall-FreeBSD:
	rm -f $(DESTDIR)$(RCDIR)/imdsd $(DESTDIR)$(SYSLOGDIR)/imdsd.conf $(DESTDIR)$(NEWSYSLOGDIR)/imdsd.conf

uninstall-Linux:
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/imdsd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/imdsd.service

clean:
	rm -rf bin build
