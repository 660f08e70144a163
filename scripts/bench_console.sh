#!/usr/bin/env bash
# Console responsiveness: worst key-to-frame time with 100,000 alerts loaded
# (issue 6 asks for < 50 ms). A benchmark, not a test: it prints numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked -p falco-console --example bench_ui
