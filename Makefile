# Oore GitLab SCM provider. `make run` starts the demo, `make test` runs everything.
SHELL := /bin/bash
GO ?= go

PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION        := v0.8.2
TOOLS_BIN := $(CURDIR)/tools/bin
BUF := tools/node_modules/.bin/buf
DIST := dist
PLUGIN_DIR := $(DIST)/plugins/gitlab

.PHONY: all build test test-go test-browser fuzz-smoke lint fmt-check vet staticcheck proto proto-lint proto-check deps deps-apt deps-browser deps-postgres tools run bench conformance fuzz clean

all: build

## deps: system packages the tests need (git, Chromium, PostgreSQL; Debian only, skipped when present)
deps: deps-apt deps-browser deps-postgres
deps-apt:
	@missing=""; for b in git curl; do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## deps-browser: Debian's chromium for the browser tests (never a test tool's own download)
deps-browser:
	bash host-test/e2e/browser/install-chromium.sh

## deps-postgres: install and start a loopback PostgreSQL for the multi-host tests
deps-postgres:
	bash scripts/ci-postgres.sh

## tools: buf from npm (pinned in tools/package.json), protoc plugins and staticcheck at pinned versions
tools: $(BUF) $(TOOLS_BIN)/protoc-gen-go $(TOOLS_BIN)/protoc-gen-go-grpc $(TOOLS_BIN)/staticcheck
$(BUF): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $(BUF)
$(TOOLS_BIN)/protoc-gen-go:
	GOBIN=$(TOOLS_BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS_BIN)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS_BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS_BIN)/staticcheck:
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## build: the plugin and its sealed manifest in dist/plugins/gitlab, the host, the simulator and the demo driver in dist/bin
build:
	@mkdir -p $(PLUGIN_DIR) $(DIST)/bin
	CGO_ENABLED=0 $(GO) build -trimpath -o $(PLUGIN_DIR)/oore-scm-gitlab .
	CGO_ENABLED=0 $(GO) build -trimpath -o $(DIST)/bin/ ./shared/cmd/oore-manifest ./host-test/cmd/oore-host ./host-test/cmd/oore-gitlab-sim ./host-test/cmd/oore-run ./host-test/cmd/oore-conformance
	$(DIST)/bin/oore-manifest seal manifests/gitlab.json $(PLUGIN_DIR)/oore-scm-gitlab $(PLUGIN_DIR)/manifest.json

## proto: regenerate shared/gen from shared/proto
proto: $(BUF) $(TOOLS_BIN)/protoc-gen-go $(TOOLS_BIN)/protoc-gen-go-grpc
	$(BUF) lint shared/proto
	rm -rf shared/gen
	$(BUF) generate

proto-lint: $(BUF)
	$(BUF) lint shared/proto

## proto-check: fails when the checked-in generated code differs from what `make proto` writes
proto-check: proto
	@git diff --exit-code -- shared/gen || { echo "shared/gen drifted from shared/proto: run make proto and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- shared/gen)" || { echo "untracked generated files in shared/gen: run make proto and commit"; git status --porcelain -- shared/gen; exit 1; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet -tags browser ./...

staticcheck: $(TOOLS_BIN)/staticcheck
	$(TOOLS_BIN)/staticcheck -tags browser ./...

lint: fmt-check vet staticcheck proto-lint

## test: everything (lint, generated-code drift, unit, integration, e2e, browser, all with -race; fuzz targets briefly)
test: deps tools lint proto-check build test-go test-browser fuzz-smoke

# The multi-host tests find PostgreSQL through OORE_TEST_POSTGRES_URL (started by deps-postgres).
test-go:
	OORE_TEST_POSTGRES_URL="$${OORE_TEST_POSTGRES_URL:-$$(bash scripts/ci-postgres.sh url)}" \
	$(GO) test -race -count=1 -timeout 12m ./...

## test-browser: the Settings > Integrations pages in real headless Chromium
test-browser:
	$(GO) test -race -count=1 -timeout 6m -tags browser ./host-test/e2e/browser/

# Fuzz targets for everything that reads bytes from the network: package:Target.
FUZZ_TARGETS := ./plugin/gitlab:FuzzIdentifyWebhook ./plugin/gitlab:FuzzVerifyWebhook \
	./plugin/gitlab:FuzzLeanDecoderMatchesEncodingJSON ./plugin/gitlab:FuzzDecodeProjects \
	./plugin/gitlab:FuzzPlainRFC3339MatchesTime ./host-test/host:FuzzParseGitRequest ./host-test/host:FuzzJobToken
# Budgets are counts of runs ("Nx"), not durations: with a duration, Go 1.26's
# fuzz coordinator can report "context deadline exceeded" as a failure when the
# time runs out while a worker is busy (golang/go#75804, fixed in Go 1.27), and a
# loaded CI machine hits it. A count has no deadline to race.
FUZZTIME ?= 200000x

## fuzz-smoke: every fuzz target for a few thousand runs (part of make test)
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5000x

## fuzz: every fuzz target for FUZZTIME runs each (default 200000x; a duration such as 60s works too)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; done

## bench: performance figures, each as a ratio against a baseline measured in the same run (docs/benchmarks.md); about 3 minutes on 2 cores
bench: build
	OORE_BENCH_POSTGRES_URL="$${OORE_BENCH_POSTGRES_URL:-$$(bash scripts/ci-postgres.sh 2>/dev/null || true)}" \
	$(GO) run ./bench/cmd/oore-bench -plugin-dir $(PLUGIN_DIR)

## run: the GitLab simulator and the reference host with the GitLab plugin, and a walkthrough
run: build
	./$(DIST)/bin/oore-run

## conformance: the provider conformance suite against the GitLab plugin (and the local git provider)
conformance: build
	$(GO) run ./host-test/cmd/oore-conformance --manifest $(PLUGIN_DIR)/manifest.json --backend gitlabsim

clean:
	rm -rf $(DIST)
