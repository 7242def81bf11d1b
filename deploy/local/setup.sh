#!/usr/bin/env bash
# Installs the toolchain building and testing rtdw needs on a Debian
# machine: a C toolchain, python3, curl, protoc, OpenSSL's headers, a Rust
# toolchain (1.90 or newer) with clippy and rustfmt, and cargo-nextest.
# Idempotent: installs only what is missing. The outside services the
# tests run (etcd, S3, Kafka, ...) are installed by
# deploy/local/services.sh.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=()
command -v cc >/dev/null 2>&1 || packages+=(build-essential)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
command -v curl >/dev/null 2>&1 || packages+=(curl ca-certificates)
# The etcd client crate generates its gRPC code with protoc at build time,
# importing protobuf's well-known types (libprotobuf-dev ships them).
command -v protoc >/dev/null 2>&1 || packages+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || packages+=(libprotobuf-dev)
# librdkafka links the system's OpenSSL for TLS and SASL/SCRAM.
[ -f /usr/include/openssl/ssl.h ] || packages+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
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
