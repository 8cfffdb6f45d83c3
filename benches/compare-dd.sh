#!/usr/bin/env bash
# Storage-dir throughput, side by side in one run on the same disk:
#   - upload and download of a 1 GiB volume through the storage-dir plugin
#     (wirt vol-upload / vol-download) against dd writing and reading the
#     same amount, with the ratio;
#   - wipe and clone of a sparse 10 GiB volume (holes must not be written).
# Builds wirt in release mode; runs on kvm:///session with private dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p wirt-cli
WIRT=${CARGO_TARGET_DIR:-$PWD/target}/release/wirt
work=$(mktemp -d "${TMPDIR:-/var/tmp}/wirt-dd.XXXXXX")
trap 'rm -rf "$work"' EXIT
export WIRT_STATE_DIR=$work/state WIRT_RUNTIME_DIR=$work/run
size_mib=${SIZE_MIB:-1024}
w() { "$WIRT" -q -c kvm:///session "$@"; }
secs() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc -l; }

w "pool-define-as bench dir --target $work/pool; pool-build bench; pool-start bench"
w "vol-create-as bench vol.raw ${size_mib}M --allocation 0"
head -c $((size_mib << 20)) /dev/urandom > "$work/source.bin"
sync

# Both sides copy file to file through the page cache: dd from the source
# into a file in the pool's directory, wirt into the volume; then back out.
# Whichever writes second after a sync runs slower on this VM's disk (2-3x,
# whoever it is), so each round alternates the order, every transfer starts
# after a sync, and the medians of ROUNDS rounds (default 3) are compared.
rounds=${ROUNDS:-3}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
dd_w=(); up_w=(); dd_r=(); down_r=()
for round in $(seq "$rounds"); do
  rm -f "$work/pool/dd.bin" "$work/dd-back.bin" "$work/back.bin"
  write_dd() { sync; dd_w+=("$(secs dd if="$work/source.bin" of="$work/pool/dd.bin" bs=1M status=none)"); }
  write_wirt() { sync; up_w+=("$(secs w "vol-upload vol.raw $work/source.bin --pool bench")"); }
  read_dd() { sync; dd_r+=("$(secs dd if="$work/pool/dd.bin" of="$work/dd-back.bin" bs=1M status=none)"); }
  read_wirt() { sync; down_r+=("$(secs w "vol-download vol.raw $work/back.bin --pool bench")"); }
  if [ $((round % 2)) -eq 1 ]; then
    write_dd; write_wirt; read_dd; read_wirt
  else
    write_wirt; write_dd; read_wirt; read_dd
  fi
done
dd_write=$(printf '%s\n' "${dd_w[@]}" | median)
up=$(printf '%s\n' "${up_w[@]}" | median)
dd_read=$(printf '%s\n' "${dd_r[@]}" | median)
down=$(printf '%s\n' "${down_r[@]}" | median)
cmp "$work/source.bin" "$work/back.bin"

mibs() { echo "$size_mib / $1" | bc -l; }
printf '%-28s %10s %10s %8s\n' "" dd wirt "dd/wirt"
printf '%-28s %7.0f MiB/s %7.0f MiB/s %7.2fx\n' "write ${size_mib} MiB (upload)" "$(mibs "$dd_write")" "$(mibs "$up")" "$(echo "$up / $dd_write" | bc -l)"
printf '%-28s %7.0f MiB/s %7.0f MiB/s %7.2fx\n' "read ${size_mib} MiB (download)" "$(mibs "$dd_read")" "$(mibs "$down")" "$(echo "$down / $dd_read" | bc -l)"

w "vol-create-as bench sparse.raw 10G --allocation 0"
dd if=/dev/urandom of="$work/pool/sparse.raw" bs=1M count=4 seek=5000 conv=notrunc status=none
wipe=$(secs w "pool-refresh bench; vol-wipe sparse.raw --pool bench")
clone=$(secs w "vol-clone sparse.raw sparse2.raw --pool bench")
printf '%-28s %9.1f ms (allocated after: %s KiB)\n' "wipe sparse 10 GiB" "$(echo "$wipe * 1000" | bc -l)" "$(du -k "$work/pool/sparse.raw" | cut -f1)"
printf '%-28s %9.1f ms (allocated after: %s KiB)\n' "clone sparse 10 GiB" "$(echo "$clone * 1000" | bc -l)" "$(du -k "$work/pool/sparse2.raw" | cut -f1)"
