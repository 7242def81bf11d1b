#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the monitoring assets
# (promtool), and all tests, the end-to-end ones starting real coordinator,
# task-manager and outside-service processes (deploy/local/services.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# A persistent target directory keeps repeated runs incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtdw/target}"

# Every outside service is installed before any test runs (cached under
# $HOME/.cache/rtdw: only a cold machine pays), so no test waits on an
# install. The services tests can share run once for the whole run, in a
# state directory of this run, and stop however the run ends; the tests
# find them with `services.sh env` and start the others themselves; each
# test keeps to a bucket or topic of its own.
services=deploy/local/services.sh
bash "$services" install mariadb postgres kafka etcd s3 prometheus jaeger
# Paimon's own Python reader, the tests' independent check of lake tables.
bash deploy/local/pypaimon.sh >/dev/null
RTDW_SERVICES_DIR="$(mktemp -d -t rtdw-services.XXXXXX)"
export RTDW_SERVICES_DIR
trap 'bash "$services" down >/dev/null || true; rm -rf "$RTDW_SERVICES_DIR"' EXIT
bash "$services" up s3 jaeger kafka mariadb postgres

cargo fmt --all --check
bash deploy/monitoring/check.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast
