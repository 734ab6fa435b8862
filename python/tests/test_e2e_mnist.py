"""End to end on real MNIST: export -> `falcon prune` -> apply -> test accuracy.

At 30% and 20% of the dense FLOPs: every FLOP-aware method the CLI runs (mp now; falcon when the
solver lands) keeps NNZ and FLOPs within budget, as the CLI reports and as recounted here from the
mask, and reaches at least the magnitude baseline's test accuracy at the same FLOP budget.
Skips (visibly) without the MNIST digits (python/setup.sh) or the CLI.
"""
import copy
import os
import tempfile
import time
import unittest

import numpy as np

from _util import needs_torch, HAVE_TORCH, cli_or_skip

if HAVE_TORCH:
    import falcon_torch as ft
    import mnist_cnn as M

N_SAMPLES = int(os.environ.get("FALCON_TORCH_E2E_N", "256"))
BUDGETS = (0.3, 0.2)
CANDIDATES = ("mp", "falcon")   # FLOP-aware methods compared with magnitude when the CLI runs them


@needs_torch
class MnistEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not M.data_available():
            raise unittest.SkipTest(f"MNIST digits missing in {M.DIGITS_DIR}: run python/setup.sh")
        cls.x_tr, cls.y_tr, cls.x_te, cls.y_te = M.load_mnist()
        t0 = time.time()
        cls.model = M.trained_model()
        cls.dense_acc = M.accuracy(cls.model, cls.x_te, cls.y_te)
        print(f"\n[e2e] dense test accuracy {cls.dense_acc:.4f} (model ready in {time.time() - t0:.1f} s)")
        cls.tmp = tempfile.TemporaryDirectory(prefix="falcon-e2e-")
        t0 = time.time()
        cls.ex = ft.export(cls.model, M.calibration_batches(cls.x_tr, cls.y_tr, N_SAMPLES), n_samples=N_SAMPLES,
                           out_dir=cls.tmp.name)
        print(f"[e2e] exported X {cls.ex.n} x {cls.ex.p} in {time.time() - t0:.1f} s")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.cli = cli_or_skip(self)

    def prune_and_test(self, method, keep_flops, keep_nnz=None):
        d = os.path.join(self.tmp.name, f"{method}-{keep_flops}-{keep_nnz}")
        os.makedirs(d)
        rep = self.cli.prune(self.ex.grads_path, self.ex.weights_path, self.ex.layers_path, f"{d}/pruned.npy",
                             f"{d}/report.json", mask=f"{d}/mask.npy", keep_flops=keep_flops, keep_nnz=keep_nnz,
                             method=method)
        m = copy.deepcopy(self.model)
        masks = ft.apply(m, f"{d}/pruned.npy", self.ex.layers_path, mask_path=f"{d}/mask.npy")
        flat = np.concatenate([masks[l.name].numpy().reshape(-1) for l in self.ex.layers])
        kept_f = ft.flops.kept_flops(self.ex.layers, flat)
        kept_nnz = int(flat.sum())
        named = dict(m.named_parameters())
        nonzero = sum(int((named[l.name] != 0).sum()) for l in self.ex.layers)
        self.assertLessEqual(nonzero, kept_nnz, "a weight outside the mask is nonzero after apply")
        self.assertLessEqual(kept_f, keep_flops * self.ex.dense_flops * (1 + 1e-9), f"{method}: FLOPs over budget")
        nnz_budget = self.ex.p if keep_nnz is None else keep_nnz * self.ex.p
        self.assertLessEqual(kept_nnz, nnz_budget + 1e-9, f"{method}: NNZ over budget")
        self.assertEqual(rep["method"], method.split()[0])
        acc = M.accuracy(m, self.x_te, self.y_te)
        print(f"[e2e] {method:>10} keep {keep_flops:.0%} FLOPs"
              + (f", {keep_nnz:.0%} weights" if keep_nnz else "")
              + f": test accuracy {acc:.4f}  (kept FLOPs {kept_f / self.ex.dense_flops:.3f}, weights {kept_nnz / self.ex.p:.3f})")
        return acc

    def test_flop_aware_methods_beat_magnitude(self):
        compared, baseline = 0, {}
        for method in CANDIDATES:
            ok, why = self.cli.supports(method)
            if not ok:
                print(f"[e2e] SKIPPED {method}: the falcon CLI does not run it yet ({why})")
                continue
            compared += 1
            for f in BUDGETS:
                with self.subTest(method=method, keep_flops=f):
                    if f not in baseline:
                        baseline[f] = self.prune_and_test("magnitude", f)
                    base = baseline[f]
                    acc = self.prune_and_test(method, f)
                    self.assertGreaterEqual(acc, base, f"{method} at {f:.0%} FLOPs below magnitude ({acc} < {base})")
        self.assertGreater(compared, 0, "no FLOP-aware method available in the CLI")

    def test_both_budgets(self):
        self.prune_and_test("mp", 0.3, keep_nnz=0.2)

    def test_driver_in_place(self):
        m = copy.deepcopy(self.model)
        res = ft.prune(m, M.calibration_batches(self.x_tr, self.y_tr, 64), keep_flops=0.3, method="mp", n_samples=64)
        self.assertLessEqual(res.kept_flops, 0.3 * res.dense_flops * (1 + 1e-9))
        acc = M.accuracy(m, self.x_te, self.y_te)
        print(f"[e2e] ft.prune(method='mp', keep_flops=0.3) in place: test accuracy {acc:.4f}")
        self.assertGreater(acc, 0.5)


if __name__ == "__main__":
    unittest.main()
