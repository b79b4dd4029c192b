# weft: the one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO            ?= go
BIN           := $(CURDIR)/bin
CNI_BIN       := $(BIN)/cni
TOOLS         := $(BIN)/tools
GOLANGCI_VER  := v2.15.0
GOLANGCI      := $(TOOLS)/golangci-lint
# Releases are semver tags, v<major>.<minor>.<patch> (v0.2.0). A build of a
# tag is that version; a build n commits after one is v0.2.0-n-g<commit>
# (git describe); before the first tag, v0.0.0-n-g<commit> with n the commits
# so far; -dirty marks uncommitted changes; outside a git checkout, v0.0.0-dev.
# CHANGELOG.md says what each version adds.
VERSION       ?= $(shell if git rev-parse --git-dir >/dev/null 2>&1; then \
	git describe --tags --match 'v[0-9]*.[0-9]*.[0-9]*' --abbrev=12 --dirty 2>/dev/null || \
	echo "v0.0.0-$$(git rev-list --count HEAD)-g$$(git rev-parse --short=12 HEAD)$$(git diff --quiet HEAD -- || echo -dirty)"; \
	else echo v0.0.0-dev; fi)
COMMIT        ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# grpcnotrace drops gRPC's golang.org/x/net/trace, which pulls in html/template:
# its reflection keeps every exported method of every type in the binary, and
# without it weftd is 4 MB (22 %) smaller, which is 4 MB less mapped at run time.
GOTAGS        := grpcnotrace
LDFLAGS       := -s -w -X github.com/weft-net/weft/internal/version.Version=$(VERSION) -X github.com/weft-net/weft/internal/version.Commit=$(COMMIT)
TEST_TIMEOUT  ?= 45m
FUZZTIME      ?= 10s
BENCH         ?= .
BENCH_COUNT   ?= 3
# Reference CNI plugins, built from the containernetworking/plugins version pinned in go.mod.
CNI_PLUGINS   := main/bridge ipam/host-local meta/portmap main/loopback
CNI_MOD       := github.com/containernetworking/plugins/plugins
# Each plugin build stamps its release into the line it prints when run
# without CNI_COMMAND ("CNI bridge plugin v1.9.1"), as upstream's release
# builds do: `weftctl install-cni --upgrade-plugins` compares those lines.
CNI_PLUGINS_VER = $(shell $(GO) list -m -f '{{.Version}}' github.com/containernetworking/plugins)
CNI_LDFLAGS    = -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$(1)
# Older reference plugin releases the CNI plugin is tested against, each
# built from the Go module proxy into bin/cni-<version>: v1.1.1 is what
# Debian 12 ships; v1.4.0 and v1.5.1 still answer VERSION with at most
# spec 1.0.0; v1.6.0 is the first release speaking spec 1.1.0 (STATUS, GC).
CNI_MATRIX    := v1.1.1 v1.4.0 v1.6.0
# The CRI tier: containerd (with its runc shim and ctr) and crictl, built
# from their Go modules into bin/cri beside the pause binary; runc from apt.
CRI_BIN        := $(BIN)/cri
CONTAINERD_VER := v2.4.2
CRICTL_VER     := v1.37.0
CONTAINERD_MOD := github.com/containerd/containerd/v2/cmd

# `make image`: the multi-platform OCI image, as an OCI layout tarball.
# Every timestamp in it is the commit's time, so a commit builds to the
# same digest anywhere.
IMAGE_REPO      ?= ghcr.io/weft-net/weft
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_TAR       := $(BIN)/weft-image.tar
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

# Tests find the built binaries through these.
export WEFT_BIN_DIR := $(BIN)
export WEFT_CNI_PATH := $(CNI_BIN)
export WEFT_CRI_BIN := $(CRI_BIN)

.PHONY: help version build cni-plugins cni-matrix cri image deps test unit e2e bench bench-doc chaos chaos-doc scale-bench scale-doc demo demo-containerd lint fmt vet tidy check-tidy fuzz clean

help: ## show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

version: ## print the version the binaries get (git describe with semver tags)
	@echo $(VERSION)

build: ## build bin/weftd, bin/weft (CNI plugin), bin/weftctl and bin/weft-demo (demo; runs the test topologies' etcd)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/weftd ./cmd/weftd
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/weft ./cmd/weft
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/weftctl ./cmd/weftctl
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/weft-demo ./cmd/weft-demo

cni-plugins: ## build the reference CNI plugins (bridge, host-local, portmap, loopback) into bin/cni
	@mkdir -p $(CNI_BIN)
	@for p in $(CNI_PLUGINS); do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(call CNI_LDFLAGS,$(CNI_PLUGINS_VER))' -o $(CNI_BIN)/$$(basename $$p) $(CNI_MOD)/$$p || exit 1; \
	done

# The stamps make a rerun skip these builds entirely; a version bump
# changes the stamp's name and so rebuilds.
cni-matrix: $(foreach v,$(CNI_MATRIX),$(BIN)/cni-$(v)/.built-versioned) ## build the older reference plugin releases (CNI_MATRIX) into bin/cni-<version>

$(BIN)/cni-%/.built-versioned:
	@mkdir -p $(@D)
	GOBIN=$(@D) CGO_ENABLED=0 $(GO) install -ldflags '$(call CNI_LDFLAGS,$*)' $(foreach p,$(CNI_PLUGINS),$(CNI_MOD)/$(p)@$*)
	@touch $@

cri: $(CRI_BIN)/.containerd-$(CONTAINERD_VER) $(CRI_BIN)/.crictl-$(CRICTL_VER) ## build containerd, its runc shim, ctr, crictl and the pause binary into bin/cri
	CGO_ENABLED=0 $(GO) build -trimpath -o $(CRI_BIN)/pause ./internal/cluster/pause

$(CRI_BIN)/.containerd-$(CONTAINERD_VER):
	@mkdir -p $(@D)
	GOBIN=$(CRI_BIN) CGO_ENABLED=0 $(GO) install $(foreach c,containerd containerd-shim-runc-v2 ctr,$(CONTAINERD_MOD)/$(c)@$(CONTAINERD_VER))
	@touch $@

$(CRI_BIN)/.crictl-$(CRICTL_VER):
	@mkdir -p $(@D)
	GOBIN=$(CRI_BIN) CGO_ENABLED=0 $(GO) install sigs.k8s.io/cri-tools/cmd/crictl@$(CRICTL_VER)
	@touch $@

image: ## build the OCI image (linux/amd64+arm64) into bin/weft-image.tar, no Docker needed; prints its digest
	$(GO) run ./internal/imagebuild -repo $(IMAGE_REPO) -tag '$(VERSION)' -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)' \
		-platforms $(IMAGE_PLATFORMS) -epoch $(SOURCE_DATE_EPOCH) -out $(IMAGE_TAR) -work $(BIN)/image -go $(GO)

deps: ## install what the tests need beyond Go, gcc, git and iproute2 (iptables, nft, ethtool, runc)
	@missing=""; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	command -v nft >/dev/null || missing="$$missing nftables"; \
	command -v ethtool >/dev/null || missing="$$missing ethtool"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "deps: need$$missing; run as root or install them" >&2; exit 1; fi; \
		echo "deps: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps build cni-plugins cni-matrix cri image ## run every test (unit, etcd, kernel, CNI, e2e) with -race; kernel tests need root
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

unit: ## run only the tests that need neither root nor built binaries
	$(GO) test -race -count=1 -short ./...

e2e: deps build cni-plugins cni-matrix cri image ## run the multi-node end-to-end tests (root)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./e2e/...

bench: deps build cni-plugins ## run the benchmarks (BENCH=regexp, BENCH_COUNT=runs) and write bench/results/<date>-<commit>.json
	@mkdir -p bench/results
	WEFT_BENCH_LARGE=$(or $(WEFT_BENCH_LARGE),1) $(GO) run ./internal/benchrun -out bench/results -bench '$(BENCH)' -count $(BENCH_COUNT)

bench-doc: ## regenerate the table in Documentation/benchmarks.md from the newest result
	$(GO) run ./internal/benchrun -doc Documentation/benchmarks.md -in bench/results

# `make chaos`: the fault scenarios (internal/chaos) on CHAOS_N real weftd
# nodes with a 3-member etcd, then the control plane's cost (scale-bench);
# `make test` runs small versions of both (6 nodes with short outages, 50
# watchers).
CHAOS_N       ?= 100

chaos: deps build cni-plugins ## fault scenarios on CHAOS_N (100) weftd nodes + etcd cost model: bench/results/chaos-*.json and scale-*.json (root, ~12 min)
	@mkdir -p bench/results
	CHAOS_N=$(CHAOS_N) CHAOS_OUT=$(CURDIR)/bench/results $(GO) test -count=1 -timeout 40m -run '^TestChaos$$' -v ./internal/chaos/
	$(MAKE) scale-bench

chaos-doc: scale-doc ## regenerate the measured tables in Documentation/reliability.md and scale.md from the newest results
	$(GO) run ./internal/chaos/cmd/chaosdoc -doc Documentation/reliability.md -in bench/results

scale-bench: deps build ## measure etcd's cost at W=5,000 watch clients (WEFT_SCALE_W) and write bench/results/scale-<date>-<commit>.json (root, ~5 min)
	@mkdir -p bench/results
	WEFT_SCALE_FULL=1 WEFT_SCALE_OUT=$(CURDIR)/bench/results $(GO) test -count=1 -timeout 20m -run '^TestScale$$' -v ./internal/scalebench/

scale-doc: ## regenerate the measured tables in Documentation/scale.md from the newest scale result
	$(GO) run ./internal/scalebench/cmd/scaledoc -doc Documentation/scale.md -in bench/results

demo: deps build cni-plugins ## run a 3-node weft cluster in network namespaces and show it working (root)
	$(BIN)/weft-demo --bin-dir $(BIN) --cni-path $(CNI_BIN) --conflist $(CURDIR)/dist/cni/10-weft.conflist

demo-containerd: deps build cni-plugins cri ## the demo with pods made through a containerd per node (CRI, crictl), as kubelet makes them (root)
	$(BIN)/weft-demo --bin-dir $(BIN) --cni-path $(CNI_BIN) --conflist $(CURDIR)/dist/cni/10-weft.conflist --runtime containerd --cri-bin-dir $(CRI_BIN)

$(GOLANGCI):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VER)

lint: $(GOLANGCI) ## golangci-lint (staticcheck, vet, errcheck, depguard, formatters)
	$(GOLANGCI) run ./...

fmt: $(GOLANGCI) ## format the code
	$(GOLANGCI) fmt ./...

vet: ## go vet
	$(GO) vet ./...

tidy: ## go mod tidy
	$(GO) mod tidy

check-tidy: tidy ## fail if go.mod/go.sum are not tidy
	git diff --exit-code go.mod go.sum

fuzz: ## run each fuzz target for FUZZTIME
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean: ## remove build output
	rm -rf $(BIN)
