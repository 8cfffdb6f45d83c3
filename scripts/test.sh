#!/usr/bin/env bash
# Runs every test of the project, after installing what they need.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace
