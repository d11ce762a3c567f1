# compod. Everything runs as root on Debian 12 (see hack/setup.sh).
GO ?= go
export COMPOD_TEST_CONTAINERD ?= /run/compod-test/containerd.sock
export COMPOD_TEST_REGISTRY ?= 127.0.0.1:5000

.PHONY: all pause build setup test bench demo mesos-e2e clean

all: build

# The pause binary (cmd/compod-pause) is committed as
# internal/pauseimage/bin/pause and embedded into compod, so a plain
# `go build`/`go install` works. `make pause` regenerates it (reproducibly:
# same source and Go release, same bytes); commit the result. Nothing else
# depends on it: the tests check that the committed binary is up to date
# (TestBinaryUpToDate), which a regeneration before them would hide.
pause:
	$(GO) generate ./internal/pauseimage

build:
	$(GO) build -o bin/compod ./cmd/compod

setup:
	hack/setup.sh

# The private containerd and registry are stopped at the end whatever the
# outcome; the exit code is go test's. Packages run one at a time (-p 1):
# integration tests check the whole host for leaks (containers, netns,
# iptables, cgroups) and one of them restarts containerd.
test: setup
	$(GO) vet ./...
	status=0; \
	{ hack/containerd.sh start && hack/registry.sh start && \
	  $(GO) test -p 1 -count=1 -timeout 60m ./...; } || status=$$?; \
	hack/registry.sh stop || true; \
	hack/containerd.sh stop || true; \
	exit $$status

# Benchmarks print tables of figures (exit-detection latency, ...); each
# benchmark does a fixed amount of work, so it runs once (-benchtime=1x).
bench: setup
	status=0; \
	{ hack/containerd.sh start && $(GO) test -p 1 -count=1 -run '^$$' -bench . -benchtime=1x ./...; } || status=$$?; \
	hack/containerd.sh stop || true; \
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
