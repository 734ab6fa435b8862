#!/usr/bin/env bash
# Regenerates docs/mnist-results.md, docs/mnist-accuracy.png and docs/mnist-results.json:
# the MNIST CNN pruned to 10/20/30/50% of its FLOPs by every method the falcon CLI runs.
# Extra arguments go to python/examples/mnist_table.py (e.g. --n 512, --lambda 1e-3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
exec /usr/bin/python3 "$here/examples/mnist_table.py" --out-dir "$here/../docs" "$@"
