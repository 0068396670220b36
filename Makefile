# pulsegate: `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/pulsegate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/pulsegate/pulsegate/internal/cli.Version=$(VERSION)
DEMO  := examples/demo
IMAGE_REPO ?= pulsegate/pulsegate
IMAGE_TAG  ?= 0.1.0

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the static pulsegate binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/pulsegate

.PHONY: image
image: build ## build the OCI image layout dist/pulsegate-image from the static binary (no Docker engine; reproducible)
	$(GO) run ./catalog/image -binary $(BIN) -out dist/pulsegate-image -tag $(IMAGE_TAG)

.PHONY: catalog-pin
catalog-pin: ## pin the catalog's image references to dist/pulsegate-image's digest (IMAGE_REPO, IMAGE_TAG)
	$(GO) run ./catalog/image -pin -layout dist/pulsegate-image -repo $(IMAGE_REPO) -tag $(IMAGE_TAG) catalog

.PHONY: demo
demo: build ## run the gate on the demo's two releases: one blocks, one proceeds
	@set -u; status=0; \
	for r in payments-api storefront-web; do \
	  echo "== pulsegate gate --config $(DEMO)/pulsegate.yaml --release $(DEMO)/releases/$$r.yaml"; \
	  ./$(BIN) gate --config $(DEMO)/pulsegate.yaml --release $(DEMO)/releases/$$r.yaml; code=$$?; \
	  echo "== exit $$code"; echo; \
	  case "$$r:$$code" in payments-api:1|storefront-web:0) ;; *) echo "demo: unexpected exit $$code for $$r" >&2; status=1;; esac; \
	done; \
	if [ $$status = 0 ]; then echo "demo: payments-api blocked (exit 1), storefront-web proceeds (exit 0), as expected"; fi; \
	exit $$status

.PHONY: kube-harness
kube-harness: ## build (once, cached outside the repo) the etcd and kube-apiserver the tests start
	bash test/kube/build.sh >/dev/null

.PHONY: test
test: fmt-check vet kube-harness test-deps ## gofmt check, go vet, and go test -race on everything (starts a real kube-apiserver, Prometheus, Alertmanager)
	PULSEGATE_KUBE_REQUIRE=1 $(GO) test -race -timeout 25m ./...

.PHONY: test-deps
test-deps: ## install Debian's prometheus and prometheus-alertmanager for the tests, when missing and root
	@if command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing prometheus and prometheus-alertmanager (Debian packages) for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager; \
	else \
	  echo "prometheus not installed and cannot install it here (not root or no apt-get): its tests will skip"; \
	fi

.PHONY: test-short
test-short: ## quick tests: no -race, -short
	$(GO) test -short ./...

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

.PHONY: fmt
fmt: ## gofmt -w every Go file
	gofmt -w $$(git ls-files '*.go')

.PHONY: fmt-check
fmt-check: ## fail when a Go file is not gofmt-clean
	@out=$$(gofmt -l $$(git ls-files '*.go' --cached --others --exclude-standard)); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: fmt-check vet ## gofmt check and go vet, here and in bench/
	cd bench && $(GO) vet ./...

.PHONY: bench
bench: ## run the Go benchmarks (one core) of the main module and bench/
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./...
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./...

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist
