#!/usr/bin/env bash
# Builds benchmarks/native/kernel_harness.cpp and runs it, saving its output with the machine's CPU and the commit
# under benchmarks/results/harness-DATE-HOST.txt.   benchmarks/native/harness.sh [harness arguments]   (CEIL=1 too)
set -euo pipefail
cd "$(dirname "$0")"
if ! grep -qw avx512f /proc/cpuinfo; then
  echo "benchmarks/native/harness.sh: the harness runs the AVX-512 kernels and this CPU has no avx512f" >&2
  exit 2
fi
bin=$(mktemp -d)/kernel_harness
trap 'rm -rf "$(dirname "$bin")"' EXIT
g++ -O3 -march=native -std=c++17 -pthread -o "$bin" kernel_harness.cpp
out=../results/harness-$(date +%Y%m%d-%H%M%S)-$(hostname).txt
{
  echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores"
  echo "# commit $(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C .. diff --quiet 2>/dev/null || echo ' (uncommitted changes)'); CEIL=${CEIL:-}; args: $*"
  "$bin" "$@"
} | tee "$out.tmp"
mv "$out.tmp" "$out"
echo "saved benchmarks/results/$(basename "$out")" >&2
