#!/usr/bin/env bash
# Benchmark suite (issue 8): syscall overhead, sensor CPU, engine throughput,
# drops, latency, memory and start, console, sinks (Alertmanager, syslog).
# Prints a table; the full run also
# writes docs/benchmarks.md. Needs root (eBPF).
#
#   scripts/bench.sh                  full run, release build, writes docs/benchmarks.md
#   scripts/bench.sh --smoke          every section with tiny sizes (< 2 min), writes nothing
#   scripts/bench.sh --reps 3 --sections overhead,drops --perf
#   scripts/bench.sh --profile dev    use the debug build (numbers not comparable)
#
# Other options (--openclose N, --forkexec N, --connect N, --latency-n N,
# --sleepers N, --drop-secs S, --upstream-rules DIR, --output FILE, --json FILE)
# are passed to scripts/bench/driver.py; see its --help.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$REPO_ROOT"

profile=release
smoke=0
output=docs/benchmarks.md
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; profile=dev; output=""; pass+=(--smoke) ;;
    --profile) profile="$2"; shift ;;
    --output) output="$2"; shift ;;
    *) pass+=("$1") ;;
  esac
  shift
done

[ "$(id -u)" -eq 0 ] || die "bench.sh needs root: the sensor loads eBPF programs"
require_rust
command -v gcc >/dev/null || die "gcc not found: apt-get install gcc"
command -v python3 >/dev/null || die "python3 not found: apt-get install python3"

profile_flag=(--profile "$profile")
[ "$profile" = dev ] && bindir="$CARGO_TARGET_DIR/debug" || bindir="$CARGO_TARGET_DIR/$profile"

log "building falco-sensor, the latency subscriber and the console bench ($profile)"
# One cargo invocation for both packages: built separately, shared
# dependencies resolve to different feature sets and compile twice.
cargo build --locked "${profile_flag[@]}" -p falco-sensor -p falco-console \
  --bin falco-sensor --example bench_latency --example bench_rules --example bench_console
console_bin="$bindir/examples/bench_console"

wl="$CARGO_TARGET_DIR/bench/workloads"
mkdir -p "$wl"
log "compiling workloads into $wl"
for src in scripts/bench/workloads/*.c; do
  gcc -O2 -Wall -Wextra -Werror -o "$wl/$(basename "$src" .c)" "$src"
done

args=(--repo "$REPO_ROOT" --sensor-bin "$bindir/falco-sensor"
      --latency-bin "$bindir/examples/bench_latency" --rules-bin "$bindir/examples/bench_rules"
      --workloads "$wl" --workdir "$CARGO_TARGET_DIR/bench/work" --profile "$profile")
[ -n "$console_bin" ] && args+=(--console-bin "$console_bin")
[ -n "$output" ] && args+=(--output "$output")
exec python3 scripts/bench/driver.py "${args[@]}" "${pass[@]}"
