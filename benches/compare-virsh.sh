#!/usr/bin/env bash
# Runs the same generated session through `virsh -c test:///default` and
# `wirt -c test:///default`, in one run, and prints both times and the ratio:
#   - 12,000 commands in one process (2,000 x define, start, suspend, resume,
#     destroy, undefine), fed on stdin;
#   - `list --all` as a whole cold process, best of 20.
# Needs Debian's virsh (libvirt-clients); builds wirt in release mode.
# With WIRT_BEFORE=/path/to/an/older/wirt, times that build in the same run
# too and prints how this one compares (a change's before and after).
# Fails unless both completed the session: the timed runs must exit 0 with
# nothing on stderr, and an untimed run of each (without -q) must print one
# "Domain 'benchN' ..." message per command, the same ones for both.
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
  local start end status=0
  start=$(date +%s.%N)
  "$@" < "$work/script" > "$work/out" 2> "$work/err" || status=$?
  end=$(date +%s.%N)
  if [ "$status" -ne 0 ] || [ -s "$work/err" ]; then
    echo "compare-virsh: $1 did not complete the session (exit status $status):" >&2
    head -3 "$work/err" >&2
    exit 1
  fi
  echo "$end - $start" | bc -l
}

completed() { # the per-command messages of an untimed run of "$@" < script
  "$@" < "$work/script" 2> "$work/check-err" | grep -E "^Domain 'bench[0-9]+' " || true
}

# Warm the plugin's compiled-code cache once; a cold Cranelift compile is
# start-up cost of the first process only.
"$WIRT" -c test:///default uri > /dev/null

virsh_s=$(time_of virsh -q -c test:///default)
wirt_s=$(time_of "$WIRT" -q -c test:///default)
if [ -n "${WIRT_BEFORE:-}" ]; then
  "$WIRT_BEFORE" -c test:///default uri > /dev/null
  # Best of two each, in the order new, old, old, new: neither side has
  # only the first or the last turn.
  min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
  before_s=$(time_of "$WIRT_BEFORE" -q -c test:///default)
  before_s=$(min "$before_s" "$(time_of "$WIRT_BEFORE" -q -c test:///default)")
  wirt_s=$(min "$wirt_s" "$(time_of "$WIRT" -q -c test:///default)")
  completed "$WIRT_BEFORE" -c test:///default > "$work/before.done"
  if ! cmp -s "$work/before.done" <(completed "$WIRT" -c test:///default); then
    echo "compare-virsh: the older wirt did not complete the session alike" >&2
    exit 1
  fi
fi
# Both did the whole session: one message per command, the same ones.
completed virsh -c test:///default > "$work/virsh.done"
completed "$WIRT" -c test:///default > "$work/wirt.done"
done_v=$(wc -l < "$work/virsh.done")
done_w=$(wc -l < "$work/wirt.done")
if [ "$done_v" -ne "$cmds" ] || [ "$done_w" -ne "$cmds" ] \
  || ! cmp -s "$work/virsh.done" "$work/wirt.done"; then
  echo "compare-virsh: the session did not complete alike: $cmds commands," \
    "virsh reported $done_v, wirt $done_w" >&2
  diff "$work/virsh.done" "$work/wirt.done" | head -5 >&2 || true
  exit 1
fi
echo "both completed all $cmds commands with the same messages"
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
if [ -n "${WIRT_BEFORE:-}" ]; then
  before_l=$(best "$WIRT_BEFORE" -c test:///default list --all)
  printf '\n%-34s %10s %10s %8s\n' "this build against WIRT_BEFORE" before after "after/before"
  printf '%-34s %9.3fs %9.3fs %7.2fx\n' "$cmds commands, one process" "$before_s" "$wirt_s" "$(echo "$wirt_s / $before_s" | bc -l)"
  printf '%-34s %8.1fms %8.1fms %7.2fx\n' "list --all, cold process (best)" "$(echo "$before_l * 1000" | bc -l)" "$(echo "$wirt_l * 1000" | bc -l)" "$(echo "$wirt_l / $before_l" | bc -l)"
fi
