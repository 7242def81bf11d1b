#!/usr/bin/env bash
# Checks the monitoring assets: the Prometheus configuration, the alerting
# rules and their unit tests (every alert fires and clears), and that the
# Grafana dashboard is valid JSON whose panels all query rtdw metrics.
set -euo pipefail
cd "$(dirname "$0")"

promtool check config prometheus.yml
promtool check rules alerting-rules.yml
promtool test rules alerting-rules.test.yml
python3 - <<'PY'
import json
dashboard = json.load(open("grafana-dashboard.json"))
panels = dashboard["panels"]
assert panels, "the dashboard has no panels"
for panel in panels:
    exprs = [t["expr"] for t in panel["targets"]]
    assert exprs and all("rtdw_" in e for e in exprs), f"panel {panel['title']!r} queries no rtdw metric"
print(f"grafana-dashboard.json: {len(panels)} panels")
PY
