# pushpipe — the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/pushpipe
CACHE     ?= $(or $(PUSHPIPE_CACHE),$(HOME)/.cache/pushpipe)
CHDB_LIB  := $(CACHE)/chdb/26.7.3-stable.1/libchdb.so
export PUSHPIPE_CACHE    := $(CACHE)
export PUSHPIPE_CHDB_LIB := $(CHDB_LIB)

.PHONY: run test test-short lint bench build chdb chromium clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: chdb build ## build and start the whole pipeline with embedded Kafka and ClickHouse
	./$(BIN) dev

# Fuzz targets (package:target) that `make test` runs for FUZZTIME each after
# the normal tests; their seed corpora (testdata/fuzz/) run in every `go test`.
# FUZZTIME is an execution count (Nx), not a duration: with a duration, Go
# 1.26's fuzz coordinator can report a spurious "context deadline exceeded"
# when the deadline falls while a worker is mid-input on a loaded machine.
FUZZ_TARGETS := ./schema:FuzzDecodeRequest ./schema:FuzzDecodeBinding ./schema:FuzzDecodeControl \
	./workers/receipts:FuzzParseHMS ./workers/receipts:FuzzParseHonor ./workers/receipts:FuzzParseHarmonyOS \
	./workers/receipts:FuzzParseMiPush ./workers/receipts:FuzzParseOPPO ./workers/receipts:FuzzParseVivo \
	./workers/receipts:FuzzParseClient
FUZZTIME ?= 10000x

# golangci-lint is pinned in its own module (tools/golangci-lint/go.mod) so the
# project's go.mod does not carry the linter's dependencies; `go tool` builds it
# on first use. Its analysis cache lives beside the ClickHouse library.
LINT := GOLANGCI_LINT_CACHE=$(CACHE)/golangci-lint $(GO) tool -modfile=tools/golangci-lint/go.mod golangci-lint

test: chdb chromium ## vet, lint, the full test suite against embedded (real-protocol) Kafka and ClickHouse, then brief fuzzing
	$(GO) vet ./...
	$(LINT) run ./...
	$(GO) test -count=1 -timeout 45m ./...
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}\$$" -fuzztime=$(FUZZTIME) "$${t%%:*}"; \
	done

test-short: ## vet, lint and the unit tests alone (go test -short: no Kafka, ClickHouse or browser)
	$(GO) vet ./...
	$(LINT) run ./...
	$(GO) test -count=1 -short ./...

lint: ## golangci-lint with .golangci.yml: staticcheck, errcheck, errorlint, revive exported, depguard layering
	$(LINT) run ./...

bench: chdb build ## benchmark on the embedded stack; figures in .pushpipe/bench/latest.txt
	@scripts/bench-tools.sh >/dev/null   # h2load for the endpoint ceilings; never fails, the report says what is missing
	./$(BIN) bench

build: ## build bin/pushpipe
	$(GO) build -o $(BIN) ./cmd/pushpipe

chdb: ## fetch the pinned ClickHouse library (libchdb.so) into the cache once
	@scripts/fetch-chdb.sh >/dev/null   # progress goes to stderr

chromium: ## install Debian's chromium when missing (the console's browser tests drive it headless)
	@scripts/install-chromium.sh >/dev/null   # progress goes to stderr

clean: ## remove the build output and the local state (.pushpipe/)
	rm -rf bin .pushpipe
