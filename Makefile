# eventstore — the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
DATA      ?= ./data
LISTEN    ?= 127.0.0.1:8080
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
export PATH := $(PATH):/usr/local/go/bin

.PHONY: help build run test bench fuzz lint soak clean
SOAK_SEEDS  ?= 20
SOAK_EVENTS ?= 200

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-7s %s\n", $$1, $$2}'

build: ## build bin/eventstore
	$(GO) build -o bin/eventstore ./cmd/eventstore

# run builds the binary and execs it rather than using "go run": the server
# exits 0 after a clean stop on Ctrl-C, but an interrupted "go run" exits 1,
# which make reported as "Error 1".
run: build ## start the server on the embedded store, data in ./data, on 127.0.0.1:8080 (Ctrl-C stops it)
	exec ./bin/eventstore serve --data $(DATA) --listen $(LISTEN)

test: test-go test-mongodb-paths test-js ## run every test: Go's with the race detector, MongoDB's paths on FerretDB, then the JS client's (Node and headless Chromium)

test-go: ## the Go tests with the race detector (embedded store; also MongoDB when EVENTSTORE_TEST_MONGODB_URI is set)
	$(GO) test -race -count=1 -timeout 30m ./...

# MongoDB's paths on the embedded FerretDB (docs/scaling.md): the tests
# below take the read paths a MongoDB takes (ranges, $in, estimated counts,
# secondary indexes, filters with the shard key) and get a transaction's
# answer to a duplicate, and every command they send is checked against
# its collection's shard key. FerretDB scans for all of it, so the suites'
# load tests stay out; the functions listed in MONGODB_PATHS must each have
# run, or the target fails.
PATHS_STORE      = TestAuditWhileDataIsWritten|TestChangesParentsFirst|TestHistoryParentsFirst|TestJoinEvent|TestClid(RepeatAcrossStores|CrashedFirstAppend|RecordsMigrated|Idempotent)|TestCommitLogHoles|TestCompaction(StaleWriter|PastOldVoids)|TestCrashBetweenSteps|TestUpdateAndDelete|TestAuthorshipRule|TestIngest$$|TestIngestRefusesTampering|TestSharedInsertLostClaim|TestCrashInSharedInsert|TestCreateAppendGet|TestExpectedParents|TestListPagination|TestRefusedInputStoresNothing|TestListChecksCursors|TestTypeFilters|TestUpgradeGivesPositions|TestDataRoundTrip|TestNestedArraysInEdits|TestOutOfSpace
PATHS_STREAM     = TestFollowDetached|TestDetachedSlowSubscriberIsReset|TestStalledSenderDoesNotHoldOthers|TestSlowSubscriberIsReset|TestStreamSeesOtherProcess|TestHeartbeatOnFilteredStream
PATHS_FEDERATION_SKIP = TestChaos|TestThreeServersConverge|TestPeerDownWhileAppending
MONGODB_PATHS    = ByID ByIDs prefetchIn versionRange EstimatedDocuments duplicateRead anyStored createIndexes
.PHONY: test-mongodb-paths
test-mongodb-paths: ## MongoDB's read paths and command shapes, run on the embedded FerretDB (a subset of the suites)
	@rm -f .mongodb-paths.*.cover
	EVENTSTORE_TEST_MONGODB_READS=1 $(GO) test -race -count=1 -timeout 30m -coverpkg=./internal/database,./store,./migrations -coverprofile=.mongodb-paths.store.cover -run '$(PATHS_STORE)' ./store
	EVENTSTORE_TEST_MONGODB_READS=1 $(GO) test -race -count=1 -timeout 30m -coverpkg=./internal/database,./store,./migrations -coverprofile=.mongodb-paths.audit.cover ./audit ./migrations
	EVENTSTORE_TEST_MONGODB_READS=1 $(GO) test -race -count=1 -timeout 30m -coverpkg=./internal/database,./store,./migrations -coverprofile=.mongodb-paths.stream.cover -run '$(PATHS_STREAM)' ./stream
	EVENTSTORE_TEST_MONGODB_READS=1 $(GO) test -race -count=1 -timeout 30m -coverpkg=./internal/database,./store,./migrations -coverprofile=.mongodb-paths.federation.cover -skip '$(PATHS_FEDERATION_SKIP)' ./federation
	@{ echo 'mode: atomic'; tail -q -n +2 .mongodb-paths.*.cover; } >.mongodb-paths.cover
	@$(GO) tool cover -func=.mongodb-paths.cover >.mongodb-paths.func
	@echo "MongoDB paths run on FerretDB (function: statements covered):"; \
	for f in $(MONGODB_PATHS); do \
	  line=$$(awk -v f="$$f" '$$2 == f {print $$1, $$3}' .mongodb-paths.func | head -1); \
	  case "$$line" in ""|*" 0.0%") echo "make test-mongodb-paths: $$f did not run ($$line)" >&2; exit 1;; esac; \
	  echo "  $$f: $$line"; \
	done
	@rm -f .mongodb-paths.*

# The JS client (js/): Redocly's lint of api/openapi.yaml, then its tests in
# Node and in headless Chromium against bin/eventstore. It installs what it
# needs from the project's files: js/node_modules by npm ci from the
# committed lockfile, and Debian's chromium (as root) when there is none.
.PHONY: test-go test-js
test-js: build ## the JS client's tests (js/): OpenAPI lint, Node, headless Chromium
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
	  { echo "make test-js: no chromium; install Debian's package: apt-get install chromium" >&2; exit 1; }
	@test -d js/node_modules || (cd js && npm ci --no-audit --no-fund)
	cd js && npm run --silent lint:openapi && npm test

bench: ## run the benchmarks; each prints its ratio to the limit measured in the same run
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 120m ./...

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

soak: ## the federation chaos test over SOAK_SEEDS seeds of SOAK_EVENTS appends per writer; prints seeds, faults and time to converge
	EVENTSTORE_SOAK_SEEDS=$(SOAK_SEEDS) EVENTSTORE_SOAK_EVENTS=$(SOAK_EVENTS) $(GO) test -run '^TestChaos$$' -count=1 -v -timeout 120m ./federation | grep -E 'seed|slowest|^(ok|FAIL|---)'

lint: ## gofmt, go mod tidy (go.mod and go.sum unchanged), go vet and staticcheck
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	@$(GO) mod tidy -diff || (echo 'make lint: go.mod/go.sum are not tidy; run "go mod tidy"' >&2 && exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean: ## remove build output (not ./data)
	rm -rf bin
