#!/usr/bin/env bash
# Installs what building and testing rtdw needs on a Debian machine:
# a C toolchain, python3, Prometheus (promtool and the server the monitoring
# tests scrape with), etcd (the metadata store the tests run), a Rust
# toolchain (1.90 or newer) with clippy and rustfmt, cargo-nextest, and
# s3s-fs (the S3 API server the tests run). Idempotent: installs only what
# is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=()
command -v cc >/dev/null 2>&1 || packages+=(build-essential)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
command -v curl >/dev/null 2>&1 || packages+=(curl ca-certificates)
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
# Checkpoint metadata and leader election live in etcd; the tests start
# their own throwaway instances (etcdctl is for looking inside them).
command -v etcd >/dev/null 2>&1 || packages+=(etcd-server etcd-client)
# The etcd client crate generates its gRPC code with protoc at build time,
# importing protobuf's well-known types (libprotobuf-dev ships them).
command -v protoc >/dev/null 2>&1 || packages+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || packages+=(libprotobuf-dev)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "setup: installing ${packages[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    # Debian 12 packages Rust 1.63; rtdw needs the current stable toolchain.
    echo "setup: installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --component clippy,rustfmt
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# Checkpoints and lake tables are written through the S3 API; the tests run
# a real S3 server. Debian packages no MinIO, so use s3s-fs (S3 on a local
# directory, checks request signatures). Pinned to the tested version (later
# ones have needed a newer rustc). Its own target directory lets an
# interrupted build resume.
case ":$PATH:" in
  *":$HOME/.cargo/bin:"*) ;;
  *) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac
if ! command -v s3s-fs >/dev/null 2>&1; then
  echo "setup: installing s3s-fs (a few minutes)"
  CARGO_TARGET_DIR="$HOME/.cache/rtdw/s3s-target" \
    cargo install s3s-fs@0.14.1 --features binary --locked
fi
