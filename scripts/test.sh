#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, and the
# end-to-end scripts. Installs what it needs on Debian/Ubuntu when run as root.
#
#   scripts/test.sh            everything
#   SKIP_PRIVILEGED=1 ...      skip tests that need root/eBPF/containerd
#                              (CI never sets this)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$REPO_ROOT"

require_rust
install_packages "${BUILD_PACKAGES[@]}"
if [ "${SKIP_PRIVILEGED:-0}" != 1 ]; then
  install_packages "${TEST_PACKAGES[@]}"
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# `cargo test` also builds the binaries (target/debug/falco-sensor and
# falco-console) that the e2e scripts below run, with the same features, so
# nothing is compiled twice.
log "cargo test"
cargo test --workspace --locked --no-fail-fast

for e2e in scripts/e2e/*.sh; do
  [ -e "$e2e" ] || continue
  log "e2e: $e2e"
  bash "$e2e"
done
log "all tests passed"
