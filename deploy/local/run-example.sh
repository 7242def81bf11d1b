#!/usr/bin/env bash
# Builds rtdw, starts a coordinator and two task managers as separate
# processes, runs jobs/example.sql on them, and prints the job's placement
# and its result. Stops the processes on exit; logs stay in $RTDW_WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --bin rtdw
RTDW="${CARGO_TARGET_DIR:-target}/release/rtdw"

GRPC_ADDR="${RTDW_GRPC_ADDR:-127.0.0.1:6123}"
HTTP_ADDR="${RTDW_HTTP_ADDR:-127.0.0.1:8081}"
export RTDW_COORDINATOR="http://$GRPC_ADDR"
RTDW_WORK="${RTDW_WORK:-$(mktemp -d /tmp/rtdw-run.XXXXXX)}"
OUTPUT=/tmp/rtdw-example/customer_totals

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

"$RTDW" coordinator --grpc-addr "$GRPC_ADDR" --http-addr "$HTTP_ADDR" --data-dir "$RTDW_WORK/data" >"$RTDW_WORK/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://$HTTP_ADDR/healthz" >/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$RTDW_WORK/coordinator.log"; exit 1; }
  sleep 0.1
done
for n in 1 2; do
  "$RTDW" taskmanager --coordinator "$RTDW_COORDINATOR" --slots 2 >"$RTDW_WORK/taskmanager-$n.out" 2>"$RTDW_WORK/taskmanager-$n.log" &
  pids+=($!)
done
for _ in $(seq 100); do
  [ "$("$RTDW" cluster list --json | grep -c '"ALIVE"')" -eq 2 ] && break
  sleep 0.1
done
"$RTDW" cluster list

rm -rf "$OUTPUT"
job_id=$("$RTDW" job submit jobs/example.sql --wait)
echo
"$RTDW" job status "$job_id"
echo
echo "Result (the sink's changelog in $OUTPUT, folded into the final table):"
python3 deploy/local/fold_debezium.py "$OUTPUT" customer_id
echo
echo "Logs: $RTDW_WORK"
