# stepdeploy: push-to-deploy for ECS Fargate, from Rust Lambdas and Step Functions.
# The two commands a new machine needs: `make demo` and `make test`.

SHELL := /bin/bash
PY := .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: help tools up down demo plan status test test-rust test-static test-e2e lint release check-template fmt invoke teardown bench clean

help:
	@echo "make demo    deploy the sample app from a sample push on the local AWS emulator"
	@echo "make test    every check and test (formatting, clippy, unit, handler, end to end)"
	@echo "make plan    a dry run of the sample push: what a deploy would change, changing nothing"
	@echo "make up      start the local stack (emulator + Lambdas), write .local/env"
	@echo "make down    stop what make up started"
	@echo "make status  what is running, and the last deployments"
	@echo "make invoke EVENT=events/webhook.ping.json   invoke a function of the running stack"
	@echo "make teardown ENV=production   remove everything the environment owns"

tools:
	@scripts/bootstrap.sh

up: tools
	@$(PY) scripts/stack.py up

down:
	@if [ -x $(PY) ]; then $(PY) scripts/stack.py down; fi

demo: tools
	@$(PY) scripts/stack.py demo

plan: tools
	@$(PY) scripts/stack.py plan --app $(or $(APP),bank) --environment $(or $(ENV),production) $(if $(COMMIT),--commit $(COMMIT))

status: tools
	@$(PY) scripts/stack.py status

fmt:
	cargo fmt --all

# One cargo build serves clippy, the unit tests and the local stack, so the SDK
# crates compile once: clippy-driver lints the workspace's own crates while
# they compile (through RUSTC_WORKSPACE_WRAPPER and CLIPPY_ARGS, as `cargo
# clippy` runs it), the library's default test-util feature gives the tests'
# build the binaries' feature set, and the stack's `cargo lambda watch`
# inherits these settings, so it finds every binary fresh.
CLIPPY_ENV = RUSTC_WORKSPACE_WRAPPER="$$(rustc --print sysroot)/bin/clippy-driver" \
	CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

lint:
	cargo fmt --all -- --check
	$(CLIPPY_ENV) cargo build --workspace --all-targets --quiet

test-rust:
	$(CLIPPY_ENV) cargo nextest run --workspace --no-fail-fast

# Tests that read the sources and the template (IAM, imports, the emulator's
# patches): no stack, seconds.
test-static: tools
	$(PY) -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e

# Three stacks at once (pytest-xdist), a test file each at a time: the fault
# suites (a deploy or a teardown per crash) are most of the time. A stack
# mostly waits (Wait states, retries, simulated rollouts), so three keep two
# cores about 75% busy (the suite took 9 min 20 s so, here).
test-e2e: tools
	$(CLIPPY_ENV) cargo build --workspace --all-targets --quiet
	$(CLIPPY_ENV) $(PY) -m pytest -q -p no:cacheprovider -n 3 --dist loadfile --durations=15 tests/e2e

# The SAM template and the state machines, as AWS would check them (offline).
check-template: tools
	.venv/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline SAM_CLI_TELEMETRY=0 \
	  .venv/bin/sam validate --lint --template template.yaml

# Every check and test, each phase timed (scripts/timed), fastest first.
test:
	@rm -f .local/phases
	@scripts/timed tools scripts/bootstrap.sh
	@scripts/timed "template" $(MAKE) --no-print-directory check-template
	@scripts/timed "static tests" $(MAKE) --no-print-directory test-static
	@scripts/timed "build + clippy" $(MAKE) --no-print-directory lint
	@scripts/timed "unit and handler tests" $(MAKE) --no-print-directory test-rust
	@scripts/timed "end to end" $(MAKE) --no-print-directory test-e2e
	@cat .local/phases

# Invoke a function of the running stack with a sample event:
#   make invoke EVENT=events/webhook.ping.json   (the function is the file name's first part)
invoke: tools
	@test -n "$(EVENT)" || { echo "usage: make invoke EVENT=events/<function>.<case>.json"; exit 2; }
	@test -f .local/env || { echo "the local stack is not up: run make up"; exit 1; }
	@port=$$(sed -n 's#^STEPDEPLOY_LAMBDA_URL=http://127.0.0.1:##p' .local/env); \
	  fn=$$(basename $(EVENT) | cut -d. -f1); \
	  cargo lambda invoke $$fn --invoke-address 127.0.0.1 --invoke-port $$port --data-file $(EVENT)

# Tear an environment of the sample app down (non-previews need the confirmation):
#   make teardown ENV=production
teardown: tools
	@test -f .local/env || { echo "the local stack is not up: run make up"; exit 1; }
	@$(PY) scripts/stack.py teardown --app $(or $(APP),bank) --environment $(or $(ENV),production)

# --- sam build -------------------------------------------------------------
# template.yaml builds every function with `BuildMethod: makefile`: SAM runs
# `make build-<LogicalId>` once per function, in the source tree
# (samconfig.toml: build_in_source), with ARTIFACTS_DIR. The first one builds
# the whole workspace for arm64 in one cargo build (release profile: LTO, size
# first); the other ten find it fresh. --no-default-features leaves the test
# utilities out: each function's crate asks the library for what it uses.
SAM_FUNCTIONS := WebhookFunction=webhook ImageReadyFunction=image-ready GitHubFunction=github \
	RecordDeploymentFunction=record-deployment PreflightFunction=preflight \
	ProvisionNetworkFunction=provision-network ProvisionDatabaseFunction=provision-database \
	ProvisionLoadBalancerFunction=provision-load-balancer ProvisionServiceFunction=provision-service \
	TeardownFunction=teardown SecretRotatedFunction=secret-rotated

release: tools
	@rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --workspace --no-default-features

$(foreach f,$(SAM_FUNCTIONS),$(eval build-$(word 1,$(subst =, ,$(f))): release ; \
	cp target/lambda/$(word 2,$(subst =, ,$(f)))/bootstrap "$$$$ARTIFACTS_DIR/bootstrap"))

# Release bootstraps (slow: minutes, kept out of make test): sizes and cold-start figures.
bench: tools
	$(PY) scripts/bench.py
	$(PY) scripts/bench_stack.py

clean: down
	rm -rf .local
