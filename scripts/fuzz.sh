#!/usr/bin/env bash
# Runs every fuzz target for a while (default 300 s each; CI runs each for
# 2 s as part of the ordinary tests). Usage: scripts/fuzz.sh [SECONDS]
#
# Targets (each a test that calls wirt_testkit::fuzz::run):
#   xml-{domain,network,pool,volume,snapshot}  host/core/tests/all/fuzz.rs
#   vmm-control                                 plugins/kvm/tests/all/fuzz.rs
#   virtio-blk, virtio-net                      plugins/kvm/tests/all/fuzz_virtio.rs
#   qcow2                                       plugins/kvm/tests/all/fuzz_qcow2.rs
#   wirtd-dispatch                              host/cli/tests/all/fuzz.rs
# A failure prints the shrunk input and WIRT_FUZZ_SEED to replay it.
# Inputs that crash imago (reported, not failed) are saved in
# WIRT_FUZZ_FINDINGS when it names a directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export WIRT_FUZZ_SECS="${1:-300}"
export CARGO_INCREMENTAL=0
run() {
  local package=$1 test=$2
  echo "== $package $test (${WIRT_FUZZ_SECS} s per target)"
  cargo test -q -p "$package" --test all -- --exact "$test" --nocapture 2>&1 |
    grep -E '^fuzz |^imago |panicked|failed|minimal failing input|test result'
}
run wirt fuzz::fuzz_xml_parsers
run wirt-kvm fuzz::fuzz_vmm_control_protocol
run wirt-kvm fuzz_virtio::fuzz_virtio_blk_chains
run wirt-kvm fuzz_virtio::fuzz_virtio_net_chains
run wirt-kvm fuzz_qcow2::fuzz_qcow2_reader
run wirt-cli fuzz::fuzz_wirtd_dispatcher
