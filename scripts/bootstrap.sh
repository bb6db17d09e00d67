#!/usr/bin/env bash
# Install what the local stack and the tests need into .venv (idempotent):
# moto, boto3, pytest and cargo-lambda (which brings zig) from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements.txt
stamp=.venv/.installed
if [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
command -v python3 >/dev/null || { echo "stepdeploy: python3 is required" >&2; exit 1; }
command -v cargo >/dev/null || { echo "stepdeploy: a Rust toolchain (cargo) is required: https://rustup.rs" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
echo "stepdeploy: tools installed in .venv ($(.venv/bin/cargo-lambda lambda --version 2>/dev/null || echo cargo-lambda))"
