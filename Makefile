# InferenceBench for Go. The README shows the two commands that matter:
# `make demo` and `make test`.

export GOTOOLCHAIN := local
# go-nvml's header marks deprecated NVML calls; the warnings are noise here.
export CGO_CFLAGS  ?= -O2 -g -Wno-deprecated-declarations
GO          ?= go
BIN         := bin/bench
PKGS        := ./... ./pkg/envelope/...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 5m
BENCHTIME   ?= 2s

.PHONY: all build test test-short lint bench fuzz schemas demo compose-check clean sigstore-prebuild sigstore-test

all: build

# Binaries record the source revision (software_provenance.git_commit) even
# where VCS stamping is off (GOFLAGS=-buildvcs=false).
GIT_COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS     := -X main.gitCommit=$(GIT_COMMIT)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bench

## test: every test of both modules, with the race detector; then, without it,
## the two checks the race detector distorts: TTFT/TPOT accuracy (a timing
## claim about a normal build) and the full single-byte mutation sweep (under
## -race it samples every 7th position), one package at a time.
test:
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -count=1 -p 1 -v -run '^(TestTTFTAndTPOTAccuracy|TestEverySingleByteMutationIsCaught)$$' ./services/runner ./pkg/envelope/verify

test-short:
	$(GO) test -short -count=1 $(PKGS)

## sigstore-prebuild: build Fulcio, Rekor v2, the TSA and cosign (pinned
## releases, from the module proxy) into the cache the stack tests use
## ($INFERENCEBENCH_SIGSTORE_CACHE, else ~/.cache/inferencebench/sigstore);
## minutes when cold, a second when cached. `make test` runs the stack tests
## too and builds what is missing, but inside a test's time limit.
sigstore-prebuild:
	$(GO) run ./internal/sigstorestack/cmd/prebuild

## sigstore-test: only the tests against the real local Sigstore stack
## (loopback, in a network namespace with no route out; docs/operations.md).
sigstore-test: sigstore-prebuild
	INFERENCEBENCH_SIGSTORE_REQUIRE=1 $(GO) test -count=1 -v ./internal/sigstorestack

## lint: formatting, go vet and staticcheck on both modules.
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

## bench: the performance targets, measured side by side (see docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./pkg/envelope/... ./cmd/... ./services/... ./internal/...

## fuzz: each fuzz target for FUZZTIME (default 5m), seeded from the reference fixtures.
fuzz:
	cd pkg/envelope && $(GO) test -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./canonjson
	cd pkg/envelope && $(GO) test -run '^$$' -fuzz '^FuzzAppendFloat$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./canonjson
	cd pkg/envelope && $(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s .
	# FuzzRead keeps finding new coverage in Parquet's encodings; minimising
	# each find for 10 s left no time to fuzz (382 execs in 5 minutes).
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./services/runner/trace

## schemas: regenerate schemas/ from the Go types.
schemas:
	$(GO) run ./cmd/bench schema envelope > schemas/envelope.v1.schema.json
	$(GO) run ./cmd/bench schema bus-message > schemas/bus-message.v1.schema.json
	$(GO) run ./cmd/bench schema job > schemas/job.v1.schema.json

## demo: the main job end to end on embedded defaults.
demo: build
	./scripts/demo.sh $(BIN)

## compose-check: deploy/compose.yaml resolves (docker-compose config) and its bench commands parse.
compose-check: build
	./scripts/check-compose.sh $(BIN)

clean:
	rm -rf bin
