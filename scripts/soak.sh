#!/usr/bin/env bash
# A bounded soak of wirtd (issue 15): clients, events, SIGKILLs, then the
# invariants. Usage: scripts/soak.sh [MINUTES] [CLIENTS]. Needs /dev/kvm and
# python3-libvirt (scripts/setup.sh installs the latter).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_INCREMENTAL=0 cargo build -q -p wirt-cli --bin wirtd
CARGO_INCREMENTAL=0 cargo build -q -p wirt-cli --bin wirt
CARGO_INCREMENTAL=0 cargo build -q -p wirt-kvm --bin wirt-vmm
# The misbehaving driver whose crashes the soak injects (plugins/fixtures).
(cd plugins/fixtures && cargo build -q --release --locked --target wasm32-wasip2 \
  --target-dir ../../target/wasm-fixtures)
fixture=target/wasm-fixtures/wasm32-wasip2/release/wirt_fixture_driver.wasm
# Debian's python3-libvirt is for the system interpreter.
exec /usr/bin/python3 benches/soak.py --wirtd target/debug/wirtd --vmm target/debug/wirt-vmm \
  --minutes "${1:-5}" --clients "${2:-50}" --kill-every 60 \
  --fixture "$fixture" --wirt target/debug/wirt --crash-every 5
