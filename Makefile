# compod. Everything runs as root on Debian 12 (see hack/setup.sh).
GO ?= go
export COMPOD_TEST_CONTAINERD ?= /run/compod-test/containerd.sock
export COMPOD_TEST_REGISTRY ?= 127.0.0.1:5000

.PHONY: all pause build setup lint test fuzz bench soak demo mesos-e2e clean

all: build

# The pause binary (cmd/compod-pause) is committed as
# internal/pauseimage/bin/pause and embedded into compod, so a plain
# `go build`/`go install` works. `make pause` regenerates it (reproducibly:
# same source and Go release, same bytes); commit the result. Nothing else
# depends on it: the tests check that the committed binary is up to date
# (TestBinaryUpToDate), which a regeneration before them would hide.
# The log writer (cmd/compod-logger, internal/loggerbin) is committed and
# checked the same way.
pause:
	$(GO) generate ./internal/pauseimage ./internal/loggerbin

build:
	$(GO) build -o bin/compod ./cmd/compod

setup:
	hack/setup.sh

# Every test runs under the race detector (the integration tests too: the
# engine runs in the test process, so its supervisors, probes and locks
# are checked against real containerd events).
# The private containerd and registry are stopped at the end whatever the
# outcome; then the fuzz targets run (they need neither). The exit code is
# go test's, else the fuzzers'. Packages run one at a time (-p 1):
# integration tests check the whole host for leaks (containers, netns,
# iptables, cgroups) and one of them restarts containerd. Leftovers of
# earlier, interrupted runs on the host's CNI state are removed first
# (hack/reap-test-leftovers.sh says why).
test: setup lint
	status=0; \
	{ hack/reap-test-leftovers.sh && hack/containerd.sh start && hack/registry.sh start && \
	  $(GO) test -race -p 1 -count=1 -timeout 75m ./...; } || status=$$?; \
	hack/registry.sh stop || true; \
	hack/containerd.sh stop || true; \
	fuzz=0; GO='$(GO)' FUZZTIME=$(FUZZTIME) hack/fuzz.sh $(FUZZ_PKGS) || fuzz=$$?; \
	[ $$status -ne 0 ] || status=$$fuzz; \
	exit $$status

# gofmt, go vet and staticcheck (version pinned here, fetched by go run).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Every fuzz target (func FuzzX) of FUZZ_PKGS runs for FUZZTIME (see
# hack/fuzz.sh; make test runs them after the tests). Longer runs:
# make fuzz FUZZTIME=10m. Building the instrumented test binaries is most
# of the rest: 8 targets at 10s took 3m52s from a cold build cache on the
# 2-core box while it ran other tests (about 2.5 min of CPU-bound build).
FUZZTIME ?= 10s
FUZZ_PKGS ?= ./translate ./executor
fuzz:
	GO='$(GO)' FUZZTIME=$(FUZZTIME) hack/fuzz.sh $(FUZZ_PKGS)

# Benchmarks print tables of figures; each does a fixed amount of work, so
# it runs once (-benchtime=1x). First (test/bench) compod against the
# floor: `ctr run -d` of one container and of ten, then `compod up -d` and
# `down` of 1, 3 and 10 services, the executor's LAUNCH → TASK_RUNNING and
# service exit → terminal update through the agent emulator, and compod's
# own memory per pod, BENCH_ROUNDS interleaved rounds, as a markdown table
# and bench.json (docs/performance.md); then the other packages'
# benchmarks (exit detection, status update latency). BENCH_SHORT=1 runs
# the floor benchmark alone, one round: CI proves it works, its figures
# mean nothing. Not part of `make test`: benchmarks are never timed tests.
# The private containerd is started if it is not running, and stopped at
# the end only if it was started here.
BENCH_ROUNDS ?= 5
BENCH_SHORT ?=
bench: setup
	status=0; started=; \
	hack/containerd.sh status >/dev/null || { hack/containerd.sh start && started=1; } || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  if [ -n "$(BENCH_SHORT)" ]; then pkgs=./test/bench; else pkgs=./...; fi; \
	  BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_SHORT=$(BENCH_SHORT) $(GO) test -p 1 -count=1 -timeout 60m -run '^$$' -bench . -benchtime=1x $$pkgs || status=$$?; \
	fi; \
	[ -z "$$started" ] || hack/containerd.sh stop || true; \
	exit $$status

# The soak test (runtime TestSoak) with many cycles: a 3-service pod up
# and down SOAK_CYCLES times, then the leak check and compod's memory
# growth (make test runs it with its default, 50 cycles). It prints its
# figures (-v) and a summary line. The private containerd is started if it
# is not running, and stopped at the end only if it was started here.
SOAK_CYCLES ?= 500
SOAK_TIMEOUT ?= 4h
soak: setup
	status=0; started=; \
	hack/containerd.sh status >/dev/null || { hack/containerd.sh start && started=1; } || status=$$?; \
	[ $$status -ne 0 ] || COMPOD_SOAK_CYCLES=$(SOAK_CYCLES) $(GO) test -count=1 -v -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' ./runtime || status=$$?; \
	[ -z "$$started" ] || hack/containerd.sh stop || true; \
	exit $$status

demo:
	hack/demo.sh

# compod under a real Mesos master and agent built from source (not part of
# `make test`): make mesos-e2e MESOS_BUILD=<mesos build dir>. See
# docs/mesos.md, "Real-agent check".
mesos-e2e:
	@MESOS_BUILD='$(MESOS_BUILD)' hack/mesos-e2e.sh

clean:
	rm -rf bin
