#!/usr/bin/env bash
# Builds benchmarks/native/kernel_harness.cpp and runs it, saving its output with the machine's CPU and the commit
# under benchmarks/results/harness-DATE-HOST.txt.   benchmarks/native/harness.sh [P [BLOCK [ROUNDS]]]
#   P, BLOCK: positive whole numbers, BLOCK at most P (X of 512 x P float32 read in blocks of BLOCK columns; default
#   2000000 2000); ROUNDS 0 or more (default 5). Other arguments stop it with a usage line, exit 2, nothing saved.
#   CEIL=1 benchmarks/native/harness.sh N BLOCK BLOCKS   the kernels' one-thread ceilings (CEIL empty or 0: off)
set -euo pipefail
cd "$(dirname "$0")"
if ! grep -qw avx512f /proc/cpuinfo; then
  echo "benchmarks/native/harness.sh: the harness runs the AVX-512 kernels and this CPU has no avx512f" >&2
  exit 2
fi
bin=$(mktemp -d)/kernel_harness
out=../results/harness-$(date +%Y%m%d-%H%M%S)-$(hostname).txt
# the partial output of a harness that failed is no result: only a complete one is renamed into place
trap 'rm -rf "$(dirname "$bin")"; rm -f "$out.tmp"' EXIT
# before anything is written: `git diff --quiet` missed staged changes and untracked files (a new source the harness
# includes); git status --porcelain lists both (not ignored files), and the output's own .tmp does not exist yet.
# benchmarks/results/ is left out (as bench.py's RESULTS_PATHSPEC): the earlier runs' result files, untracked until
# committed, are outputs, and they made every later run of the same commit "uncommitted"
commit=$(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C .. status --porcelain -- ':/' ':(exclude)results' 2>/dev/null)" ]; then
  commit="$commit (uncommitted changes)"
fi
g++ -O3 -march=native -std=c++17 -pthread -o "$bin" kernel_harness.cpp
{
  echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores"
  echo "# commit $commit; CEIL=${CEIL:-}; args: $*"
  "$bin" "$@"
} | tee "$out.tmp"
mv "$out.tmp" "$out"
echo "saved benchmarks/results/$(basename "$out")" >&2
