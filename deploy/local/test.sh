#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the monitoring assets
# (promtool), and all tests, the end-to-end ones starting real coordinator,
# task-manager and Prometheus processes.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# A persistent target directory keeps repeated runs incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtdw/target}"

cargo fmt --all --check
bash deploy/monitoring/check.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast
