#!/usr/bin/env bash
# Live migration, wirt against QEMU, side by side in one run: the built-in
# test guest migrated between two wirt-vmm processes (over loopback TCP)
# and the same ELF between two `qemu-system-x86_64 -enable-kvm -M microvm`
# (`-incoming tcp:` and QMP `migrate`), for 64 and 512 MiB guests, idle and
# dirtying 4 MiB at 10 and 50 pages per ms, ROUNDS rounds each (default 3).
# Prints the medians of downtime (as each side reports it) and total time,
# and the ratios wirt/QEMU. The measuring program is
# plugins/kvm/examples/compare_qemu_migrate.rs; arguments go to it
# (`--memory-mib M`, `--rate R`, repeatable).
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
cargo build -q --release -p wirt-kvm --bin wirt-vmm --example compare_qemu_migrate
target=${CARGO_TARGET_DIR:-$PWD/target}/release
exec "$target/examples/compare_qemu_migrate" --rounds "${ROUNDS:-3}" \
    --vmm "$target/wirt-vmm" --qemu "${QEMU:-qemu-system-x86_64}" "$@"
