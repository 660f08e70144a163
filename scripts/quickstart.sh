#!/usr/bin/env bash
# Builds both programs, starts a local sensor (as root: it loads eBPF probes)
# on 127.0.0.1:5060 with the default rules, and opens the console on it.
# Quitting the console stops the sensor.
#
#   scripts/quickstart.sh [extra falco-sensor run args...]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$REPO_ROOT"

require_rust
install_packages "${BUILD_PACKAGES[@]}"

log "building falco-sensor and falco-console (release)"
cargo build --release --locked -p falco-sensor -p falco-console
BIN="$CARGO_TARGET_DIR/release"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "the sensor loads eBPF programs: run this as root"
  SUDO=(sudo)
fi

STATE_DIR="$(mktemp -d -t falco-quickstart.XXXXXX)"
SENSOR_LOG="$STATE_DIR/sensor.log"
log "starting falco-sensor (log: $SENSOR_LOG)"
"${SUDO[@]}" "$BIN/falco-sensor" run -o grpc.listen=127.0.0.1:5060 "$@" >"$SENSOR_LOG" 2>&1 &
SENSOR_PID=$!
cleanup() {
  "${SUDO[@]}" kill "$SENSOR_PID" 2>/dev/null || true
  wait "$SENSOR_PID" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  if ! kill -0 "$SENSOR_PID" 2>/dev/null; then
    cat "$SENSOR_LOG" >&2
    die "falco-sensor exited during start-up (log above)"
  fi
  if "$BIN/falco-console" stats --sensor 127.0.0.1:5060 >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done

log "sensor is up; opening the console (q quits). Try: sudo cat /etc/shadow"
"$BIN/falco-console" --sensor 127.0.0.1:5060
