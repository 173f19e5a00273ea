# Weir's make targets. `make` alone lists them.

GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages `make bench` runs, and how many times each benchmark runs (for
# benchstat).
BENCH_PKGS ?= ./bench/...
BENCH_COUNT ?= 5

.DEFAULT_GOAL := help
.PHONY: help build ui test deps lint bench bench-state bench-pebble bench-nexmark bench-kafka bench-ingest bench-normal soak demo tidy-check clean

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-11s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build the weir binary into bin/weir
	$(GO) build -o bin/weir ./cmd/weir

# The dashboard's assets are committed (platform/ui/dist, embedded in the
# binary), so building weir needs no npm; a test checks that they match
# their sources (platform/ui_test.go).
ui: ## rebuild the dashboard's assets (platform/ui/dist) from platform/ui/src with npm (esbuild)
	@command -v npm >/dev/null 2>&1 || { echo "make ui: needs npm (Node.js)" >&2; exit 1; }
	cd platform/ui && { [ -x node_modules/.bin/esbuild ] || npm ci --no-audit --no-fund; } && node build.mjs

# The heap-bound proof of backpressure also runs without the race detector,
# whose sync.Pool behaviour would blur its measurement. The Nexmark queries
# run on 20 000 events under the race detector and on 100 000 without it.
# The operator tests (the root package) and the Nexmark tests (-short: 20 000
# events) then run again with every job on the Pebble backend
# (WEIR_STATE_BACKEND=pebble), without the race detector: measured 2.5-4 min
# and 3 min of wall time (builds included; 0.6 and 1 min of CPU) on a 2-core
# machine that was busy with other work.
test: deps ## install what the tests need, then run every test with the race detector
	WEIR_REQUIRE_TOOLS=1 WEIR_REQUIRE_SERVERS=1 $(GO) test -race -shuffle=on -count=1 -timeout 20m ./...
	$(GO) test -count=1 -run 'TestBackpressure' .
	$(GO) test -count=1 ./internal/app/nexmark/queries/...
	WEIR_STATE_BACKEND=pebble $(GO) test -count=1 -timeout 10m .
	WEIR_STATE_BACKEND=pebble $(GO) test -count=1 -short -timeout 10m ./internal/app/nexmark/...
	cd examples/connector && $(GO) test -count=1 ./...

# The race detector needs cgo, so a C compiler; a fresh Debian has none.
# kcat is the independent Kafka client the Kafka interoperability tests
# check Weir against; PostgreSQL (Debian's server, which the tests start
# themselves) the database enrich steps look records up in; s3rver (npm,
# into .tools/) the independent S3 server the S3 checkpoint storage is
# tested against; kinesis-local (npm's kinesis-mock, into .tools/) the
# Kinesis emulator the Kinesis connector is tested against (it reshards,
# which kinesalite does not); Chromium the browser the dashboard is tested
# in (platform/dashboard_browser_test.go, through chromedp).
S3RVER_VERSION = 3.7.1
KINESIS_LOCAL_VERSION = 0.6.2
deps: ## install what the tests need when it is missing (Go modules, a C compiler, kcat, PostgreSQL, Chromium, nats-server, redis-server, s3rver, kinesis-local)
	@missing=; \
	command -v "$$($(GO) env CC)" >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v nats-server >/dev/null 2>&1 || missing="$$missing nats-server"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		if ! command -v apt-get >/dev/null 2>&1; then \
			echo "make deps: the tests need$$missing; install them" >&2; exit 1; \
		fi; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "make deps: installing$$missing"; \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@[ -x .tools/node_modules/.bin/s3rver ] || { \
		command -v npm >/dev/null 2>&1 || { echo "make deps: the tests need npm (Node.js) to install s3rver" >&2; exit 1; }; \
		echo "make deps: installing s3rver $(S3RVER_VERSION) into .tools"; \
		npm install --prefix .tools --no-audit --no-fund --silent s3rver@$(S3RVER_VERSION); }
	@[ -f .tools/node_modules/kinesis-local/main.js ] || { \
		command -v npm >/dev/null 2>&1 || { echo "make deps: the tests need npm (Node.js) to install kinesis-local" >&2; exit 1; }; \
		echo "make deps: installing kinesis-local $(KINESIS_LOCAL_VERSION) into .tools"; \
		npm install --prefix .tools --no-audit --no-fund --silent kinesis-local@$(KINESIS_LOCAL_VERSION); }
	$(GO) mod download

lint: ## check formatting (gofmt), go vet and staticcheck
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: these files need gofmt -w:" >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd examples/connector && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

bench: ## run the benchmarks beside their hand-written ceilings (BENCH_PKGS, BENCH_COUNT)
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) $(BENCH_PKGS)

# One run takes a few minutes and about 6 GiB of memory; SCALE_FLAGS adds
# flags (-scale.keys 500000 for a quick look, -scale.dir DIR for another
# disk).
bench-state: ## measure checkpoints and restores of 10 M keys of state (p1 → p2 → p1) beside their goals (SCALE_FLAGS)
	$(GO) test -count=1 -timeout 60m -run '^TestStateScale$$' -v ./bench/ -scale $(SCALE_FLAGS)

# The keyed count of 100 M keys needs about 5 GB of disk under the
# system's temporary directory (PEBBLE_FLAGS: -dir DIR for another disk,
# -keys 10000000 -memory 128 for a quicker look at the same ratio).
bench-pebble: build ## measure Pebble under a memory budget: a keyed count of 100 M keys, Nexmark q3/q9/q20 beside memory, checkpoint cost; writes docs/benchmarks.md (PEBBLE_FLAGS)
	$(GO) build -o bin/bench-pebble ./bench/pebble
	bin/bench-pebble -weir bin/weir -doc docs/benchmarks.md $(PEBBLE_FLAGS)

bench-nexmark: ## run every Nexmark query (p1, p2, checkpoints) beside the reference loop, Flink's figures and Benthos; writes docs/benchmarks.md
	cd bench/nexmark-benthos && $(GO) build -o ../../bin/nexmark-benthos .
	$(GO) run ./bench/nexmark -benthos bin/nexmark-benthos -doc docs/benchmarks.md

# The broker is weir dev kafka, in a process of its own; each contender
# runs in a child process whose rusage gives its CPU seconds. KAFKA_FLAGS
# adds flags (-records 200000 for a quick look).
bench-kafka: build ## measure Kafka pipelines beside a hand-written franz-go loop and Goka; writes docs/benchmarks.md (KAFKA_FLAGS)
	cd bench/kafka-goka && $(GO) build -o ../../bin/kafka-goka .
	$(GO) build -o bin/bench-kafka ./bench/kafka
	bin/bench-kafka -weir bin/weir -goka bin/kafka-goka -doc docs/benchmarks.md $(KAFKA_FLAGS)

bench-ingest: ## measure the HTTP beacon collector under wrk (batches of 100, durable answers); writes docs/benchmarks.md
	$(GO) run ./bench/ingest -doc docs/benchmarks.md

bench-normal: ## score NAB's 58 series with the model of normal (swept and fixed threshold, points/s per core); writes docs/benchmarks.md
	$(GO) run ./bench/normal -corpus testdata/nab -doc docs/benchmarks.md

soak: ## run the long exactly-once crash harness (200+ kills, 100 in-process restarts, 200k events; Kafka, Pebble+S3 and YAML-pipeline branches)
	$(GO) test -count=1 -timeout 2h -run 'TestExactlyOnceUnder(Kill|Restarts)' -v ./internal/app/robustness/ -soak

demo: ## run the job server with the demo job until Ctrl-C (go run ./cmd/weir demo)
	$(GO) run ./cmd/weir demo

tidy-check: ## fail if go mod tidy would change go.mod or go.sum (the root's and examples/connector's)
	$(GO) mod tidy
	cd examples/connector && $(GO) mod tidy
	cd bench/kafka-goka && $(GO) mod tidy
	git diff --exit-code go.mod go.sum examples/connector/go.mod examples/connector/go.sum bench/kafka-goka/go.mod bench/kafka-goka/go.sum

clean: ## remove build output
	rm -rf bin
