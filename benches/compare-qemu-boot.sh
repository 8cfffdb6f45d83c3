#!/usr/bin/env bash
# Test guest boot, wirt against QEMU, side by side in one run: the built-in
# test guest under wirt-vmm (driven over its control protocol) and the same
# ELF under `qemu-system-x86_64 -enable-kvm -M microvm -kernel` (PVH entry),
# 64 MiB, 1 vCPU, no disk, alternating for ROUNDS rounds (default 10).
# Prints per-round times, the medians of spawn -> `guest: ready`,
# spawn -> powered off (`q` typed right after ready) and spawn -> process
# exit, and the ratio wirt/QEMU. The measuring program is
# plugins/kvm/examples/compare_qemu_boot.rs; extra arguments after `--` go
# to QEMU (e.g. `-- -cpu host`). `--kernel A.elf --kernel B.elf` measures
# those images instead of the built-in one, in the same alternating run
# (e.g. a test guest build before and after a change), with the median vCPU
# CPU time at `guest: ready` for each.
# Skips (exit 0) when /dev/kvm is missing; installs QEMU (scripts/setup.sh
# --benches) when it can.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "skipping: /dev/kvm is not available on this machine"
    exit 0
fi
[ -n "${QEMU:-}" ] || scripts/setup.sh --benches
if ! command -v "${QEMU:-qemu-system-x86_64}" > /dev/null; then
    echo "${QEMU:-qemu-system-x86_64} is not installed (scripts/setup.sh --benches installs qemu-system-x86)" >&2
    exit 1
fi
cargo build -q --release -p wirt-kvm --bin wirt-vmm --example compare_qemu_boot
target=${CARGO_TARGET_DIR:-$PWD/target}/release
exec "$target/examples/compare_qemu_boot" --rounds "${ROUNDS:-10}" \
    --vmm "$target/wirt-vmm" --qemu "${QEMU:-qemu-system-x86_64}" "$@"
