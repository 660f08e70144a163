#!/usr/bin/env bash
# The benchmark suite in its reduced form: every section must run end to end
# and produce numbers (the driver exits non-zero when one does not). No timing
# is asserted here; figures and targets belong to the full run
# (scripts/bench.sh, docs/benchmarks.md).
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
if [ "${SKIP_PRIVILEGED:-0}" = 1 ]; then
  log "bench smoke skipped (SKIP_PRIVILEGED=1)"
  exit 0
fi
exec "$REPO_ROOT/scripts/bench.sh" --smoke --json "$CARGO_TARGET_DIR/bench/smoke.json"
