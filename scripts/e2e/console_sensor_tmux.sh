#!/usr/bin/env bash
# End to end in a real terminal: a real falco-sensor (eBPF, root) and
# falco-console in tmux. Triggers an alert, then drives the console by keys
# and reads the screen with capture-pane: the alert appears, the filter,
# detail and rules views work, triage survives a console restart, and the
# tuning loop works against the real sensor: noise -> :noise -> x (draft an
# exception) -> A (apply) -> the same action no longer alerts.
#
# Needs root and tmux; fails loudly otherwise unless SKIP_PRIVILEGED=1.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
cd "$REPO_ROOT"

if [ "$(id -u)" -ne 0 ] || ! command -v tmux >/dev/null; then
  if [ "${SKIP_PRIVILEGED:-0}" = 1 ]; then
    echo "skipping console_sensor_tmux: needs root and tmux (SKIP_PRIVILEGED=1)"
    exit 0
  fi
  die "console_sensor_tmux needs root and tmux"
fi

BIN="$CARGO_TARGET_DIR/debug"
[ -x "$BIN/falco-sensor" ] && [ -x "$BIN/falco-console" ] \
  || die "build the binaries first: cargo build --workspace --bins"

WORK="$(mktemp -d -t falco-console-e2e.XXXXXX)"
SESSION="falco-e2e-$$"
GRPC_PORT=$((20000 + RANDOM % 20000))
METRICS_PORT=$((GRPC_PORT + 1))
TOKEN="e2e-$$-$RANDOM"
SENSOR_PID=""
cleanup() {
  tmux kill-session -t "$SESSION" 2>/dev/null || true
  [ -n "$SENSOR_PID" ] && kill "$SENSOR_PID" 2>/dev/null && wait "$SENSOR_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "---- screen ----" >&2
  tmux capture-pane -p -t "$SESSION" >&2 || true
  echo "---- sensor log (tail) ----" >&2
  tail -20 "$WORK/sensor.log" >&2 || true
  die "$*"
}

# wait_screen TEXT [SECONDS]: until the pane shows TEXT.
wait_screen() {
  local text="$1" secs="${2:-20}" i
  for ((i = 0; i < secs * 5; i++)); do
    if tmux capture-pane -p -t "$SESSION" | grep -qF -- "$text"; then
      return 0
    fi
    sleep 0.2
  done
  fail "the console never showed: $text"
}

keys() { tmux send-keys -t "$SESSION" "$@"; sleep 0.3; }

"$BIN/falco-sensor" run \
  -o "grpc.listen=127.0.0.1:$GRPC_PORT" \
  -o "metrics.listen=127.0.0.1:$METRICS_PORT" \
  -o "rules.writable_dir=$WORK/rules.d" \
  -o grpc.allow_actions=true \
  -o "grpc.token=$TOKEN" \
  -o outputs.stdout.enabled=false >"$WORK/sensor.log" 2>&1 &
SENSOR_PID=$!
for _ in $(seq 1 300); do
  "$BIN/falco-console" stats --sensor "127.0.0.1:$GRPC_PORT" --token "$TOKEN" >/dev/null 2>&1 && break
  kill -0 "$SENSOR_PID" 2>/dev/null || { cat "$WORK/sensor.log" >&2; die "sensor exited"; }
  sleep 0.2
done

CONSOLE=("$BIN/falco-console" --store "$WORK/console.db" --sensor "127.0.0.1:$GRPC_PORT" --token "$TOKEN")
tmux new-session -d -s "$SESSION" -x 120 -y 32 "${CONSOLE[*]}"
wait_screen "alerts"

# A detection: an untrusted program reads /etc/shadow.
marker="rd$$"
cp /bin/cat "$WORK/$marker"
"$WORK/$marker" /etc/shadow >/dev/null
wait_screen "Read sensitive file untrusted"

# Free-text filter narrows the list to our alert.
keys "/"
keys -l "$marker"
keys Enter
wait_screen "$marker"

# Detail view shows the file and the process.
keys Enter
wait_screen "/etc/shadow"
keys Escape

# Rules view lists the rule with a count.
keys ":"
keys -l "rules"
keys Enter
wait_screen "Read sensitive file untrusted"
keys ":"
keys -l "alerts"
keys Enter

# Acknowledge it, quit, start again: the triage state is still there.
keys "c"
keys "/"
keys -l "$marker"
keys Enter
wait_screen "$marker"
keys "a"
wait_screen "ack"
keys "q"
sleep 1
tmux kill-session -t "$SESSION" 2>/dev/null || true
tmux new-session -d -s "$SESSION" -x 120 -y 32 "${CONSOLE[*]}"
keys "/"
keys -l "$marker"
keys Enter
wait_screen "$marker"
tmux capture-pane -p -t "$SESSION" | grep -F -- "$marker" | grep -qF "ack" \
  || fail "triage state lost across restart"

# Tuning against the real sensor: make the marker program the loudest
# source, rank it in :noise, draft an exception for its row and apply it.
matches() {
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" \
    | awk '/^falco_sensor_rule_matches_total\{rule="Read sensitive file untrusted"/ {n += $NF} END {print n + 0}'
}
keys Escape
for _ in $(seq 1 25); do "$WORK/$marker" /etc/shadow >/dev/null; done
wait_screen "$marker"
keys ":"
keys -l "noise"
keys Enter
wait_screen "<noise>"
tmux capture-pane -p -t "$SESSION" | grep -F "Read sensitive file untrusted" | grep -qF "$marker" \
  || fail "the marker's group is not ranked in :noise"
# The loudest group is the first row, where the cursor starts.
keys "x"
wait_screen "proc.name = $marker"
keys "A"
wait_screen "rules reloaded"
before=$(matches)
for _ in $(seq 1 5); do "$WORK/$marker" /etc/shadow >/dev/null; done
sleep 2
after=$(matches)
[ "$before" = "$after" ] \
  || fail "the applied exception did not silence the marker ($before -> $after matches)"
keys "q"
echo "console_sensor_tmux: ok"
