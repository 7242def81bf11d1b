#!/usr/bin/env bash
# Installs pypaimon, Apache Paimon's own Python reader and writer, into a
# virtual environment cached under $RTDW_CACHE (default $HOME/.cache/rtdw),
# and prints the environment's python. The tests read what rtdw wrote
# with it, and write tables for rtdw to read. Idempotent; concurrent
# callers install once.
set -euo pipefail

readonly PYPAIMON_VERSION=2.1.0
# pypaimon needs pyarrow below 20 (and not 19.0.0).
readonly PYARROW_VERSION=18.1.0

CACHE="${RTDW_CACHE:-$HOME/.cache/rtdw}"
VENV="$CACHE/pypaimon/$PYPAIMON_VERSION"
mkdir -p "$CACHE/pypaimon"
(
  flock 9
  if [ ! -x "$VENV/ready" ]; then
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
      SUDO=""
      if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
      $SUDO apt-get update -qq
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
      python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      "pypaimon==$PYPAIMON_VERSION" "pyarrow==$PYARROW_VERSION" >&2
    printf '#!/bin/sh\n' >"$VENV/ready"
    chmod +x "$VENV/ready"
  fi
) 9>"$CACHE/pypaimon/install.lock"
echo "$VENV/bin/python"
