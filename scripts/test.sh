#!/usr/bin/env bash
# Runs every test of the project, after installing what they need.
#
# Tests that cannot run here say so through wirt-testkit: each skip is one
# line "<reason>\t<test>" in $WIRT_SKIP_LOG, summarised at the end with a
# count per reason. setup.sh has installed every tool the tests use, so
# WIRT_TEST_STRICT=1 makes a test missing one of them fail; what no setup
# provides (/dev/kvm) stays a skip, counted in the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

skip_log=$(mktemp "${TMPDIR:-/tmp}/wirt-skips.XXXXXX")
export WIRT_SKIP_LOG="$skip_log"
export WIRT_TEST_STRICT="${WIRT_TEST_STRICT:-1}"
summary() {
  local status=$?
  echo
  if [ -s "$skip_log" ]; then
    echo "skipped (tests per reason):"
    # One count per test, even if it skipped several checks for one reason.
    sort -u "$skip_log" | cut -f1 | sort | uniq -c | sort -rn
  else
    echo "skipped: nothing"
  fi
  rm -f "$skip_log"
  exit "$status"
}
trap summary EXIT

cargo test --workspace
# The criterion benches are not run here, but they must keep compiling
# (dev profile: no release build of wasmtime).
cargo test --workspace --benches --no-run
# The storage-dir plugin is a workspace of its own (a wasm32 guest); its
# filesystem logic also builds natively, with tests of its own.
cargo test --manifest-path plugins/storage-dir/Cargo.toml
# So is the bridge network driver; its logic is tested natively too.
cargo test --manifest-path plugins/network-bridge/Cargo.toml
# ...and its sandbox inside WASI (plugins/storage-dir/README.md, "Tests"):
# the crate's tests built for wasm32-wasip2 and the plugin component, run by
# sandbox/, a small wasmtime runner with the host's grants.
(
  cd plugins/storage-dir
  tests_wasm=$(cargo test --target wasm32-wasip2 --no-run --message-format=json \
    | grep -o '"executable":"[^"]*\.wasm"' | cut -d'"' -f4)
  [ -n "$tests_wasm" ] || { echo "test.sh: no wasm32 test binary for storage-dir" >&2; exit 1; }
  cargo build --release --locked --target wasm32-wasip2
  plugin_wasm=${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/wirt_storage_dir.wasm
  # The runner in the dev profile: its Cargo.toml optimises cranelift even there.
  cargo build --locked --manifest-path sandbox/Cargo.toml
  "${CARGO_TARGET_DIR:-sandbox/target}"/debug/wirt-storage-dir-sandbox "$plugin_wasm" "$tests_wasm"
)
# README's first command, exactly as written there, must keep working.
readme_run=$(grep -m1 '^cargo run -q -p wirt-cli -- ' README.md)
echo "README: $readme_run"
bash -c "$readme_run" > /dev/null
