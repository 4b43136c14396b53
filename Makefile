# imdsd Makefile: works with GNU make (>= 4.0) and BSD make (bmake).
# Only the subset both accept is used: ?=, !=, $(VAR), explicit rules.

GO      ?= go
VERSION != (git describe --tags --always --dirty 2>/dev/null || echo dev) | sed 's/^v//'
LDFLAGS  = -s -w -X main.version=$(VERSION)
GOBUILD  = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"

# Installation layout; DESTDIR is prepended to every path at install time.
OS      != uname -s
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man

.PHONY: all build run test test-go lint fmt vet bench cross clean

all: build

build:
	$(GOBUILD) -o bin/imdsd ./cmd/imdsd
	$(GOBUILD) -o bin/getimds ./cmd/getimds

# imdsd on 127.0.0.1:8000 with the built-in default config; no root needed.
run: build
	./bin/imdsd --host 127.0.0.1 --port 8000

# The whole suite: static checks, then every Go test with the race detector.
test: lint test-go

test-go:
	$(GO) test -race -count=1 ./...

lint: vet
	@out=$$(gofmt -l cmd pkg); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for f in man/*.[158]; do [ -e "$$f" ] || continue; mandoc -Tlint -Wwarning "$$f" || exit 1; done

vet:
	$(GO) vet ./...

fmt:
	gofmt -w cmd pkg

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

cross:
	for t in freebsd/amd64 freebsd/arm64 linux/amd64 linux/arm64; do \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GOBUILD) -o build/$${t%/*}-$${t#*/}/ ./cmd/... || exit 1; \
	done

clean:
	rm -rf bin build
