#!/usr/bin/env bash
# Runs the same generated session through `virsh -c test:///default` and
# `wirt -c test:///default`, in one run, and prints both times and the ratio:
#   - 12,000 commands in one process (2,000 x define, start, suspend, resume,
#     destroy, undefine), fed on stdin;
#   - `list --all` as a whole cold process, best of 20.
# Needs Debian's virsh (libvirt-clients); builds wirt in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v virsh >/dev/null || { echo "virsh is not installed (apt-get install libvirt-clients)"; exit 1; }
cargo build -q --release -p wirt-cli
WIRT=${CARGO_TARGET_DIR:-$PWD/target}/release/wirt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=${ROUNDS:-2000}
for i in $(seq 1 "$n"); do
  cat > "$work/d$i.xml" <<XML
<domain type='test'><name>bench$i</name><memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
XML
  printf 'define %s\nstart bench%s\nsuspend bench%s\nresume bench%s\ndestroy bench%s\nundefine bench%s\n' \
    "$work/d$i.xml" "$i" "$i" "$i" "$i" "$i" >> "$work/script"
done
cmds=$((n * 6))

time_of() { # prints seconds taken by "$@" < script
  local start end
  start=$(date +%s.%N)
  "$@" < "$work/script" > "$work/out" 2> "$work/err" || true
  end=$(date +%s.%N)
  if [ -s "$work/err" ]; then echo "errors from $1:" >&2; head -3 "$work/err" >&2; fi
  echo "$end - $start" | bc -l
}

# Warm the plugin's compiled-code cache once; a cold Cranelift compile is
# start-up cost of the first process only.
"$WIRT" -c test:///default uri > /dev/null

virsh_s=$(time_of virsh -q -c test:///default)
wirt_s=$(time_of "$WIRT" -q -c test:///default)
printf '%-34s %10s %10s %8s\n' "" virsh wirt ratio
printf '%-34s %9.3fs %9.3fs %7.2fx\n' "$cmds commands, one process" "$virsh_s" "$wirt_s" "$(echo "$virsh_s / $wirt_s" | bc -l)"
printf '%-34s %9.0f %10.0f\n' "  commands/s" "$(echo "$cmds / $virsh_s" | bc -l)" "$(echo "$cmds / $wirt_s" | bc -l)"

best() { # best wall time of 20 cold runs of "$@"
  local best=999 s e t
  for _ in $(seq 20); do
    s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}
virsh_l=$(best virsh -c test:///default list --all)
wirt_l=$(best "$WIRT" -c test:///default list --all)
printf '%-34s %8.1fms %8.1fms %7.2fx\n' "list --all, cold process (best)" "$(echo "$virsh_l * 1000" | bc -l)" "$(echo "$wirt_l * 1000" | bc -l)" "$(echo "$virsh_l / $wirt_l" | bc -l)"
