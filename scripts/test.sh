#!/usr/bin/env bash
# Runs every test of the project, after installing what they need.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace
# The storage-dir plugin is a workspace of its own (a wasm32 guest); its
# filesystem logic also builds natively, with tests of its own.
cargo test --manifest-path plugins/storage-dir/Cargo.toml
# README's first command, exactly as written there, must keep working.
readme_run=$(grep -m1 '^cargo run -q -p wirt-cli -- ' README.md)
echo "README: $readme_run"
bash -c "$readme_run" > /dev/null
