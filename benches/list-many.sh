#!/usr/bin/env bash
# A cold `wirt -c kvm:///session list` on a host running many guests: each
# `wirt` is a new process that reads the state dir and the state every VMM
# publishes, and connects to none of them.
#
#   benches/list-many.sh [--guests N] [--rounds R]
#
# Starts N guests (the built-in test guest, 16 MiB each; default 1000) in a
# state dir of its own, times R listings (default 15) with none running and
# with all running, prints the medians, and stops every guest it started.
# Needs /dev/kvm.
set -euo pipefail

guests=1000
rounds=15
while [ $# -gt 0 ]; do
    case "$1" in
        --guests) guests=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        *) echo "usage: $0 [--guests N] [--rounds R]" >&2; exit 2 ;;
    esac
done
[ -c /dev/kvm ] || { echo "list-many: needs /dev/kvm" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p wirt-cli --bin wirt
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p wirt-kvm --bin wirt-vmm
wirt=$root/target/release/wirt
dir=$(mktemp -d /tmp/wirt-list-many.XXXXXX)
export WIRT_STATE_DIR=$dir/state WIRT_RUNTIME_DIR=$dir/run WIRT_VMM=$root/target/release/wirt-vmm

cleanup() {
    # Every VMM of this run names the run's directory on its command line.
    pkill -9 -f "wirt-vmm.*$dir" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

# Median of R cold listings, in milliseconds.
time_list() {
    local samples=()
    for _ in $(seq "$rounds"); do
        local t0 t1
        t0=$(date +%s%N)
        "$wirt" -c kvm:///session list >/dev/null
        t1=$(date +%s%N)
        samples+=($(( (t1 - t0) / 1000 )))
    done
    printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

"$wirt" -c kvm:///session list >/dev/null
none=$(time_list)

mkdir -p "$dir/xml"
script=""
for i in $(seq "$guests"); do
    cat >"$dir/xml/g$i.xml" <<EOF
<domain type='kvm'><name>g$i</name><memory unit='MiB'>16</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
EOF
    script+="define $dir/xml/g$i.xml; "
done
"$wirt" -c kvm:///session "$script" >/dev/null
started=$(date +%s)
for first in $(seq 1 100 "$guests"); do
    script=""
    for i in $(seq "$first" $((first + 99 > guests ? guests : first + 99))); do
        script+="start g$i; "
    done
    "$wirt" -c kvm:///session "$script" >/dev/null
done
echo "list-many: started $guests guests in $(( $(date +%s) - started )) s" >&2

running=$("$wirt" -c kvm:///session list --state-running --name | grep -c . || true)
[ "$running" -eq "$guests" ] || { echo "list-many: $running of $guests guests running" >&2; exit 1; }
many=$(time_list)
echo "cold 'wirt list', median of $rounds: no guests ${none} ms, $guests running guests ${many} ms"
