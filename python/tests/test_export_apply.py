import json
import math
import os
import re
import tempfile
import unittest

import numpy as np

from _util import needs_torch, HAVE_TORCH, cli_or_skip, signalled

if HAVE_TORCH:
    import torch
    from torch import nn
    import falcon_torch as ft


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Conv2d(3, 4, 3, stride=2, padding=1, groups=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 5))


def data(n=10):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 5, (n,), generator=g)
    return [(x[:6], y[:6]), (x[6:], y[6:])], x, y


def linear_with_wrapped_output(wrap):
    """A Linear(4, 3) whose logits the model hands back wrapped by wrap (in a tuple, a dict)."""
    class Outputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return wrap(self.fc(x))

    return Outputs()


def write_safetensors(path, tensors):
    """A .safetensors file of float32 tensors, as the format gives it: 8-byte little-endian header length, the JSON
    header, the data (no safetensors package is installed)."""
    header, data = {}, b""
    for name, values in tensors.items():
        raw = np.ascontiguousarray(values, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(values)), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)


def export_on_rank_zero_of_two(rank, rendezvous, out_dir):
    """A DistributedDataParallel process of a group of two: rank 0 exports, then both meet at a barrier."""
    import datetime
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method="file://" + rendezvous, rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=30))
    try:
        wrapped = nn.parallel.DistributedDataParallel(small_model())
        if rank == 0:
            batches, _, _ = data()
            for engine in ("vmap", "loop"):
                ft.export(wrapped, batches, n_samples=10, out_dir=os.path.join(out_dir, engine), engine=engine)
        dist.barrier()
    finally:
        dist.destroy_process_group()


@needs_torch
class ExportApplyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_staged_files_stopped_by_sigterm_or_sighup_with_the_default_handlers_leave_no_temporary_files(self):
        # export's X.tmp.npy (GBs for a real model), w.tmp.npy and layers.json.tmp were left in the out folder when the
        # default action of SIGTERM or SIGHUP (no handler of the caller's) ended the process while they were written;
        # it still dies of the signal, after their removal
        import signal
        import subprocess
        import sys
        from pathlib import Path
        package = str(Path(ft.__file__).resolve().parents[1])
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with self.subTest(signal=sig.name):
                out = os.path.join(self.d, sig.name)
                os.makedirs(out)
                script = (f"import sys, time\nsys.path.insert(0, {package!r})\n"
                          "from falcon_torch.export import staged_files\n"
                          "with staged_files() as stage:\n"
                          f"    open(stage({out!r} + '/X.npy', {out!r} + '/X.tmp.npy'), 'w').write('x')\n"
                          "    print('WRITTEN', flush=True)\n"
                          "    time.sleep(60)\n")
                proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                                        stderr=subprocess.PIPE, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
                with signalled(proc, sig) as ended:
                    self.assertEqual("WRITTEN\n", proc.stdout.readline(), proc.stderr)
                self.assertEqual(-sig, proc.returncode, ended.stderr[-1500:])
                self.assertEqual([], os.listdir(out), "the temporary file is left")

    def test_export_files(self):
        m = small_model()
        batches, x, y = data()
        ex = ft.export(m, batches, n_samples=7, out_dir=self.d)
        self.assertTrue(m.training)            # gradients were taken in eval mode, the caller's train mode is back
        X = np.load(ex.grads_path)
        w = np.load(ex.weights_path)
        p = 3 * 9 + 4 * 3 * 9 + 5 * 64
        self.assertEqual((ex.n, ex.p), (7, p))
        self.assertEqual(X.shape, (7, p))
        self.assertEqual(X.dtype, np.float32)
        self.assertTrue(X.flags.c_contiguous)
        self.assertEqual(w.shape, (p,))
        self.assertEqual(w.dtype, np.float32)
        np.testing.assert_array_equal(w[:27], m[0].weight.detach().numpy().reshape(-1))
        with open(ex.layers_path) as f:
            doc = json.load(f)
        self.assertEqual([l["name"] for l in doc["layers"]], ["0.weight", "3.weight", "6.weight"])
        self.assertEqual([l["flops_per_weight"] for l in doc["layers"]], [64, 16, 1])
        self.assertEqual([l["offset"] for l in doc["layers"]], [0, 27, 27 + 108])
        self.assertEqual(doc["dense_flops"], 27 * 64 + 108 * 16 + 320)
        # row i = gradient of sample i's loss (eval mode), divided by sqrt(n)
        m.eval()
        for i in (0, 6):
            m.zero_grad()
            nn.functional.cross_entropy(m(x[i:i + 1]), y[i:i + 1], reduction="sum").backward()
            g = torch.cat([m[0].weight.grad.reshape(-1), m[3].weight.grad.reshape(-1), m[6].weight.grad.reshape(-1)])
            np.testing.assert_allclose(X[i], g.numpy() / math.sqrt(7), rtol=1e-5, atol=1e-7)
        ft.export(m, batches, n_samples=2, out_dir=os.path.join(self.d, "eval"))
        self.assertFalse(m.training)           # and an eval-mode model stays in eval mode

    def test_export_gives_back_the_mode_of_every_submodule(self):
        # export set the whole model to eval and back with model.train(was_training): a BatchNorm the caller had frozen
        # in eval mode inside a training model came back in training mode (and fine-tuning then moved its running
        # statistics), and a submodule left training inside an eval model came back in eval mode
        for model_training in (True, False):
            m = small_model()
            batches, _, _ = data()
            m.train(model_training)
            m[1].train(not model_training)
            modes = [sub.training for sub in m.modules()]
            state = {k: v.clone() for k, v in m.state_dict().items()}
            for engine in ("vmap", "loop"):
                ft.export(m, batches, n_samples=4, out_dir=os.path.join(self.d, f"{model_training}{engine}"),
                          engine=engine)
                self.assertEqual([sub.training for sub in m.modules()], modes, f"{engine}, model.training={model_training}")
            ft.gradcmd.prepare(m, batches, os.path.join(self.d, f"session{model_training}"), n_samples=4)
            self.assertEqual([sub.training for sub in m.modules()], modes, f"prepare, model.training={model_training}")
            # and the running statistics are read, not updated
            for k, v in m.state_dict().items():
                self.assertTrue(torch.equal(v, state[k]), k)

    def test_export_of_a_training_model_with_dropout_is_the_same_bytes_each_time(self):
        # python/README.md: gradients are taken with dropout off, so X is the same for the same weights and samples
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 5))
        batches, _, _ = data()

        def x_bytes(label, engine):
            with open(ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, label), engine=engine).grads_path,
                      "rb") as f:
                return f.read()
        for engine in ("vmap", "loop"):
            m.eval()
            without_dropout = x_bytes(engine + "eval", engine)
            m.train()
            self.assertEqual(x_bytes(engine + "1", engine), without_dropout, engine)
            self.assertEqual(x_bytes(engine + "2", engine), without_dropout, engine)
            self.assertTrue(m[2].training)

    def test_flops_of_routed_layers_are_the_mean_over_the_first_samples(self):
        # FLOPs were measured on the first sample alone: an expert it routes no token to was "not used in the forward
        # pass", one called with an empty selection got flops_per_weight 0 (which the CLI then refused with advice for
        # a linear layer), and every other expert got the first sample's token count
        import warnings
        measured = 8                # falcon_torch.export.FLOP_SAMPLES, checked at the end

        class TopOneExperts(nn.Module):
            def __init__(self, call_empty):
                super().__init__()
                self.call_empty = call_empty
                self.router = nn.Linear(4, 3)
                self.experts = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
                self.head = nn.Linear(4, 2)

            def choice(self, x):
                return self.router(x).argmax(-1)

            def forward(self, x):                                   # x (N, T, 4)
                gate = torch.softmax(self.router(x), -1)            # the router is trained through the gates
                choice = gate.argmax(-1)
                out = torch.zeros_like(x)
                for e, expert in enumerate(self.experts):
                    chosen = choice == e
                    if self.call_empty or chosen.any():
                        out[chosen] = expert(x[chosen]) * gate[chosen][:, e:e + 1]
                return self.head(out.mean(1))
        torch.manual_seed(0)
        x, y = torch.randn(12, 6, 4), torch.randint(0, 2, (12,))
        for call_empty in (False, True):
            m = TopOneExperts(call_empty)
            with torch.no_grad():
                x[0] = x[0, :1]                                     # sample 0 sends its 6 tokens to one expert
                choice = m.choice(x)
            unused_by_sample_0 = [e for e in range(3) if not (choice[0] == e).any()]
            self.assertEqual(len(unused_by_sample_0), 2)
            for n_samples in (12, 4):
                k = min(n_samples, measured)
                tokens = [float((choice[:k] == e).sum()) / k for e in range(3)]
                with self.assertWarnsRegex(RuntimeWarning, r"flops_per_weight differs between samples for "
                                                           r"'experts.0.weight', 'experts.1.weight', 'experts.2.weight' "
                                           rf".*the mean over the first {k} samples") as caught:
                    ex = ft.export(m, (x, y), n_samples=n_samples, out_dir=os.path.join(self.d, "moe"))
                self.assertNotIn("router", str(caught.warning))
                self.assertEqual([(l.name, l.flops_per_weight) for l in ex.layers],
                                 [("router.weight", 6), ("experts.0.weight", tokens[0]),
                                  ("experts.1.weight", tokens[1]), ("experts.2.weight", tokens[2]), ("head.weight", 1)],
                                 f"call_empty={call_empty}, n_samples={n_samples}")
            # an expert no measured sample routes a token to: named, with zero positions as without a call
            with torch.no_grad():
                m.router.bias[2] = -1e4
            said = (r"'experts.2.weight' ran in the forward pass of the first 8 samples on no position at all"
                    if call_empty else r"'experts.2.weight' was not used in the forward pass of the first 8 samples")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                with self.assertRaisesRegex(ValueError, said + r".*leave it out of `prunable`"):
                    ft.export(m, (x, y), n_samples=12, out_dir=os.path.join(self.d, "unused"))
        self.assertFalse(os.path.exists(os.path.join(self.d, "unused", "layers.json")))
        from falcon_torch.export import FLOP_SAMPLES
        self.assertEqual(FLOP_SAMPLES, measured)

    def test_flops_of_a_static_model_are_those_of_its_first_sample(self):
        # the FLOPs are now the mean over the first samples: for a model whose compute does not depend on its input they
        # must be exactly those measured on the first sample alone, as before, and without a warning
        import warnings
        from falcon_torch import measure_flops

        class TiedLM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(10, 8)
                self.encoder = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
                self.out = nn.Linear(8, 10, bias=False)
                self.out.weight = self.emb.weight

            def forward(self, ids):
                return self.out(self.encoder(self.emb(ids))).mean(1)
        torch.manual_seed(0)
        _, x, y = data()
        ids = torch.randint(0, 10, (10, 5))
        for m, inputs, want in ((small_model(), x, [64, 16, 1]), (TiedLM(), ids, [5, 5, 5, 5])):
            first = [l.flops_per_weight for l in measure_flops(m, inputs[:1], batch_size=1)]
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                ex = ft.export(m, (inputs, y), n_samples=10, out_dir=os.path.join(self.d, type(m).__name__))
            self.assertEqual([l.flops_per_weight for l in ex.layers], first)
            self.assertEqual(first, want)

    def test_vmap_and_loop_engines_agree(self):
        m = small_model()
        batches, _, _ = data()
        a = ft.export(m, batches, n_samples=9, out_dir=os.path.join(self.d, "a"), engine="loop")
        # "vmap", not "auto": auto falls back to the loop when vmap fails, and would compare the loop with itself
        b = ft.export(m, batches, n_samples=9, out_dir=os.path.join(self.d, "b"), engine="vmap")
        np.testing.assert_allclose(np.load(a.grads_path), np.load(b.grads_path), rtol=1e-4, atol=1e-6)

    def test_loop_engine_with_frozen_weights_and_no_grad(self):
        # the loop engine (also auto's fallback) must give vmap's X for a frozen weight and under torch.no_grad()
        m = small_model()
        batches, _, _ = data()
        m[0].weight.requires_grad_(False)
        ref = ft.export(m, batches, n_samples=9, out_dir=os.path.join(self.d, "vmap"), engine="vmap")
        loop = ft.export(m, batches, n_samples=9, out_dir=os.path.join(self.d, "loop"), engine="loop")
        np.testing.assert_allclose(np.load(loop.grads_path), np.load(ref.grads_path), rtol=1e-4, atol=1e-6)
        self.assertFalse(m[0].weight.requires_grad)
        self.assertTrue(m[3].weight.requires_grad)
        with torch.no_grad():
            loop = ft.export(m, batches, n_samples=9, out_dir=os.path.join(self.d, "no_grad"), engine="loop")
        np.testing.assert_allclose(np.load(loop.grads_path), np.load(ref.grads_path), rtol=1e-4, atol=1e-6)

    def test_export_under_inference_mode_gives_the_same_x(self):
        # under a caller's torch.inference_mode() functorch's grad answered zeros: X was all zeros, without a word
        m = small_model()
        batches, x, y = data()
        ref = np.load(ft.export(m, batches, n_samples=9, out_dir=os.path.join(self.d, "ref")).grads_path)
        self.assertTrue(np.any(ref != 0))
        with torch.inference_mode():
            made_here = (x.clone(), y.clone())           # inference tensors, which autograd refuses as they are
        import contextlib
        for engine in ("vmap", "loop"):
            for label, given, mode in (("batches", batches, torch.inference_mode),
                                       ("inference tensors", made_here, torch.inference_mode),
                                       ("inference tensors outside it", made_here, contextlib.nullcontext)):
                with mode():
                    ex = ft.export(m, given, n_samples=9, out_dir=os.path.join(self.d, engine + label), engine=engine)
                np.testing.assert_allclose(np.load(ex.grads_path), ref, rtol=1e-4, atol=1e-6,
                                           err_msg=f"{engine}, {label}")

    def test_gradient_rows_held_at_once_are_bounded_in_bytes(self):
        # 128 rows per chunk whatever p: a 25M-weight model held 12.8 GB of rows (twice) at once
        from unittest import mock
        import sys
        export_module = sys.modules["falcon_torch.export"]   # the package attribute `export` is the function
        m = small_model()
        batches, _, _ = data()
        ref = ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, "ref"))
        seen = []
        make = export_module._vmap_grad_fn

        def recording(*args):
            run = make(*args)
            return lambda x, y: (seen.append(x.shape[0]), run(x, y))[1]
        for n_samples in (10, 50):    # every sample, and fewer than asked (X is rescaled into a smaller file)
            seen.clear()
            with mock.patch.object(export_module, "CHUNK_BYTES", 3 * 4 * ref.p), \
                    mock.patch.object(export_module, "_vmap_grad_fn", recording):
                ex = ft.export(m, batches, n_samples=n_samples, out_dir=os.path.join(self.d, str(n_samples)))
            self.assertEqual(seen, [3, 3, 3, 1])
            np.testing.assert_allclose(np.load(ex.grads_path), np.load(ref.grads_path), rtol=1e-5, atol=1e-7)

    def test_tied_weights_get_the_gradient_of_every_use(self):
        # one Parameter held by two Linear modules: X must hold the gradient through both uses, with either engine
        class Tied(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b, self.c = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False), nn.Linear(4, 3)
                self.b.weight = self.a.weight

            def forward(self, x):
                return self.c(torch.relu(self.b(torch.relu(self.a(x)))))
        torch.manual_seed(0)
        m = Tied()
        x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
        m.zero_grad()
        nn.functional.cross_entropy(m(x[:1]), y[:1], reduction="sum").backward()
        ref = torch.cat([m.a.weight.grad.reshape(-1), m.c.weight.grad.reshape(-1)]).numpy() / math.sqrt(6)
        for engine in ("loop", "vmap"):
            ex = ft.export(m, (x, y), n_samples=6, out_dir=os.path.join(self.d, engine), engine=engine)
            self.assertEqual([l.name for l in ex.layers], ["a.weight", "c.weight"])
            np.testing.assert_allclose(np.load(ex.grads_path)[0], ref, rtol=1e-5, atol=1e-7, err_msg=engine)
        # the tied weight named by its second name is the same weight, not "no parameter of the model"
        for names in (["b.weight", "c.weight"], ["b", "c"]):
            chosen = ft.prunable_parameters(m, names)
            self.assertEqual([l.name for l in chosen], ["a.weight", "c.weight"], names)

    def test_a_module_registered_under_several_names_is_found_by_each(self):
        # named_modules() gives a module registered twice under its first name only: ALBERT-style sharing
        # (nn.ModuleList([block] * 3)) and self.dec = self.enc were refused by every other name, which state_dict() has
        class Shared(nn.Module):
            def __init__(self):
                super().__init__()
                block = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
                self.layers, self.head = nn.ModuleList([block] * 3), nn.Linear(8, 2)
                self.enc = nn.Linear(8, 8)
                self.dec = self.enc

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return self.head(self.dec(self.enc(x)))
        m = Shared()
        self.assertLessEqual({"layers.2.0.weight", "dec.weight"}, set(m.state_dict()))
        for name in ("layers.2.0.weight", "layers.2.0", "layers.1", "layers.0.0.weight"):
            self.assertEqual([l.name for l in ft.prunable_parameters(m, [name])], ["layers.0.0.weight"], name)
        for name in ("dec", "dec.weight", "enc"):
            self.assertEqual([l.name for l in ft.prunable_parameters(m, [name])], ["enc.weight"], name)
        layers = ft.prunable_parameters(m, ["layers.2", "dec.weight", "head"])
        self.assertEqual([l.name for l in layers], ["layers.0.0.weight", "head.weight", "enc.weight"])
        self.assertEqual([l.flops_per_weight for l in ft.measure_flops(m, torch.randn(2, 8), layers)], [3, 1, 2])

    def test_a_weight_the_loss_does_not_use_gets_zero_gradients_with_either_engine(self):
        # an auxiliary head that runs in the forward pass (so it has FLOPs) but that the loss leaves out: vmap gives
        # its columns zero, and the loop engine (also auto's fallback) must too
        class AuxHead(nn.Module):
            def __init__(self):
                super().__init__()
                self.body, self.head, self.aux = nn.Linear(5, 6), nn.Linear(6, 3), nn.Linear(6, 3)

            def forward(self, x):
                h = torch.relu(self.body(x))
                return self.head(h), self.aux(h)
        torch.manual_seed(0)
        m = AuxHead()
        x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))

        def main_loss(out, target):
            return nn.functional.cross_entropy(out[0], target, reduction="sum")
        m.zero_grad()
        main_loss(m(x[:1]), y[:1]).backward()
        ref = torch.cat([m.body.weight.grad.reshape(-1), m.head.weight.grad.reshape(-1),
                         torch.zeros(18)]).numpy() / math.sqrt(6)
        for engine in ("vmap", "loop"):
            ex = ft.export(m, (x, y), n_samples=6, out_dir=os.path.join(self.d, engine), loss_fn=main_loss,
                           engine=engine)
            self.assertEqual([l.name for l in ex.layers], ["body.weight", "head.weight", "aux.weight"])
            X = np.load(ex.grads_path)
            np.testing.assert_allclose(X[0], ref, rtol=1e-5, atol=1e-7, err_msg=engine)
            np.testing.assert_array_equal(X[:, -18:], 0, err_msg=engine)

    def test_attention_out_proj_gradients_with_either_engine(self):
        # attention reads out_proj.weight directly: functional_call must still swap it in, as the loop engine does
        class Attend(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn, self.head = nn.MultiheadAttention(4, 2, batch_first=True), nn.Linear(4, 3)

            def forward(self, x):
                return self.head(self.attn(x, x, x, need_weights=False)[0].mean(1))
        torch.manual_seed(0)
        m = Attend()
        x, y = torch.randn(5, 3, 4), torch.randint(0, 3, (5,))
        m.zero_grad()
        nn.functional.cross_entropy(m(x[:1]), y[:1], reduction="sum").backward()
        ref = torch.cat([m.attn.out_proj.weight.grad.reshape(-1), m.head.weight.grad.reshape(-1)]).numpy() / math.sqrt(5)
        for engine in ("loop", "vmap"):
            ex = ft.export(m, (x, y), n_samples=5, out_dir=os.path.join(self.d, engine), engine=engine)
            self.assertEqual([(l.name, l.flops_per_weight) for l in ex.layers], [("attn.out_proj.weight", 3), ("head.weight", 1)])
            np.testing.assert_allclose(np.load(ex.grads_path)[0], ref, rtol=1e-5, atol=1e-7, err_msg=engine)

    def per_sample_reference(self, model, x, y, params, loss_fn):
        """Rows of X by torch.autograd, one sample at a time, in eval mode: the reference both engines must give."""
        was_training = model.training
        model.eval()
        device = params[0].device
        rows = []
        for i in range(x.shape[0]):
            out = model(x[i:i + 1].to(device))
            grads = torch.autograd.grad(loss_fn(out, y[i:i + 1].to(device)).sum(), params)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
        model.train(was_training)
        return torch.stack(rows).cpu().numpy() / math.sqrt(x.shape[0])

    def assert_engines_give(self, model, batches, n, ref, loss_fn=None, label=""):
        """X of either engine is `ref`, and vmap needs no fallback to the loop."""
        import warnings
        for engine in ("vmap", "auto", "loop"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)   # auto falling back to the loop is a failure here
                ex = ft.export(model, batches, n_samples=n, out_dir=os.path.join(self.d, label + engine), loss_fn=loss_fn,
                               engine=engine)
            np.testing.assert_allclose(np.load(ex.grads_path), ref, rtol=1e-5, atol=1e-7, err_msg=f"{label} {engine}")
        return ex

    def test_a_batch_norm_without_running_statistics_is_named_as_having_no_per_sample_gradient(self):
        # BatchNorm1d failed in both engines with torch's "Expected more than 1 value per channel when training" (auto
        # warning of a fallback first); BatchNorm2d was exported quietly, each sample normalized by itself, the
        # gradients of a model that was never trained
        batches, x, y = data()
        for norm, index in ((nn.BatchNorm2d(3, track_running_stats=False), "1"),):
            m = small_model()
            m[1] = norm
            for engine in ("auto", "vmap", "loop"):
                with self.assertRaises(ValueError) as caught:
                    ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, engine), engine=engine)
                said = str(caught.exception)
                self.assertIn(repr(index), said)
                self.assertIn("BatchNorm2d with track_running_stats=False", said)
                self.assertIn("LayerNorm, GroupNorm", said)
                self.assertFalse(os.path.exists(os.path.join(self.d, engine, "X.npy")))
        flat = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.BatchNorm1d(6, track_running_stats=False), nn.Linear(6, 5))
        with self.assertRaises(ValueError) as caught:
            ft.export(flat, batches, n_samples=10, out_dir=os.path.join(self.d, "flat"))
        self.assertIn("'2' (BatchNorm1d with track_running_stats=False)", str(caught.exception))
        # the weights and the layer table alone need no per-sample gradient
        ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, "nograds"), grads=False)

    def test_vmap_runs_a_model_wrapped_in_data_parallel(self):
        # vmap failed inside DataParallel.forward ("Cannot access storage of TensorWrapper"): auto fell back to the
        # several times slower loop with a warning, and engine="vmap" raised; DistributedDataParallel's the same
        import torch.distributed as dist
        batches, x, y = data()
        loss = lambda out, t: nn.functional.cross_entropy(out, t, reduction="sum")

        def model():
            # no conv: where CUDA is, DataParallel moves the model there, and cuDNN's TF32 convs would be compared
            # with autograd's at float32's precision
            torch.manual_seed(0)
            return nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.ReLU(), nn.Linear(6, 5))
        m = model()
        wrapped = nn.DataParallel(m)
        ref = self.per_sample_reference(m, x, y, [m[1].weight, m[3].weight], loss)
        ex = self.assert_engines_give(wrapped, batches, 10, ref, label="wrapped")
        # the names are the wrapper's, as apply expects them for the model exported
        with open(ex.layers_path) as f:
            self.assertEqual([l["name"] for l in json.load(f)["layers"]], ["module.1.weight", "module.3.weight"])
        ft.apply(wrapped, ex.weights_path, ex.layers_path)
        self.assertTrue(m.training)
        if not dist.is_available() or not dist.is_gloo_available():
            self.skipTest("torch.distributed with gloo is not available for the DistributedDataParallel half")
        # a process group of one, on the CPU
        dist.init_process_group("gloo", init_method="file://" + os.path.join(self.d, "rendezvous"), rank=0,
                                world_size=1)
        try:
            m = model()
            distributed = nn.parallel.DistributedDataParallel(m)
            ref = self.per_sample_reference(m, x, y, [m[1].weight, m[3].weight], loss)
            ex = self.assert_engines_give(distributed, batches, 10, ref, label="distributed")
            self.assertEqual([l.name for l in ex.layers], ["module.1.weight", "module.3.weight"])
        finally:
            dist.destroy_process_group()

    def test_one_rank_of_a_distributed_group_exports_without_the_others(self):
        # export ran DistributedDataParallel's forward (to measure FLOPs, and per sample in the loop engine), which
        # broadcasts the buffers to the group: on rank 0 alone it waited for the other ranks until the group's timeout
        import torch.distributed as dist
        import torch.multiprocessing as mp
        if not dist.is_available() or not dist.is_gloo_available():
            self.skipTest("torch.distributed with gloo is not available")
        mp.spawn(export_on_rank_zero_of_two, args=(os.path.join(self.d, "rendezvous"), self.d), nprocs=2)
        bare = ft.export(small_model(), data()[0], n_samples=10, out_dir=os.path.join(self.d, "bare"))
        for engine in ("vmap", "loop"):
            np.testing.assert_allclose(np.load(os.path.join(self.d, engine, "X.npy")), np.load(bare.grads_path),
                                       rtol=1e-5, atol=1e-7, err_msg=engine)

    def test_vmap_takes_a_loss_of_one_element_that_is_not_a_scalar(self):
        # a loss_fn returning shape (1,) (a reduction="none" loss of the one sample, or a .reshape(1)) made
        # functorch's grad refuse it ("Expected f(*args) to return a scalar Tensor"), where the loop took it
        m = small_model()
        batches, x, y = data()
        params = [m[0].weight, m[3].weight, m[6].weight]
        for label, loss in (("none", lambda out, t: nn.functional.cross_entropy(out, t, reduction="none")),
                            ("1x1", lambda out, t: nn.functional.cross_entropy(out, t, reduction="sum").reshape(1, 1))):
            ref = self.per_sample_reference(m, x, y, params, loss)
            self.assert_engines_give(m, batches, 10, ref, loss_fn=loss, label=label)

    def test_a_loss_that_reads_a_weight_of_the_model_gets_its_gradient_with_vmap(self):
        # vmap swapped the weights in for the model's forward only: a loss_fn with a penalty on a weight (read from
        # the model) saw the model's own tensor there, and vmap's X missed the penalty's gradient, which the loop has
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.ReLU(), nn.Linear(6, 5))   # no conv: see the DataParallel test
        batches, x, y = data()
        params = [m[1].weight, m[3].weight]

        def penalized(out, t):
            return nn.functional.cross_entropy(out, t, reduction="sum") + 0.5 * m[3].weight.pow(2).sum()
        ref = self.per_sample_reference(m, x, y, params, penalized)
        self.assert_engines_give(m, batches, 10, ref, loss_fn=penalized, label="penalized")
        wrapped = nn.DataParallel(m)
        self.assert_engines_give(wrapped, batches, 10, ref, loss_fn=penalized, label="wrapped")

    def test_a_penalty_over_the_models_parameters_gets_its_gradient_with_vmap(self):
        # functional_call (torch 1.13) swaps attribute reads only: a penalty over model.parameters() or
        # named_parameters() saw the model's own tensors, and vmap's X missed its gradient, which the loop has
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.ReLU(), nn.Linear(6, 5))
        batches, x, y = data()
        params = [m[1].weight, m[3].weight]
        ce = lambda out, t: nn.functional.cross_entropy(out, t, reduction="sum")
        for label, loss in (("parameters", lambda out, t: ce(out, t) + 0.5 * sum(p.pow(2).sum() for p in m.parameters())),
                            ("named", lambda out, t: ce(out, t) + 0.5 * sum(p.pow(2).sum()
                                                                             for _, p in m.named_parameters()))):
            ref = self.per_sample_reference(m, x, y, params, loss)
            self.assert_engines_give(m, batches, 10, ref, loss_fn=loss, label=label)

    def test_a_penalty_on_a_weight_taken_beforehand_makes_vmap_fall_back_to_the_loop(self):
        # a tensor the loss_fn took from the model before the call is the model's own, which no swap reaches: vmap's X
        # missed its penalty without a word; the first sample's backward shows the difference
        import warnings
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.ReLU(), nn.Linear(6, 5))
        batches, x, y = data()
        w = m[3].weight

        def loss(out, t):
            return nn.functional.cross_entropy(out, t, reduction="sum") + 0.5 * w.pow(2).sum()
        ref = self.per_sample_reference(m, x, y, [m[1].weight, m[3].weight], loss)
        with self.assertWarnsRegex(RuntimeWarning, "vmap's gradient of the first sample differs .*falling back"):
            ex = ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, "auto"), loss_fn=loss)
        np.testing.assert_allclose(np.load(ex.grads_path), ref, rtol=1e-5, atol=1e-7)
        with self.assertRaisesRegex(RuntimeError, "differs from autograd's .*engine='loop'"):
            ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, "vmap"), loss_fn=loss, engine="vmap")
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            ex = ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, "loop"), loss_fn=loss, engine="loop")
        np.testing.assert_allclose(np.load(ex.grads_path), ref, rtol=1e-5, atol=1e-7)
        # NaN gradients are the same with either engine: no fallback (the CLI names the NaN in X)
        nan = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.ReLU(), nn.Linear(6, 5))
        with torch.no_grad():
            nan[1].weight[0, 0] = float("nan")
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            ex = ft.export(nan, batches, n_samples=10, out_dir=os.path.join(self.d, "nan"))
        self.assertTrue(np.isnan(np.load(ex.grads_path)).any())

    def test_a_model_that_changes_its_input_in_place_sees_each_sample_once_and_leaves_the_batches_as_they_were(self):
        # the passes got views of the caller's batch: a forward dividing its input in place (after a .float() that is no
        # copy) changed the caller's batch, the first 8 samples went through it again for X (the FLOP passes), and the
        # vmap check's reference pass divided the first sample once more, so "auto" fell back to the loop with every
        # row of X wrong and "loop" had the first 8 rows wrong
        import warnings

        class HalvesItsInput(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 5)

            def forward(self, x):
                x = x.float().flatten(1)
                x /= 2
                return self.fc(x)
        torch.manual_seed(0)
        m = HalvesItsInput()
        batches, x, y = data()
        loss = lambda out, t: nn.functional.cross_entropy(out, t, reduction="sum")
        ref = self.per_sample_reference(m, x.clone(), y, [m.fc.weight], loss)
        for engine in ("vmap", "auto", "loop"):
            for given in ((x.clone(), y.clone()), [(b.clone(), t.clone()) for b, t in batches]):
                originals = [t.clone() for t in ([given[0]] if isinstance(given, tuple) else [b for b, _ in given])]
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    ex = ft.export(m, given, n_samples=10, out_dir=os.path.join(self.d, engine), engine=engine)
                np.testing.assert_allclose(np.load(ex.grads_path), ref, rtol=1e-5, atol=1e-7, err_msg=engine)
                now = [given[0]] if isinstance(given, tuple) else [b for b, _ in given]
                for before, after in zip(originals, now):
                    self.assertTrue(torch.equal(before, after), f"{engine}: the caller's batch was changed")
        example = x[:4].clone()
        ft.measure_flops(m, example)
        self.assertTrue(torch.equal(example, x[:4]), "measure_flops changed the example")

    def test_the_vmap_check_blames_loss_fn_only_where_one_was_given(self):
        # a model reading a weight vmap does not swap in (one kept in a list) was said to have a "loss_fn" reading it,
        # with the default loss, which sent the user to look at a loss_fn they never gave
        class KeepsItsWeight(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 5)
                self.kept = [self.fc.weight]       # a plain list: no module attribute functional_call swaps

            def forward(self, x):
                return self.fc(x.flatten(1)) + nn.functional.linear(x.flatten(1), self.kept[0])
        import warnings
        torch.manual_seed(0)
        batches, _, _ = data()
        loss = lambda out, t: nn.functional.cross_entropy(out, t, reduction="sum")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # its F.linear is a use outside the module, warned
            with self.assertRaises(RuntimeError) as cm:
                ft.export(KeepsItsWeight(), batches, n_samples=10, out_dir=os.path.join(self.d, "model"), engine="vmap")
            with self.assertRaisesRegex(RuntimeError, r": loss_fn or the model reads a weight vmap does not swap in"):
                ft.export(KeepsItsWeight(), batches, n_samples=10, out_dir=os.path.join(self.d, "loss"), loss_fn=loss,
                          engine="vmap")
        self.assertRegex(str(cm.exception), r"differs from autograd's .*: the model reads a weight vmap does not swap in")
        self.assertNotIn("loss_fn", str(cm.exception))

    def test_vmap_checks_a_bfloat16_model_within_the_rounding_of_bfloat16(self):
        # the check of vmap's first row against autograd's held every dtype to float32's tolerance: a bfloat16 model,
        # whose rows agree to bfloat16's rounding, made engine="vmap" raise and "auto" fall back, blaming loss_fn
        import warnings
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                          nn.Linear(16, 5)).to(torch.bfloat16)
        _, x, y = data()
        x = x.to(torch.bfloat16)
        rows = {}
        for engine in ("vmap", "auto", "loop"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                ex = ft.export(m, (x, y), n_samples=10, out_dir=os.path.join(self.d, engine), engine=engine)
            rows[engine] = np.load(ex.grads_path)
        scale = np.abs(rows["loop"]).max()
        np.testing.assert_allclose(rows["vmap"], rows["loop"], rtol=0.05, atol=0.02 * scale)
        # a penalty on a weight taken beforehand is still found, and the message names the dtype
        w = m[5].weight

        def loss(out, t):
            return nn.functional.cross_entropy(out, t, reduction="sum") + 0.5 * w.float().pow(2).sum()
        with self.assertRaisesRegex(RuntimeError, r"differs from autograd's by up to .* beyond the tolerance for "
                                                  r"torch.bfloat16 weights.*loss_fn or the model reads a weight vmap does not swap"):
            ft.export(m, (x, y), n_samples=10, out_dir=os.path.join(self.d, "penalty"), loss_fn=loss, engine="vmap")
        # float32 and float64 keep the tolerance that finds a small penalty; float16 (no CPU matmul in torch 1.13)
        # gets one from its own precision, looser than float32's and tighter than bfloat16's
        from falcon_torch.export import _gradient_check_tolerance
        self.assertEqual(_gradient_check_tolerance(torch.float32), (1e-4, 1e-5))
        self.assertEqual(_gradient_check_tolerance(torch.float64), (1e-4, 1e-5))
        half, bf16 = _gradient_check_tolerance(torch.float16), _gradient_check_tolerance(torch.bfloat16)
        self.assertTrue(1e-4 < half[0] < bf16[0] and 1e-5 < half[1] < bf16[1], (half, bf16))

    def test_a_loss_that_does_not_depend_on_the_weights_is_refused_by_either_engine(self):
        # vmap's grad answered zeros for a detached loss: an all-zero X, and prune went on without a word; the loop
        # failed with autograd's "element 0 of tensors does not require grad"
        m = small_model()
        batches, _, _ = data()
        ce = lambda out, t: nn.functional.cross_entropy(out, t, reduction="sum")
        for label, loss in (("detached", lambda out, t: ce(out, t).detach()),
                            ("bias only", lambda out, t: ce(out, t).detach() + m[6].bias.sum())):
            for engine in ("auto", "vmap", "loop"):
                with self.assertRaisesRegex(ValueError, "loss_fn's loss does not depend on the prunable weights"):
                    ft.export(m, batches, n_samples=4, out_dir=os.path.join(self.d, engine), loss_fn=loss, engine=engine)
                self.assertFalse(os.path.exists(os.path.join(self.d, engine, "X.npy")), f"{label} {engine}")

    def test_a_prunable_layer_run_without_gradients_inside_forward_is_named(self):
        # a frozen backbone under torch.no_grad() (or .detach()ed) inside forward, then a head: its FLOPs were counted
        # but its columns of X were all zeros without a word, so falcon pruned it as if it cost nothing to remove
        class FrozenBackbone(nn.Module):
            def __init__(self, cut):
                super().__init__()
                self.cut = cut
                self.backbone = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv1d(4, 4, 3, padding=1))
                self.head = nn.Linear(4, 2)

            def forward(self, x):
                if self.cut == "no_grad":
                    with torch.no_grad():
                        f = self.backbone(x)
                else:
                    f = self.backbone(x).detach()
                return self.head(f.mean(-1))
        torch.manual_seed(0)
        x, y = torch.randn(6, 1, 8), torch.randint(0, 2, (6,))
        for cut in ("no_grad", "detach"):
            m = FrozenBackbone(cut)
            for engine in ("vmap", "loop"):
                with self.assertRaisesRegex(ValueError, r"'backbone.0.weight', 'backbone.2.weight' run in the forward "
                                            r"pass, but the model's output does not depend on them .*torch.no_grad\(\).*"
                                            r"\.detach\(\).*all zeros.*leave them out of `prunable`, or run them with "
                                            r"gradients", msg=f"{cut} {engine}"):
                    ft.export(m, (x, y), n_samples=6, out_dir=os.path.join(self.d, engine), engine=engine)
                self.assertFalse(os.path.exists(os.path.join(self.d, engine, "X.npy")))
            ex = ft.export(m, (x, y), prunable=["head"], n_samples=6, out_dir=os.path.join(self.d, "head"))
            self.assertEqual([l.name for l in ex.layers], ["head.weight"])
            self.assertTrue(np.abs(np.load(ex.grads_path)).max() > 0)

    def test_the_scale_of_x_under_a_mean_loss_is_as_documented(self):
        # python/README.md: loss_fn sees one sample at a time, so "mean" is "sum" for a classifier, a mean over
        # tokens divides the row by their number, and a class-weighted mean cancels each sample's weight
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
        x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
        weight = torch.tensor([1.0, 2.0, 4.0])

        def x_of(loss, inputs=x, targets=y):
            d = os.path.join(self.d, str(len(os.listdir(self.d))))
            return np.load(ft.export(m, (inputs, targets), n_samples=6, out_dir=d, loss_fn=loss).grads_path)
        ce = nn.functional.cross_entropy
        summed = x_of(lambda out, t: ce(out, t, reduction="sum"))
        np.testing.assert_allclose(x_of(lambda out, t: ce(out, t)), summed, rtol=1e-6)
        weighted = x_of(lambda out, t: ce(out, t, weight=weight, reduction="sum"))
        np.testing.assert_allclose(weighted, summed * weight[y].numpy()[:, None], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(x_of(lambda out, t: ce(out, t, weight=weight)), summed, rtol=1e-5, atol=1e-8)
        tokens = x.unsqueeze(1).expand(6, 5, 4)                       # five equal tokens a sample
        token_mean = x_of(lambda out, t: ce(out.transpose(1, 2), t), tokens, y.unsqueeze(1).expand(6, 5))
        np.testing.assert_allclose(token_mean, summed, rtol=1e-5, atol=1e-8)
        token_sum = x_of(lambda out, t: ce(out.transpose(1, 2), t, reduction="sum"), tokens, y.unsqueeze(1).expand(6, 5))
        np.testing.assert_allclose(token_sum, 5 * summed, rtol=1e-5, atol=1e-8)

    def test_export_leaves_buffers_the_forward_updates_as_they_were_even_when_it_fails(self):
        # a counter the forward adds to ended at 11, 10 or 6 after export depending on the engine, 6 after vmap's
        # failed export (it refuses the in-place update of a captured tensor)
        class Counting(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.register_buffer("seen", torch.zeros(()))

            def forward(self, x):
                self.seen += x.shape[0]
                return self.fc(x)

        x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
        for engine in ("auto", "loop", "vmap"):
            m = Counting()
            try:
                ft.export(m, (x, y), n_samples=5, out_dir=os.path.join(self.d, engine), engine=engine)
            except RuntimeError:
                self.assertEqual(engine, "vmap")
            self.assertEqual(m.seen.item(), 0.0, engine)

    def test_export_leaves_buffers_the_forward_reassigns_as_they_were(self):
        # `self.ema = 0.9 * self.ema + ...` replaces the tensor the module holds: copying the old value back into the old
        # tensor left the new one in place, the counter at 10 (loop) or 6 (auto), the EMA moved by an engine-dependent amount
        class Reassigning(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.register_buffer("seen", torch.zeros(()))
                self.register_buffer("ema", torch.zeros(4))

            def forward(self, x):
                self.seen = self.seen + x.shape[0]
                self.ema = 0.9 * self.ema + 0.1 * x.detach().mean(0)
                return self.fc(x)

        x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
        for engine in ("auto", "loop", "vmap"):
            m = Reassigning()
            seen, ema = m.seen, m.ema
            ft.export(m, (x, y), n_samples=5, out_dir=os.path.join(self.d, engine), engine=engine)
            self.assertEqual(m.seen.item(), 0.0, engine)
            self.assertEqual(m.ema.tolist(), [0.0] * 4, engine)
            self.assertIs(m.seen, seen, engine)
            self.assertIs(m.ema, ema, engine)

    def test_a_model_returning_a_tuple_or_dict_is_told_to_pass_loss_fn(self):
        # the default loss failed with torch's own "cross_entropy_loss(): argument 'input' (position 1) must be
        # Tensor, not tuple", a lambda the user never wrote
        import warnings

        x, y = torch.randn(4, 4), torch.randint(0, 3, (4,))
        for wrap, kind in ((lambda o: (o, o.sum()), "tuple"), (lambda o: {"logits": o}, "dict")):
            for engine in ("vmap", "loop", "auto"):
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    with self.assertRaisesRegex(ValueError, f"the model returned a {kind}.*pass loss_fn"):
                        ft.export(linear_with_wrapped_output(wrap), (x, y), n_samples=4, out_dir=self.d, engine=engine)
        self.assertEqual(os.listdir(self.d), [])

    def test_the_loss_fn_the_message_suggests_for_a_dict_picks_by_key(self):
        # the message suggested out[0] for a dict as for a tuple: following it raised KeyError: 0
        x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
        for wrap, pick in ((lambda o: {"aux": o.sum(), "logits": o}, "out['logits']"), (lambda o: {"scores": o}, "out['scores']"),
                           (lambda o: (o, o.sum()), "out[0]")):
            with self.assertRaises(ValueError) as caught:
                ft.export(linear_with_wrapped_output(wrap), (x, y), n_samples=5, out_dir=os.path.join(self.d, "refused"), engine="loop")
            suggested = str(caught.exception).split("e.g. loss_fn=")[1]
            self.assertIn(f"cross_entropy({pick}, y", suggested)
            if isinstance(wrap(torch.zeros(1, 3)), dict):
                self.assertIn("its keys: ", str(caught.exception))
            ft.export(linear_with_wrapped_output(wrap), (x, y), n_samples=5, out_dir=os.path.join(self.d, pick), engine="loop",
                      loss_fn=eval(suggested, {"torch": torch}))

    def test_a_loss_that_is_not_one_number_is_named_as_such(self):
        # a loss of several numbers (an unreduced loss) or a Python float (.item()) failed with functorch's "Expected
        # f(*args) to return a scalar Tensor ... Maybe you wanted to use the vjp or jacrev APIs" or autograd's "grad
        # can be implicitly created only for scalar outputs", and auto first warned that it fell back to the loop
        import warnings
        m = small_model()
        batches, _, _ = data()
        # .item() failed inside vmap first: auto announced its fallback to the loop, and engine="vmap" raised
        # functorch's "It looks like you're either (1) calling .item() on a Tensor ..."
        for loss, said in ((lambda out, t: out, r"a tensor of shape \(1, 5\)"),
                           (lambda out, t: nn.functional.cross_entropy(out, t).item(), "a float")):
            for engine in ("vmap", "loop", "auto"):
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    with self.assertRaisesRegex(ValueError, f"loss_fn returned {said} for one sample: it must return "
                                                "that sample's loss as a tensor of one number"):
                        ft.export(m, batches, n_samples=4, out_dir=self.d, loss_fn=loss, engine=engine)
        self.assertEqual(os.listdir(self.d), [])

    def test_export_from_a_generator(self):
        m = small_model()
        batches, _, _ = data()
        a = ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, "a"))
        b = ft.export(m, (b for b in batches), n_samples=10, out_dir=os.path.join(self.d, "b"))
        self.assertEqual(b.n, 10)
        np.testing.assert_array_equal(np.load(a.grads_path), np.load(b.grads_path))

    def test_export_draws_no_batch_beyond_its_samples(self):
        # after the last sample it needed, export drew one more batch: a loader loaded it for nothing, and a one-shot
        # iterator the caller goes on reading lost it
        m = small_model()
        _, x, y = data()
        batches = iter([(x[:2], y[:2]), (x[2:4], y[2:4]), (x[4:6], y[4:6])])
        ex = ft.export(m, batches, n_samples=4, out_dir=self.d)
        self.assertEqual(ex.n, 4)
        rest = next(batches)
        self.assertTrue(torch.equal(rest[0], x[4:6]))

    def test_export_fewer_samples_than_asked(self):
        m = small_model()
        batches, _, _ = data(4)
        ex = ft.export(m, [batches[0]], n_samples=100, out_dir=self.d)
        self.assertEqual(ex.n, 4)
        self.assertEqual(np.load(ex.grads_path).shape, (4, ex.p))
        self.assertEqual(sorted(os.listdir(self.d)), ["X.npy", "layers.json", "w.npy"])

    def test_a_number_of_samples_below_one_is_named_as_such(self):
        # 0 was reported as "batches yielded no samples" (they had ten) and -1 as numpy's "negative dimensions"
        m = small_model()
        batches, _, _ = data()
        for n in (0, -1, 2.5):
            with self.assertRaisesRegex(ValueError, "n_samples must be a whole number of samples, at least 1, not "
                                        + re.escape(repr(n))):
                ft.export(m, batches, n_samples=n, out_dir=self.d)
            with self.assertRaisesRegex(ValueError, "n_samples must be"):
                ft.gradcmd.prepare(m, batches, os.path.join(self.d, "session"), n_samples=n)
            with self.assertRaisesRegex(ValueError, "n_samples must be"):   # before the CLI is run
                ft.prune(m, iter(batches), method="falcon++", n_samples=n, cli=ft.FalconCLI(command=["false"]))
        self.assertEqual(os.listdir(self.d), [])

    def test_batches_that_are_no_pairs_of_tensors_are_named_as_such(self):
        # a loader of dicts failed with "KeyError: 0", inputs of several tensors with "'tuple' object has no attribute
        # 'to'" and numpy arrays with "'numpy.ndarray' object has no attribute 'to'"
        m = small_model()
        _, x, y = data()
        for given, said in (([{"image": x, "label": y}], r"batch 0 is a dict \(keys 'image', 'label'\), not an "
                                                          r"\(inputs, targets\) pair"),
                            ([(x[:6], y[:6]), [x]], r"batch 1 is a list of 1, not an \(inputs, targets\) pair"),
                            ([((x, x), y)], r"batch 0's inputs are a tuple, not a torch.Tensor \(export runs a "
                                            r"model of one input tensor\)"),
                            ([(x.numpy(), y.numpy())], r"batch 0's inputs are a numpy.ndarray, not a torch.Tensor "
                                                       r"\(convert them with torch.from_numpy\)"),
                            ((x.numpy(), y.numpy()), r"batch 0's inputs are a numpy.ndarray"),
                            ((x, y.tolist()), r"batch 0's targets are a list, not a torch.Tensor")):
            for name, run in (("export", lambda: ft.export(m, given, n_samples=10, out_dir=os.path.join(self.d, "x"))),
                              ("prepare", lambda: ft.gradcmd.prepare(m, given, os.path.join(self.d, "s"), n_samples=10))):
                with self.assertRaisesRegex(ValueError, said + ".*batches must yield \\(inputs, targets\\) pairs of "
                                            "tensors", msg=f"{name}, {said}"):
                    run()
        self.assertEqual(os.listdir(self.d), [])                  # nothing written, not even the folders

    def test_one_pair_whose_inputs_are_several_tensors_is_refused_as_the_same_pair_in_a_list_is(self):
        # ((x, lengths), y) was read as a list of batches: batch 0 (x, lengths) gave inputs x and targets lengths, y was
        # never read, and the export went on without a word (X held the gradients of the loss against the lengths)
        m = small_model()
        _, x, y = data()
        lengths = torch.randint(1, 5, (10,))
        said = (r"batch 0's inputs are a (tuple|list), not a torch.Tensor \(export runs a model of one input tensor\): "
                r"batches must yield \(inputs, targets\) pairs.*; give a model of several inputs as a wrapper module "
                r"whose forward takes them stacked in that one input tensor")
        for given in (((x, lengths), y), [(x, lengths), y], ([x, lengths], y), [((x, lengths), y)]):
            for name, run in (("export", lambda: ft.export(m, given, n_samples=10, out_dir=os.path.join(self.d, "x"))),
                              ("prepare", lambda: ft.gradcmd.prepare(m, given, os.path.join(self.d, "s"), n_samples=10))):
                with self.assertRaisesRegex(ValueError, said, msg=f"{name}, {type(given).__name__}"):
                    run()
        self.assertEqual(os.listdir(self.d), [])                  # nothing written, not even the folders

    def test_one_pair_whose_inputs_are_a_dict_is_refused_as_such_with_the_wrapper_to_give(self):
        # ({'x': x}, y) was "batch 0 is a dict (keys 'x'), not an (inputs, targets) pair", its inputs taken for the
        # batch and its fix the keys of a loader's dict batches; the list form said only "inputs are a dict"
        m = small_model()
        _, x, y = data()
        said = (r"batch 0's inputs are a dict \(keys 'x'\), not a torch.Tensor \(export runs a model of one input "
                r"tensor\): batches must yield \(inputs, targets\) pairs.*; give a model that reads a dict of inputs as "
                r"a wrapper module whose forward builds the dict from that one input tensor .*e\.g\. forward\(self, x\): "
                r"return model\(\{'x': x\}\)")
        for given in (({"x": x}, y), [({"x": x}, y)]):
            for name, run in (("export", lambda: ft.export(m, given, n_samples=10, out_dir=os.path.join(self.d, "x"))),
                              ("prepare", lambda: ft.gradcmd.prepare(m, given, os.path.join(self.d, "s"), n_samples=10))):
                with self.assertRaisesRegex(ValueError, said, msg=f"{name}, {type(given).__name__}"):
                    run()
        self.assertEqual(os.listdir(self.d), [])                  # nothing written, not even the folders

    def test_a_dict_of_several_inputs_is_shown_a_wrapper_that_fills_every_key_and_an_empty_dict_is_named_so(self):
        # the example built the dict of the first key only (model({'input_ids': x}), no attention_mask), against the
        # "(stacking them in it where there are several)" before it; an empty dict read "a dict (keys ), not ..."
        from falcon_torch.export import batch_pair
        _, x, y = data()
        with self.assertRaises(ValueError) as cm:
            batch_pair(({"input_ids": x, "attention_mask": x}, y), 0)
        self.assertIn("e.g. forward(self, x): return model({'input_ids': x[:, 0], 'attention_mask': x[:, 1]}), for inputs "
                      "stacked as torch.stack([inputs['input_ids'], inputs['attention_mask']], 1)", str(cm.exception))
        for batch, said in ((({}, y), "batch 0's inputs are an empty dict, not a torch.Tensor"),
                            ({}, "batch 0 is an empty dict, not an (inputs, targets) pair")):
            with self.subTest(batch=batch):
                with self.assertRaises(ValueError) as cm:
                    batch_pair(batch, 0)
                self.assertTrue(str(cm.exception).startswith(said), str(cm.exception))
                self.assertNotIn("keys )", str(cm.exception))

    def test_a_batch_of_more_than_two_tensors_is_refused_naming_its_length(self):
        # (input_ids, attention_mask, labels), a Hugging-Face style loader, was taken as inputs and targets: the
        # attention mask became the targets without a word and labels were ignored
        from torch.utils.data import DataLoader, TensorDataset
        m = small_model()
        _, x, y = data()
        mask = torch.ones(10, dtype=torch.long)      # one per sample, so that it passes for the targets
        pick = r"export runs a model of one input tensor.*e\.g\. \(\(b\[0\], b\[2\]\) for b in loader\)"
        for given, said in ((DataLoader(TensorDataset(x, mask, y), batch_size=6), "batch 0 is a list of 3"),
                            ([(x[:6], y[:6]), (x[6:], mask[6:], y[6:])], "batch 1 is a tuple of 3"),
                            ((x, mask, y), "batch 0 is a tuple of 3")):
            for name, run in (("export", lambda: ft.export(m, given, n_samples=10, out_dir=os.path.join(self.d, "x"))),
                              ("prepare", lambda: ft.gradcmd.prepare(m, given, os.path.join(self.d, "s"), n_samples=10))):
                with self.assertRaisesRegex(ValueError, said + r", not an \(inputs, targets\) pair: batches must yield "
                                            r"\(inputs, targets\) pairs.*" + pick, msg=f"{name}, {said}"):
                    run()
        self.assertEqual(os.listdir(self.d), [])                  # nothing written, not even the folders

    def test_inputs_and_targets_of_different_lengths_are_named_as_such(self):
        # 16 inputs and 20 targets exported 16 samples without a word; 20 and 16 warned of a fallback to the loop, then
        # failed with torch's batch size error
        m = small_model()
        _, x, y = data(20)
        for xs, ys, index in ((x[:16], y, 0), (x, y[:16], 0)):
            for engine in ("auto", "loop"):
                with self.assertRaisesRegex(ValueError, rf"batch {index} has {xs.shape[0]} inputs but {ys.shape[0]} targets"):
                    ft.export(m, (xs, ys), n_samples=64, out_dir=os.path.join(self.d, engine), engine=engine)
        batches = [(x[:6], y[:6]), (x[6:10], y[6:12])]
        with self.assertRaisesRegex(ValueError, r"batch 1 has 4 inputs but 6 targets"):
            ft.export(m, batches, n_samples=64, out_dir=os.path.join(self.d, "second"))
        with self.assertRaisesRegex(ValueError, r"batch 1 has 4 inputs but 6 targets"):
            ft.gradcmd.prepare(m, batches, os.path.join(self.d, "session"), n_samples=64)
        with self.assertRaisesRegex(ValueError, r"batch 0 has 20 inputs but targets without a sample dimension"):
            ft.export(m, (x, y[0]), n_samples=64, out_dir=os.path.join(self.d, "scalar"))

    def test_a_number_of_stages_below_one_is_named_as_such(self):
        # stages=0 through the CLI route came back as the CLI's "--schedule ... does not apply with --stages 1"
        m = small_model()
        batches, _, _ = data()
        for stages in (0, -1, 1.5):
            for source in ("cli", "python"):
                with self.assertRaisesRegex(ValueError, "stages must be a whole number of stages, at least 1, not "
                                            + re.escape(repr(stages))):   # before the CLI is run
                    ft.prune(m, batches, method="falcon++", stages=stages, gradient_source=source,
                             cli=ft.FalconCLI(command=["false"]), work_dir=self.d)
        self.assertEqual(os.listdir(self.d), [])

    def test_a_budget_fraction_outside_zero_to_one_is_refused_before_any_export(self):
        # keep_flops=30 (meant as 30%) was refused by the CLI only after the whole export, and for falcon++ through the
        # CLI after the gradient session was written too
        m = small_model()
        batches, _, _ = data()
        cli = ft.FalconCLI(command=["/bin/false"])          # any run of it fails with exit code 1
        for keyword, value in (("keep_flops", 30), ("keep_flops", 0.0), ("keep_flops", -0.1),
                               ("keep_flops", float("nan")), ("keep_flops", float("inf")), ("keep_nnz", 0),
                               ("keep_nnz", 1.5)):
            for method, source in (("mp", "auto"), ("falcon++", "cli"), ("falcon++", "python")):
                with self.subTest(keyword=keyword, value=value, method=method, source=source):
                    # the CLI's alternative for 0, an absolute budget of 0, was left out
                    flag = "--flops" if keyword == "keep_flops" else "--nnz"
                    on_purpose = (f", or {keyword}=None with extra_args=['{flag}', '0'] to prune every weight on "
                                  "purpose") if value == 0 else ""
                    with self.assertRaisesRegex(ValueError, rf"^{keyword}=: is {re.escape(repr(value))}, outside the "
                                                            rf"valid range \(0, 1\]; give the fraction to keep, e\.g\. "
                                                            rf"{keyword}=0\.3{re.escape(on_purpose)}$"):
                        ft.prune(m, batches, method=method, gradient_source=source, cli=cli, n_samples=4,
                                 work_dir=self.d, **{keyword: value})
        with self.assertRaisesRegex(ValueError, r"^keep_flops=: is '30%', not a number; give the fraction to keep"):
            ft.prune(m, batches, keep_flops="30%", cli=cli, n_samples=4, work_dir=self.d)
        self.assertEqual(os.listdir(self.d), [])
        # a 0-d tensor and a numpy scalar are numbers, as they were before the check: refused as "not a number"
        for value in (torch.tensor(0.5), np.float32(0.5), np.int64(1)):
            with self.subTest(value=value):
                with self.assertRaisesRegex(ft.FalconError, r"falcon exited with 1"):
                    ft.prune(m, batches, keep_flops=value, cli=cli, n_samples=4, work_dir=self.d)
        with self.assertRaisesRegex(ValueError, r"^keep_flops=: is tensor\(\[0.5000, 0.5000\]\), not a number"):
            ft.prune(m, batches, keep_flops=torch.tensor([0.5, 0.5]), cli=cli, n_samples=4, work_dir=self.d)

    def test_falcon_plus_plus_flags_of_the_cli_in_the_method_name_the_prune_arguments(self):
        # "falcon++ --start-keep-flops 0.8" reached the CLI as "falcon --start-keep-flops 0.8" and was refused as "only
        # applies to --method falcon++; drop it, or use --method falcon++", though the user had
        m = small_model()
        batches, _, _ = data()
        cli = ft.FalconCLI(command=["/bin/false"])          # refused before the CLI is asked anything
        for method, extra, fix in (("falcon++ --stages 2", (), r"stages=T"),
                                   ("falcon++ --schedule=linear", (), r"schedule='poly'\|'linear'"),
                                   ("falcon++", ["--start-keep-flops", "0.8"], r"start from the dense model"),
                                   ("falcon++ --grads-command-timeout 5m", (), r"grads_command_timeout=")):
            flag = (method.split()[1:] or extra)[0].split("=")[0]
            with self.assertRaisesRegex(ValueError, rf"method='falcon\+\+ \.\.\.' with {flag}: prune runs the falcon\+\+ "
                                                    rf"stages itself .*{fix}"):
                ft.prune(m, batches, method=method, extra_args=extra, cli=cli, n_samples=4)

    def test_a_grads_command_timeout_that_is_no_duration_is_refused_before_any_run(self):
        # "2x" was passed on as it was and refused by the CLI, after the whole export of stage 0
        m = small_model()
        batches, _, _ = data()
        cli = ft.FalconCLI(command=["/bin/false"])          # any run of it fails with exit code 1
        for value, why in (("2x", r"'2x' is not a duration: give seconds \(90\) or a number with s, m or h"),
                           ("15 min", r"'15 min' is not a duration"), ("0s", r"'0s' must be more than 0"),
                           ("-5m", r"'-5m' must be more than 0")):
            with self.assertRaisesRegex(ValueError, f"grads_command_timeout {why}"):
                ft.prune(m, batches, method="falcon++", grads_command_timeout=value, cli=cli, n_samples=4)
        for value in ("90", "1.5m", " 2H ", ".5s"):                 # the CLI's grammar: on to the CLI
            with self.assertRaises(ft.FalconError):
                ft.prune(m, batches, method="falcon++", grads_command_timeout=value, cli=cli, n_samples=4)

    def test_failed_export_leaves_no_partial_x(self):
        def failing_loss(out, y):
            raise RuntimeError("loss failed")
        m = small_model()
        batches, _, _ = data()
        with self.assertRaisesRegex(RuntimeError, "loss failed"):
            ft.export(m, batches, n_samples=8, out_dir=self.d, loss_fn=failing_loss)
        self.assertEqual(sorted(os.listdir(self.d)), [])
        self.assertTrue(m.training)

    def test_an_export_refused_on_its_input_leaves_no_folder_it_made(self):
        # out_dir was made before the prunable names and the loss_fn were checked: each refusal left it behind, empty
        m = small_model()
        batches, _, _ = data()
        for name, kw, error in (("names", dict(prunable=["nope"]), "prunable entry 'nope'"),
                                ("item", dict(loss_fn=lambda o, y: o.sum().item()), "loss_fn returned a float"),
                                ("deep/er", dict(prunable=["nope"]), "prunable entry 'nope'"),
                                # parents found on the normalized path, made on the path as written: 'new' was left
                                ("new/../out", dict(prunable=["nope"]), "prunable entry 'nope'"),
                                ("a/./b/../c/d", dict(prunable=["nope"]), "prunable entry 'nope'")):
            with self.subTest(name=name):
                with self.assertRaisesRegex(ValueError, error):
                    ft.export(m, batches, n_samples=4, out_dir=os.path.join(self.d, name), **kw)
                self.assertEqual(os.listdir(self.d), [])
        # a folder that was there before stays, as it was
        with self.assertRaisesRegex(ValueError, "prunable entry 'nope'"):
            ft.export(m, batches, n_samples=4, out_dir=self.d, prunable=["nope"])
        self.assertTrue(os.path.isdir(self.d))

    def test_auto_engine_says_when_it_falls_back_to_the_loop(self):
        # engine="auto" switched to the several times slower loop on any vmap error without a word
        class Branchy(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 5)

            def forward(self, x):
                out = self.fc(x.flatten(1))
                return out * 2 if out.sum() > 0 else out  # data-dependent control flow: vmap cannot run it
        torch.manual_seed(0)
        batches, _, _ = data()
        loop_dir, auto_dir = os.path.join(self.d, "loop"), os.path.join(self.d, "auto")
        m = Branchy()
        ft.export(m, batches, n_samples=6, out_dir=loop_dir, engine="loop")
        with self.assertWarnsRegex(RuntimeWarning, "vmap failed .*falling back to one backward pass per sample"):
            ft.export(m, batches, n_samples=6, out_dir=auto_dir, engine="auto")
        np.testing.assert_array_equal(np.load(os.path.join(auto_dir, "X.npy")), np.load(os.path.join(loop_dir, "X.npy")))

    def test_an_interrupt_while_rescaling_leaves_no_partial_file(self):
        # fewer samples than asked: X is rescaled into a second file, which an interrupt left behind
        import importlib
        export_module = importlib.import_module("falcon_torch.export")
        real_replace = export_module.os.replace

        def interrupted(src, dst):
            if src.endswith(".part2.npy"):
                raise KeyboardInterrupt
            return real_replace(src, dst)
        batches, _, _ = data(n=5)
        export_module.os.replace = interrupted
        try:
            with self.assertRaises(KeyboardInterrupt):
                ft.export(small_model(), batches, n_samples=8, out_dir=self.d)
        finally:
            export_module.os.replace = real_replace
        self.assertEqual(sorted(os.listdir(self.d)), [])

    def test_failed_export_leaves_an_earlier_export_as_it_was(self):
        # w.npy was replaced before X failed: the folder held the new weights with the old X and layers.json
        def failing_loss(out, y):
            raise RuntimeError("loss failed")
        batches, _, _ = data()
        ft.export(small_model(), batches, n_samples=8, out_dir=self.d)
        before = {f: open(os.path.join(self.d, f), "rb").read() for f in os.listdir(self.d)}
        changed = small_model()
        with torch.no_grad():
            changed[0].weight.mul_(2)
        with self.assertRaisesRegex(RuntimeError, "loss failed"):
            ft.export(changed, batches, n_samples=8, out_dir=self.d, loss_fn=failing_loss)
        self.assertEqual({f: open(os.path.join(self.d, f), "rb").read() for f in os.listdir(self.d)}, before)

    def test_weights_only_export_warns_of_an_earlier_x_left_beside_it(self):
        batches, _, _ = data()
        ft.export(small_model(), batches, n_samples=4, out_dir=self.d)
        with self.assertWarnsRegex(RuntimeWarning, "X.npy was not rewritten"):
            ft.export(small_model(), batches, out_dir=self.d, grads=False)
        other = os.path.join(self.d, "fresh")
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ft.export(small_model(), batches, out_dir=other, grads=False)

    def test_apply_round_trip(self):
        m = small_model()
        batches, x, _ = data()
        ex = ft.export(m, batches, n_samples=3, out_dir=self.d, grads=False)
        w = np.load(ex.weights_path)
        pruned = w.copy()
        pruned[::3] = 0
        np.save(os.path.join(self.d, "pruned.npy"), pruned)
        m2 = small_model()
        with torch.no_grad():
            for prm in m2.parameters():
                prm.add_(1.0)
        masks = ft.apply(m2, os.path.join(self.d, "pruned.npy"), ex.layers_path)
        self.assertEqual(sorted(masks), ["0.weight", "3.weight", "6.weight"])
        flat = torch.cat([m2[0].weight.reshape(-1), m2[3].weight.reshape(-1), m2[6].weight.reshape(-1)])
        np.testing.assert_array_equal(flat.detach().numpy(), pruned)
        flat_mask = torch.cat([masks[k].reshape(-1) for k in ("0.weight", "3.weight", "6.weight")]).numpy()
        np.testing.assert_array_equal(flat_mask, pruned != 0)
        self.assertEqual(masks["3.weight"].shape, m2[3].weight.shape)
        # biases are untouched by apply
        self.assertFalse(torch.equal(m2[0].bias, small_model()[0].bias))
        # apply_masks re-zeroes after an update
        with torch.no_grad():
            m2[6].weight.add_(0.5)
        ft.apply_masks(m2, masks)
        self.assertTrue(torch.all(m2[6].weight[~masks["6.weight"]] == 0))

    def test_apply_keeps_the_float64_value_of_a_weight_the_cli_left_as_it_was(self):
        # the CLI sees and writes float32: magnitude's kept weights came back rounded to float32 in a float64 model
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3)).double()
        with torch.no_grad():
            for prm in m.parameters():
                prm.add_(torch.randn_like(prm) * 1e-9)        # values float32 cannot hold
            m[0].weight[0, 0] = 1e-60                         # rounds to 0 in float32: pruned, it must become 0
        before = {k: v.clone() for k, v in m.state_dict().items()}
        ex = ft.export(m, (torch.randn(4, 5, dtype=torch.float64), torch.zeros(4, dtype=torch.long)), out_dir=self.d,
                       grads=False)
        w = np.load(ex.weights_path)
        pruned = w.copy()
        pruned[1::3] = 0                                      # pruned
        pruned[2::3] += 0.5                                   # changed by the solver
        np.save(os.path.join(self.d, "pruned.npy"), pruned)
        ft.apply(m, os.path.join(self.d, "pruned.npy"), ex.layers_path)
        after = torch.cat([m[0].weight.detach().reshape(-1), m[2].weight.detach().reshape(-1)])
        old = torch.cat([before["0.weight"].reshape(-1), before["2.weight"].reshape(-1)])
        kept = torch.from_numpy((np.arange(w.size) % 3 == 0) & (w != 0))
        self.assertTrue(torch.equal(after[kept], old[kept]))  # bit for bit, not float32's rounding of them
        self.assertTrue(torch.all(after[1::3] == 0))
        self.assertEqual(float(after[0]), 0.0)                # the 1e-60 weight is 0 in float32 (its pruned value)
        np.testing.assert_array_equal(after[2::3].numpy(), pruned[2::3].astype(np.float64))
        for k in ("0.bias", "2.bias"):
            self.assertTrue(torch.equal(m.state_dict()[k], before[k]))

    def test_apply_rejects_mismatch(self):
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, out_dir=self.d, grads=False)
        np.save(os.path.join(self.d, "short.npy"), np.zeros(5, np.float32))
        with self.assertRaisesRegex(ValueError, "values"):
            ft.apply(m, os.path.join(self.d, "short.npy"), ex.layers_path)
        other = nn.Sequential(nn.Conv2d(1, 2, 3))
        np.save(os.path.join(self.d, "p.npy"), np.load(ex.weights_path))
        with self.assertRaises(ValueError):
            ft.apply(other, os.path.join(self.d, "p.npy"), ex.layers_path)

    def pruned_and_mask_saved(self):
        """A small model exported, every other weight pruned: pruned.npy and its mask.npy saved; (model, export, pruned)."""
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, out_dir=self.d, grads=False)
        pruned = np.load(ex.weights_path)
        pruned[::2] = 0
        np.save(os.path.join(self.d, "pruned.npy"), pruned)
        np.save(os.path.join(self.d, "mask.npy"), pruned != 0)
        return m, ex, pruned

    def test_apply_rejects_a_mask_of_another_run(self):
        # same number of weights, but the mask prunes weights the pruned file kept: the model would be a mix of both
        m, ex, pruned = self.pruned_and_mask_saved()
        np.save(os.path.join(self.d, "other-mask.npy"), np.arange(ex.p) % 3 != 0)
        before = {k: v.clone() for k, v in m.state_dict().items()}
        with self.assertRaisesRegex(ValueError, r"other-mask\.npy does not belong to .*pruned\.npy"):
            ft.apply(m, os.path.join(self.d, "pruned.npy"), ex.layers_path, mask_path=os.path.join(self.d, "other-mask.npy"))
        self.assertTrue(all(torch.equal(v, before[k]) for k, v in m.state_dict().items()))
        # a kept weight may be exactly zero: the mask of the same run is accepted whatever the values
        mask = pruned != 0
        mask[0] = True
        np.save(os.path.join(self.d, "mask.npy"), mask)
        masks = ft.apply(m, os.path.join(self.d, "pruned.npy"), ex.layers_path, mask_path=os.path.join(self.d, "mask.npy"))
        self.assertTrue(bool(masks["0.weight"].reshape(-1)[0]))

    def test_apply_refuses_a_mask_as_the_pruned_weights(self):
        # apply(m, "mask.npy", layers, mask_path="pruned.npy"), the files swapped, wrote 1.0 into every kept weight
        m, ex, pruned = self.pruned_and_mask_saved()
        np.save(os.path.join(self.d, "mask-u8.npy"), (pruned != 0).astype(np.uint8))
        before = {k: v.clone() for k, v in m.state_dict().items()}
        with self.assertRaisesRegex(ValueError, r"mask\.npy holds booleans, a mask, not pruned weights \(.*pruned\.npy "
                                                r"and .*mask\.npy look swapped\)"):
            ft.apply(m, os.path.join(self.d, "mask.npy"), ex.layers_path, mask_path=os.path.join(self.d, "pruned.npy"))
        with self.assertRaisesRegex(ValueError, r"mask-u8\.npy holds 0s and 1s only, a mask, not pruned weights: give"):
            ft.apply(m, os.path.join(self.d, "mask-u8.npy"), ex.layers_path)
        self.assertTrue(all(torch.equal(v, before[k]) for k, v in m.state_dict().items()))

    def test_apply_refuses_a_mask_stored_as_floats_as_the_pruned_weights(self):
        # mask.astype(np.float32) (or torch's mask.float()) given as the pruned weights passed where the same mask as
        # booleans or 0/1 integers was refused, and wrote 1.0 into every kept weight
        m, ex, pruned = self.pruned_and_mask_saved()
        before = {k: v.clone() for k, v in m.state_dict().items()}
        for dtype in (np.float32, np.float64, np.float16):
            name = f"mask-{np.dtype(dtype).name}.npy"
            np.save(os.path.join(self.d, name), (pruned != 0).astype(dtype))
            with self.subTest(dtype=np.dtype(dtype).name):
                with self.assertRaisesRegex(ValueError, re.escape(name) + r" holds 0s and 1s only, a mask, not pruned "
                                                        r"weights \(.*pruned\.npy and .*look swapped\): give"):
                    ft.apply(m, os.path.join(self.d, name), ex.layers_path, mask_path=os.path.join(self.d, "pruned.npy"))
        write_safetensors(os.path.join(self.d, "mask.safetensors"), {"mask": (pruned != 0).astype(np.float32)})
        with self.assertRaisesRegex(ValueError, r"mask\.safetensors holds 0s and 1s only, a mask, not pruned weights: "):
            ft.apply(m, os.path.join(self.d, "mask.safetensors"), ex.layers_path)
        self.assertTrue(all(torch.equal(v, before[k]) for k, v in m.state_dict().items()))
        # pruned weights are accepted: a kept weight of exactly 1.0 among others, and every weight pruned (all zeros)
        ones_and_real = pruned.copy()
        ones_and_real[1] = 1.0
        for case, values in (("one-kept-weight-1.0", ones_and_real), ("all-pruned", np.zeros_like(pruned))):
            with self.subTest(case=case):
                path = os.path.join(self.d, case + ".npy")
                np.save(path, values)
                ft.apply(m, path, ex.layers_path)
                flat = torch.cat([m[0].weight.reshape(-1), m[3].weight.reshape(-1), m[6].weight.reshape(-1)])
                np.testing.assert_array_equal(flat.detach().numpy(), values)

    def test_apply_takes_pruned_weights_that_are_all_1_where_the_model_holds_1(self):
        # mp and magnitude keep the weights' values: a layer set to ones (nn.init.ones_) and every other weight pruned
        # is a pruned file of 0s and 1s only, which apply refused as "a mask, not pruned weights", with mask_path also
        # calling the two files swapped
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
        nn.init.ones_(m[0].weight)
        ex = ft.export(m, [(torch.randn(8, 4), torch.randint(0, 2, (8,)))], out_dir=self.d, grads=False)
        pruned = np.load(ex.weights_path).copy()
        pruned[24:] = 0                                       # layer 2 pruned, layer 0's ones kept
        pruned[:24:5] = 0                                     # and some of layer 0's
        np.save(os.path.join(self.d, "pruned.npy"), pruned)
        np.save(os.path.join(self.d, "mask.npy"), pruned != 0)
        for mask_path in (None, os.path.join(self.d, "mask.npy")):
            with self.subTest(mask_path=mask_path):
                masks = ft.apply(m, os.path.join(self.d, "pruned.npy"), ex.layers_path, mask_path=mask_path)
                flat = torch.cat([m[0].weight.reshape(-1), m[2].weight.reshape(-1)])
                np.testing.assert_array_equal(flat.detach().numpy(), pruned)
                np.testing.assert_array_equal(
                    torch.cat([masks["0.weight"].reshape(-1), masks["2.weight"].reshape(-1)]).numpy(), pruned != 0)
        # a float mask is still refused where the model holds other values than 1, but with the matching bool mask as
        # mask_path the files are not swapped
        other = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
        with self.assertRaisesRegex(ValueError, r"pruned\.npy holds 0s and 1s only, a mask, not pruned weights: give"):
            ft.apply(other, os.path.join(self.d, "pruned.npy"), ex.layers_path, mask_path=os.path.join(self.d, "mask.npy"))

    def test_apply_names_a_file_that_is_not_a_layer_table(self):
        # a report given for the layers was a bare KeyError: 'layers'
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, out_dir=self.d, grads=False)
        cases = {"report.json": '{"method": "mp"}', "cut.json": '{"layers": [{"na',
                 "nofl.json": '{"layers": [{"name": "0.weight", "shape": [3, 1, 3, 3]}]}'}
        expected = {"report.json": r"no 'layers' list", "cut.json": r"not JSON",
                    "nofl.json": r"layers\[0\] has no 'flops_per_weight'"}
        for name, text in cases.items():
            path = os.path.join(self.d, name)
            with open(path, "w") as f:
                f.write(text)
            with self.assertRaisesRegex(ValueError, re.escape(path) + ": " + expected[name] + ".*falcon_torch.export"):
                ft.apply(m, ex.weights_path, path)

    def test_apply_names_safetensors_tensors_and_extensions_as_the_cli_does(self):
        # the CLI splits "FILE.safetensors:NAME" at the first ".safetensors:", in any case, and writes --out
        # OUT.SAFETENSORS; apply split at the last ':' ("No such file or directory: '...w.safetensors:enc:0/weight'")
        # and read OUT.SAFETENSORS as an .npy ("Cannot load file containing pickled data")
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, n_samples=3, out_dir=self.d, grads=False)
        pruned = np.load(ex.weights_path).copy()
        pruned[::4] = 0
        other = np.ones(3, np.float32)
        files = {"w.safetensors": {"enc:0/weight": pruned, "other": other},
                 "OU.SAFETENSORS": {"weights": pruned},
                 "Mixed.SafeTensors": {"a.safetensors:b": pruned, "c": other}}
        for name, tensors in files.items():
            write_safetensors(os.path.join(self.d, name), tensors)
        for spec in ("w.safetensors:enc:0/weight", "OU.SAFETENSORS", "OU.SAFETENSORS:weights",
                     "Mixed.SafeTensors:a.safetensors:b"):
            model = small_model()
            masks = ft.apply(model, os.path.join(self.d, spec), ex.layers_path)
            flat = torch.cat([model[i].weight.detach().reshape(-1) for i in (0, 3, 6)]).numpy()
            np.testing.assert_array_equal(flat, pruned, spec)
            self.assertEqual(sorted(masks), ["0.weight", "3.weight", "6.weight"], spec)
        # a tensor the file does not hold is named as the CLI names it, after the first ".safetensors:"
        with self.assertRaisesRegex(ValueError, re.escape(os.path.join(self.d, "w.safetensors")) + " has no tensor "
                                    + re.escape(repr("enc:1/weight"))):
            ft.apply(small_model(), os.path.join(self.d, "w.safetensors:enc:1/weight"), ex.layers_path)

    def test_the_safetensors_reader_refuses_the_headers_the_cli_refuses_with_its_reasons(self):
        # each was read (a key given twice: the second, F64 (18,), not the F32 (36,) the CLI refuses; shape [35] or
        # [36.0] over 144 bytes: 36 values; a BOM before '{') or refused for another reason (a 2^40 header length: "its
        # header is not JSON"; no tensors: "holds 0 tensors (); name the one to read")
        from falcon_torch.apply import _read_flat
        values = np.arange(36, dtype="<f4").tobytes()

        def write(name, header: bytes, data=values, length=None):
            path = os.path.join(self.d, name)
            with open(path, "wb") as f:
                f.write((len(header) if length is None else length).to_bytes(8, "little") + header + data)
            return path

        f32 = '{"dtype":"F32","shape":[36],"data_offsets":[0,144]}'
        for name, header, data, length, said in (
                ("twice", '{"w":' + f32 + ',"w":{"dtype":"F64","shape":[18],"data_offsets":[0,144]}}', values, None,
                 "header: invalid JSON (the key 'w' is given twice)"),
                ("short_shape", '{"w":{"dtype":"F32","shape":[35],"data_offsets":[0,144]}}', values, None,
                 "tensor 'w'.data_offsets: [0, 144) holds 144 bytes but shape [35] of F32 needs 140"),
                ("float_shape", '{"w":{"dtype":"F32","shape":[36.0],"data_offsets":[0,144]}}', values, None,
                 "tensor 'w'.shape: entry 0 is 36.0, not a non-negative 64-bit integer"),
                ("bom", '\ufeff{"w":' + f32 + '}', values, None, "header: the JSON header does not start with '{'"),
                ("huge_length", '{"w":' + f32 + '}', values, 2 ** 40,
                 "header: header length 1099511627776 bytes is outside 2..100000000"),
                ("past_the_end", '{"w":' + f32 + '}', b"", 4096,
                 "header: header length 4096 runs past the end of the file ("),
                ("no_tensors", "{}", b"", None, "tensors: holds no tensors; pass the file that holds the array"),
                ("metadata_only", '{"__metadata__":{"k":"v"}}', b"", None,
                 "tensors: holds no tensors (only __metadata__)")):
            with self.subTest(name):
                path = write(name + ".safetensors", header.encode(), data, length)
                with self.assertRaises(ValueError) as cm:
                    _read_flat(path)
                self.assertIn(f"{path}: {said}", str(cm.exception))
        empty = os.path.join(self.d, "empty.safetensors")
        open(empty, "wb").close()
        with self.assertRaisesRegex(ValueError, re.escape(f"{empty}: file: is empty (0 bytes)")):
            _read_flat(empty)
        # the well-formed file still reads
        np.testing.assert_array_equal(np.arange(36, dtype=np.float32),
                                      _read_flat(write("good.safetensors", ('{"w":' + f32 + '}').encode())))

    def test_apply_refuses_a_safetensors_file_whose_tensors_do_not_fill_its_data_area_as_the_cli_does(self):
        # the CLI refuses these (Safetensors.requireTheDataAreaFilledExactly); apply read a header length that left out
        # the padding as weights shifted by a byte ("[4.48e-44 -0. 8.83e-44 2.0000153 ...]"), and read appended
        # bytes, a gap or an overlap without a word
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, n_samples=3, out_dir=self.d, grads=False)
        pruned = np.load(ex.weights_path).astype("<f4")
        data_bytes = pruned.tobytes()
        n = len(data_bytes)

        def write(name, header, length_of=None, data=data_bytes):
            text = json.dumps(header, separators=(",", ":")).encode()
            padded = text + b" " * ((8 - len(text) % 8) % 8)
            path = os.path.join(self.d, name)
            with open(path, "wb") as f:
                f.write(len(length_of(text, padded) if length_of else padded).to_bytes(8, "little") + padded + data)
            return path

        def weights(begin, end, shape=None):
            return {"dtype": "F32", "shape": shape or [(end - begin) // 4], "data_offsets": [begin, end]}

        whole = {"weights": weights(0, n)}
        unpadded = json.dumps(whole, separators=(",", ":")).encode()
        self.assertNotEqual(len(unpadded) % 8, 0, "the short-header case needs padding to leave out")
        damaged = {
            "short.safetensors": (write("short.safetensors", whole, length_of=lambda text, padded: text),
                                  "header length field gives"),
            "appended.safetensors": (write("appended.safetensors", whole, data=data_bytes + b"\0" * 8),
                                     "the tensors end at byte %d of the %d-byte data area" % (n, n + 8)),
            "gap.safetensors": (write("gap.safetensors", {"weights": weights(8, n + 8)}, data=b"\0" * 8 + data_bytes),
                                re.escape("leaves bytes [0, 8) of the data area to no tensor (before it)")),
            "overlap.safetensors": (write("overlap.safetensors", {"weights": weights(0, n), "x": weights(n - 8, n)}),
                                    "overlap tensor"),
        }
        for name, (path, expected) in damaged.items():
            with self.assertRaisesRegex(ValueError, re.escape(path) + ": tensor .*" + expected
                                        + ".*re-save it with safetensors.save_file", msg=name):
                ft.apply(small_model(), path, ex.layers_path)
            with self.assertRaisesRegex(ValueError, re.escape(path), msg=name):
                ft.apply(small_model(), path + ":weights", ex.layers_path)
        # a file as Hugging Face writes it (__metadata__ first, an empty tensor, space padding) is still read
        model = small_model()
        good = write("hf.safetensors", {"__metadata__": {"format": "pt"}, "empty": weights(0, 0, [3, 0]),
                                        "weights": weights(0, n)})
        ft.apply(model, good + ":weights", ex.layers_path)
        flat = torch.cat([model[i].weight.detach().reshape(-1) for i in (0, 3, 6)]).numpy()
        np.testing.assert_array_equal(flat, pruned)

    def test_apply_reads_offset_and_count_of_a_layer_table_by_the_clis_rules(self):
        # the CLI takes "offset": null and "count": null as left out (derived from the shapes); read_layers_json raised
        # a bare "TypeError: int() argument must be ... not 'NoneType'", and a count that disagreed with the shape, or
        # an offset leaving a gap, which the CLI refuses, went unread
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, n_samples=3, out_dir=self.d, grads=False)
        with open(ex.layers_path) as f:
            doc = json.load(f)
        pruned = np.load(ex.weights_path).copy()
        pruned[::5] = 0
        np.save(os.path.join(self.d, "pruned.npy"), pruned)

        def table(name, **fields):
            changed = json.loads(json.dumps(doc))
            changed["layers"][1].update(fields)
            path = os.path.join(self.d, name)
            with open(path, "w") as f:
                json.dump(changed, f)
            return path
        from falcon_torch.export import read_layers_json
        derived = table("null.json", offset=None, count=None)
        self.assertEqual([(l.offset, l.count) for l in read_layers_json(derived)],
                         [(l.offset, l.count) for l in read_layers_json(ex.layers_path)])
        model = small_model()
        ft.apply(model, os.path.join(self.d, "pruned.npy"), derived)
        flat = torch.cat([model[i].weight.detach().reshape(-1) for i in (0, 3, 6)]).numpy()
        np.testing.assert_array_equal(flat, pruned)
        second = doc["layers"][1]
        where = re.escape(f'layers[1] ("{second["name"]}")')
        refused = {"float.json": ({"offset": float(second["offset"])}, where + r"\.offset: is 27\.0, not an integer >= 0"),
                   "string.json": ({"count": str(second["count"])}, where + r"\.count: is '108', not an integer >= 1"),
                   "bool.json": ({"count": True}, where + r"\.count: is True, not an integer >= 1"),
                   "count.json": ({"count": 100}, where + r"\.count: is 100 but shape \[4, 3, 3, 3\] has 108 elements"),
                   "gap.json": ({"offset": 30}, where + r"\.offset: is 30 but the previous layers end at 27 \(a gap\)"),
                   "shape.json": ({"shape": [4, 3, 3, 3.0]}, where + r"\.shape: entry 3 is 3\.0, not an integer >= 1")}
        for name, (fields, expected) in refused.items():
            path = table(name, **fields)
            with self.assertRaisesRegex(ValueError, re.escape(path) + ": " + expected):
                ft.apply(small_model(), os.path.join(self.d, "pruned.npy"), path)

    def assert_layer_tables_refused(self, tables):
        """Each {file name: (JSON document, expected message)} written to self.d is refused by read_layers_json with
        exactly "PATH: expected"."""
        from falcon_torch.export import read_layers_json
        for name, (doc, expected) in tables.items():
            path = os.path.join(self.d, name)
            with open(path, "w") as f:
                json.dump(doc, f)
            with self.subTest(name):
                with self.assertRaises(ValueError) as refused:
                    read_layers_json(path)
                self.assertEqual(f"{path}: {expected}", str(refused.exception))

    def test_read_layers_json_refuses_the_names_and_costs_the_cli_refuses(self):
        # the CLI (LayersJson, LayerTable) refuses an empty, non-string or duplicate name, a control character in one,
        # and a flops_per_weight that is no positive finite number, in these words (checked with falcon inspect);
        # read_layers_json took them all, so apply took tables the CLI refuses
        from falcon_torch.export import read_layers_json
        a = {"name": "a", "shape": [20], "flops_per_weight": 2}
        b = {"name": "b", "shape": [20], "flops_per_weight": 1}
        cost_fix = "give the FLOPs one nonzero weight costs (H_out*W_out for a conv, 1 for a linear layer)"
        name_fix = "missing, empty or not a string; give every layer its tensor name"
        positive = "it must be a positive finite number: " + cost_fix
        tables = {"empty.json": ([a, dict(b, name="")], "layers[1].name: " + name_fix),
                  "number.json": ([a, dict(b, name=7)], "layers[1].name: " + name_fix),
                  "control.json": ([a, dict(b, name="b\x1b[2J")],
                                   'layers[1].name: "b\\u001b[2J" has the control character \\u001b at position 1; '
                                   "layer names must not contain control characters (C0, DEL, C1): rename the layer"),
                  "twice.json": ([a, dict(b, name="a")],
                                 'layers[1] ("a").name: duplicates layers[0]; layer names must be unique'),
                  "zero.json": ([a, dict(b, flops_per_weight=0)], 'layers[1] ("b").flops_per_weight: is 0; ' + positive),
                  "negative.json": ([dict(a, flops_per_weight=-2.5), b],
                                    'layers[0] ("a").flops_per_weight: is -2.5; ' + positive),
                  "infinite.json": ([a, dict(b, flops_per_weight=float("inf"))],
                                    'layers[1] ("b").flops_per_weight: is Inf; ' + positive),
                  # an integer beyond a float: an OverflowError traceback, exit 1 where gradcmd maps bad input to 2
                  "huge.json": ([a, dict(b, flops_per_weight=10 ** 400)],
                                'layers[1] ("b").flops_per_weight: is Inf; ' + positive),
                  # 0.0 is json's 0.0 (as 1e-400 is read): the CLI says 0
                  "zero_point_zero.json": ([a, dict(b, flops_per_weight=0.0)],
                                           'layers[1] ("b").flops_per_weight: is 0; ' + positive),
                  "nan.json": ([a, dict(b, flops_per_weight=float("nan"))],
                               'layers[1] ("b").flops_per_weight: is NaN; ' + positive),
                  "text.json": ([a, dict(b, flops_per_weight="1")],
                                'layers[1] ("b").flops_per_weight: missing or not a number; ' + cost_fix),
                  "bool.json": ([a, dict(b, flops_per_weight=True)],
                                'layers[1] ("b").flops_per_weight: missing or not a number; ' + cost_fix)}
        # inf and nan are written as Infinity and NaN, which the CLI's reader takes and refuses
        self.assert_layer_tables_refused({name: ({"layers": layers}, expected) for name, (layers, expected) in tables.items()})
        path = os.path.join(self.d, "good.json")
        with open(path, "w") as f:
            json.dump({"layers": [a, dict(b, flops_per_weight=0.5)]}, f)
        self.assertEqual([(l.name, l.flops_per_weight) for l in read_layers_json(path)], [("a", 2.0), ("b", 0.5)])

    def test_read_layers_json_refuses_the_keys_the_cli_refuses_in_its_words(self):
        # the CLI refuses a key it does not know, and a misspelt "offest" was read here as no offset, the offset it
        # meant derived instead: apply took a table the CLI would not
        from falcon_torch.export import read_layers_json
        layers = [{"name": "a", "shape": [20], "flops_per_weight": 2}, {"name": "b", "shape": [20], "flops_per_weight": 1}]
        known = ("the known keys are name, shape, flops_per_weight, offset, count (and kind, module, which "
                 "falcon_torch.export writes and falcon does not read)")
        tables = {"offest.json": ({"layers": [layers[0], dict(layers[1], offest=20)]},
                                  'layers[1] ("b"): unknown key "offest" (did you mean "offset"?); ' + known
                                  + '; rename it to "offset"'),
                  "cuont.json": ({"layers": [dict(layers[0], cuont=20), layers[1]]},
                                 'layers[0] ("a"): unknown key "cuont" (did you mean "count"?); ' + known
                                 + '; rename it to "count"'),
                  "extra.json": ({"layers": [dict(layers[0], extra=1), layers[1]]},
                                 'layers[0] ("a"): unknown key "extra"; ' + known + "; fix or remove it"),
                  "top.json": ({"layers": layers, "total_params": 41},
                               'json: unknown top-level key "total_params"; the known keys are layers (and format, '
                               "version, dense_flops, parameters, n_samples, gradient_scale, flops_unit, which "
                               "falcon_torch.export writes and falcon does not read); fix or remove it")}
        self.assert_layer_tables_refused(tables)
        # what the exporter writes beside the CLI's keys is read
        path = os.path.join(self.d, "exporter.json")
        with open(path, "w") as f:
            json.dump({"format": "falcon-layers", "version": 1, "dense_flops": 60, "parameters": 40, "n_samples": 8,
                       "gradient_scale": "1/sqrt(n)", "flops_unit": "multiply-adds per sample",
                       "layers": [dict(layers[0], kind="Linear", module="a"), layers[1]]}, f)
        self.assertEqual([("a", 0, 20), ("b", 20, 20)], [(l.name, l.offset, l.count) for l in read_layers_json(path)])

    def test_read_layers_json_names_a_report_as_the_cli_does(self):
        # falcon prune's --report is a .json falcon wrote, whole but no layer table: the CLI (LayersJson) names it so,
        # and read_layers_json refused its first key as unknown, telling the user to "fix or remove it" in falcon's own
        # report
        table = ('give the layer table the run read (the report\'s inputs.files.layers), or write {"layers": [{"name": ..., '
                 '"shape": [...], "flops_per_weight": ...}, ...]}')
        layers = [{"name": "a", "shape": [20], "flops_per_weight": 2}]
        self.assert_layer_tables_refused({
            "report.json": ({"falcon_version": "dev", "budgets": [], "layers": layers},
                            'json: is a falcon prune report (it has "falcon_version"), not a layer table; ' + table),
            "budgets.json": ({"budgets": [], "layers": layers},
                             'json: is a falcon prune report (it has "budgets"), not a layer table; ' + table)})

    def test_failed_apply_leaves_the_model_as_it_was(self):
        # the first layer matches, the last one does not: nothing may be written before the mismatch is found
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, out_dir=self.d, grads=False)
        np.save(os.path.join(self.d, "p.npy"), np.zeros(ex.p, np.float32))
        other = nn.Sequential(*small_model()[:6], nn.Linear(4 * 4 * 4, 6))
        before = {k: v.clone() for k, v in other.state_dict().items()}
        with self.assertRaisesRegex(ValueError, r"6\.weight.*shape \[5, 64\].*\[6, 64\]"):
            ft.apply(other, os.path.join(self.d, "p.npy"), ex.layers_path)
        changed = [k for k, v in other.state_dict().items() if not torch.equal(v, before[k])]
        self.assertEqual(changed, [])

    def test_gradient_command_matches_export(self):
        import subprocess, sys
        from _util import PYTHON_DIR
        m = small_model()
        batches, _, _ = data()
        session = ft.gradcmd.prepare(m, batches, os.path.join(self.d, "session"), n_samples=8)
        w = np.load(os.path.join(session, "w.npy"))
        w[::4] = 0
        np.save(os.path.join(self.d, "w_stage.npy"), w)
        env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
        cmd = ft.gradcmd.command(session) + ["--weights", os.path.join(self.d, "w_stage.npy"),
                                             "--out", os.path.join(self.d, "X_stage.npy")]
        ok = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
        # runpy warned on every run while the package imported gradcmd itself
        self.assertNotIn("Warning", ok.stderr)
        np.save(os.path.join(self.d, "pruned.npy"), w)
        ft.apply(m, os.path.join(self.d, "pruned.npy"), os.path.join(session, "layers.json"))
        ex = ft.export(m, batches, n_samples=8, out_dir=os.path.join(self.d, "ref"))
        np.testing.assert_allclose(np.load(os.path.join(self.d, "X_stage.npy")), np.load(ex.grads_path),
                                   rtol=1e-4, atol=1e-6)
        bad = subprocess.run(ft.gradcmd.command(session) + ["--weights", os.path.join(self.d, "X_stage.npy"),
                                                            "--out", os.path.join(self.d, "Y.npy")],
                             env=env, capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2, bad.stderr)

    def test_apply_across_a_data_parallel_wrapper_names_the_module_prefix(self):
        # an export of nn.DataParallel(m) names its layers 'module.0.weight': applied to m it was refused as "not a
        # parameter" without a word of the prefix, and the other way round too; the first hint said "apply it to the
        # wrapped model", read as the module inside the wrapper, the model just refused
        m = small_model()
        batches, _, _ = data()
        wrapped = torch.nn.DataParallel(m)
        for i, (exported_from, applied_to, fix) in enumerate(((wrapped, m, "apply it to that wrapper, not to the module "
                                                                           "inside it, or export the module itself"),
                                                              (m, wrapped, "apply it to model.module"))):
            ex = ft.export(exported_from, batches, n_samples=4, out_dir=os.path.join(self.d, f"export{i}"), grads=False)
            with self.assertRaises(ValueError) as e:
                ft.apply(applied_to, ex.weights_path, ex.layers_path)
            self.assertIn("whose names start with 'module.': " + fix, str(e.exception))

    def test_gradient_command_names_a_folder_that_is_no_session_and_weights_that_are_no_npy(self):
        m = small_model()
        batches, _, _ = data()
        session = ft.gradcmd.prepare(m, batches, os.path.join(self.d, "session"), n_samples=8)
        out = os.path.join(self.d, "X.npy")
        with self.assertRaises(FileNotFoundError) as e:
            ft.gradcmd.gradients_at(self.d, os.path.join(session, "w.npy"), out)
        self.assertIn(f"--session {self.d}: not a gradient session (no layers.json, model.pt, calib.pt)", str(e.exception))
        for name, content in (("w.txt", b"1 2 3\n"), ("w.pt", None)):
            path = os.path.join(self.d, name)
            if content is None:
                torch.save(torch.zeros(3), path)
            else:
                with open(path, "wb") as f:
                    f.write(content)
            with self.assertRaises(ValueError) as e:
                ft.gradcmd.gradients_at(session, path, out)
            self.assertIn(f"--weights {path}: not a .npy array of weights", str(e.exception))
        self.assertFalse(os.path.exists(out))

    def test_gradient_command_refuses_weights_with_nan_or_inf_of_an_integer_dtype_or_of_two_dimensions(self):
        # exit 0 for all three: a NaN weight gave an X almost all NaN, integer weights were cast to float32, and a (1, p)
        # array was flattened as if the CLI had written it, where only the count was checked
        import contextlib, io
        batches, _, _ = data()
        session = ft.gradcmd.prepare(small_model(), batches, os.path.join(self.d, "session"), n_samples=4)
        w = np.load(os.path.join(session, "w.npy"))
        p = w.size
        out = os.path.join(self.d, "X.npy")
        with_nan, with_inf = w.copy(), w.copy()
        with_nan[5] = np.nan
        with_inf[7] = -np.inf
        with_inf[9] = np.nan
        for name, weights, said in (
                ("nan.npy", with_nan, "holds NaN at index 5 (the first value that is not finite)"),
                ("inf.npy", with_inf, "holds -inf at index 7 (the first value that is not finite)"),
                ("int.npy", np.arange(p, dtype=np.int64), "is of dtype int64, not floating point"),
                ("row.npy", w.reshape(1, p), f"has shape (1, {p}), not ({p},)")):
            with self.subTest(name):
                path = os.path.join(self.d, name)
                np.save(path, weights)
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    rc = ft.gradcmd.main(["--session", session, "--weights", path, "--out", out])
                self.assertEqual(2, rc, err.getvalue())
                self.assertIn(f"falcon_torch.gradcmd: --weights {path}: {said}", err.getvalue())
                self.assertFalse(os.path.exists(out))
        # the CLI's own float32 weights, and float64 ones, still run
        for dtype in (np.float32, np.float64):
            path = os.path.join(self.d, "ok.npy")
            np.save(path, w.astype(dtype))
            self.assertEqual(4, ft.gradcmd.gradients_at(session, path, out))

    def test_export_and_prune_warn_when_the_batches_hold_fewer_samples_than_n_samples(self):
        # ex.n was 64 for n_samples=100 without a word: X, and so the Fisher and the pruning, rested on fewer samples
        # than asked for
        import sys, warnings
        batches, _, _ = data(7)
        said = r"batches held 7 samples, fewer than n_samples=100: X has 7 rows"
        with self.assertWarnsRegex(RuntimeWarning, said):
            ex = ft.export(small_model(), batches, n_samples=100, out_dir=os.path.join(self.d, "short"))
        self.assertEqual(7, ex.n)
        stand_in = ("import sys; a = sys.argv[1:]; r = a[a.index('--report') + 1]\n"
                    "if 'falcon-probe-' in r: open(r, 'w').write('{}'); sys.exit(0)\n"
                    "sys.stderr.write('falcon: internal error: a stand-in\\n'); sys.exit(1)")
        cli = ft.FalconCLI(command=[sys.executable, "-c", stand_in])
        with self.assertWarnsRegex(RuntimeWarning, said):
            with self.assertRaisesRegex(ft.FalconError, "a stand-in"):
                ft.prune(small_model(), batches, method="mp", n_samples=100, cli=cli)
        # as many samples as asked for, or more: no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            self.assertEqual(7, ft.export(small_model(), batches, n_samples=7, out_dir=os.path.join(self.d, "all")).n)
            self.assertEqual(5, ft.export(small_model(), batches, n_samples=5, out_dir=os.path.join(self.d, "five")).n)

    def test_prune_warns_once_of_fewer_samples_than_n_samples_at_its_caller_s_line(self):
        # the warning's stacklevel=2 named a line of falcon_torch/drive.py, not the caller's, and falcon++ through
        # Python exported (and warned) at every stage: 3 identical warnings for one prune. The stand-in CLI keeps every
        # weight, so every route runs to its end.
        import sys, warnings
        batches, _, _ = data(7)
        stand_in = ("import sys, numpy as np; a = sys.argv[1:]; arg = lambda o: a[a.index(o) + 1]; r = arg('--report')\n"
                    "if 'falcon-probe-' not in r:\n"
                    "    w = np.load(arg('--weights')); np.save(arg('--out'), w)\n"
                    "    np.save(arg('--mask'), np.ones(w.shape, dtype=bool))\n"
                    "open(r, 'w').write('{}')")
        cli = ft.FalconCLI(command=[sys.executable, "-c", stand_in])
        for route in (dict(method="mp"), dict(method="mp", stages=2), dict(method="falcon++", gradient_source="python"),
                      dict(method="falcon++", gradient_source="cli")):
            with self.subTest(**route):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    ft.prune(small_model(), batches, n_samples=100, cli=cli, **route)
                said = [(str(w.message), w.filename) for w in caught if issubclass(w.category, RuntimeWarning)]
                self.assertEqual(1, len(said), said)
                self.assertRegex(said[0][0], r"^batches held 7 samples, fewer than n_samples=100: X has 7 rows")
                self.assertEqual(os.path.abspath(__file__), os.path.abspath(said[0][1]))

    def test_gradient_session_prepare_warns_when_the_batches_hold_fewer_samples_than_n_samples(self):
        # prepare exported with grads=False, and the warning was only given beside X: a session of 7 samples for
        # n_samples=100 was written without a word, though README said prepare warns too
        import warnings
        batches, _, _ = data(7)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            session = ft.gradcmd.prepare(small_model(), batches, os.path.join(self.d, "short"), n_samples=100)
        said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        self.assertEqual(1, len(said), said)
        self.assertRegex(said[0], r"^batches held 7 samples, fewer than n_samples=100: X has 7 rows")
        self.assertEqual(os.path.abspath(__file__), os.path.abspath(caught[0].filename))
        self.assertEqual(7, ft.gradcmd.gradients_at(session, os.path.join(session, "w.npy"),
                                                    os.path.join(self.d, "X.npy")))
        # as many samples as asked for, or more: no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ft.gradcmd.prepare(small_model(), batches, os.path.join(self.d, "all"), n_samples=7)
            ft.gradcmd.prepare(small_model(), batches, os.path.join(self.d, "five"), n_samples=5)

    def test_gradient_command_session_from_a_generator(self):
        # prepare peeked the generator's first batch for the FLOPs, then saved only the batches after it
        m = small_model()
        batches, _, _ = data()
        session = ft.gradcmd.prepare(m, (b for b in batches), os.path.join(self.d, "session"), n_samples=10)
        out = os.path.join(self.d, "X_gen.npy")
        n = ft.gradcmd.gradients_at(session, os.path.join(session, "w.npy"), out)
        ex = ft.export(m, batches, n_samples=10, out_dir=os.path.join(self.d, "ref"))
        self.assertEqual(n, 10)
        np.testing.assert_allclose(np.load(out), np.load(ex.grads_path), rtol=1e-4, atol=1e-6)

    def test_gradient_command_names_a_model_class_it_cannot_import(self):
        # a class the command cannot import ended in a traceback, exit 1, that named falcon_torch.gradcmd as its module
        import importlib, subprocess, sys
        from _util import PYTHON_DIR
        src = os.path.join(self.d, "src")
        os.makedirs(src)
        with open(os.path.join(src, "falcon_test_unreachable_net.py"), "w") as f:
            f.write("from torch import nn\n\nclass Net(nn.Sequential):\n    pass\n")
        sys.path.insert(0, src)
        try:
            m = importlib.import_module("falcon_test_unreachable_net").Net(*small_model())
            batches, _, _ = data()
            session = ft.gradcmd.prepare(m, batches, os.path.join(self.d, "session"), n_samples=4)
        finally:
            sys.path.remove(src)
            sys.modules.pop("falcon_test_unreachable_net", None)
        out = os.path.join(self.d, "X.npy")
        r = subprocess.run(ft.gradcmd.command(session) + ["--weights", os.path.join(session, "w.npy"), "--out", out],
                           env=dict(os.environ, PYTHONPATH=str(PYTHON_DIR)), capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertRegex(r.stderr, r"model\.pt: the model's class cannot be imported .*falcon_test_unreachable_net.*PYTHONPATH")
        self.assertFalse(os.path.exists(out))

    def test_gradient_session_prepare_that_fails_leaves_no_session_and_an_earlier_one_as_it_was(self):
        # torch.save wrote model.pt under its final name and failed while pickling: a truncated model.pt beside
        # calib.pt, w.npy and layers.json looked like a session, and one written over an earlier session ruined it
        import pickle
        batches, _, _ = data()
        session = ft.gradcmd.prepare(small_model(), batches, os.path.join(self.d, "session"), n_samples=4)
        before = {}
        for name in sorted(os.listdir(session)):
            with open(os.path.join(session, name), "rb") as f:
                before[name] = f.read()
        unpicklable = small_model()
        unpicklable.act = lambda t: t          # a local lambda: torch.save cannot pickle it
        fresh = os.path.join(self.d, "fresh")
        for folder in (session, fresh):
            with self.assertRaises((pickle.PicklingError, AttributeError)):
                ft.gradcmd.prepare(unpicklable, batches, folder, n_samples=4)
        after = {}
        for name in sorted(os.listdir(session)):
            with open(os.path.join(session, name), "rb") as f:
                after[name] = f.read()
        self.assertEqual(sorted(after), sorted(before))
        self.assertTrue(after == before, "the earlier session's files changed")
        self.assertFalse(os.path.exists(fresh), os.listdir(fresh) if os.path.isdir(fresh) else None)

    def test_gradient_command_refuses_an_out_it_cannot_write_naming_the_option_and_leaves_no_partial_x(self):
        # --out naming a folder wrote the whole X, then failed to rename it: IsADirectoryError's traceback, exit 1, and
        # the complete X left as outdir.part.npy; a missing folder was reported as X.npy.part.npy, a name never given
        import contextlib, io
        batches, _, _ = data()
        session = ft.gradcmd.prepare(small_model(), batches, os.path.join(self.d, "session"), n_samples=4)
        folder = os.path.join(self.d, "outdir")
        os.mkdir(folder)
        missing = os.path.join(self.d, "nonexistent", "X.npy")
        for out, said in ((folder, f"--out {folder}: is a folder; give the file to write X to, e.g. "
                                   f"{os.path.join(folder, 'X.npy')}"),
                          (missing, f"--out {missing}: the folder {os.path.dirname(missing)} does not exist; create "
                                    "it or give a file in a folder that does"),
                          # an unset variable: refused by the rename after the whole X, "'.part.npy' -> ''"
                          ("", "--out '': the name is empty (an unset shell variable?); give the file to write X to, "
                               "e.g. X.npy"),
                          # a folder that does not exist yet: "No such file or directory: 'nosuch/.part.npy'"
                          (os.path.join(self.d, "nosuch") + os.sep,
                           f"--out {os.path.join(self.d, 'nosuch', '')}: is a folder; give the file to write X to, "
                           f"e.g. {os.path.join(self.d, 'nosuch', 'X.npy')}")):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = ft.gradcmd.main(["--session", session, "--weights", os.path.join(session, "w.npy"), "--out", out])
            self.assertEqual((2, f"falcon_torch.gradcmd: {said}\n"), (rc, err.getvalue()))
        self.assertEqual(sorted(os.listdir(self.d)), ["outdir", "session"])
        self.assertEqual(os.listdir(folder), [])

    def test_per_sample_gradients_leave_no_partial_x_when_the_final_rename_fails(self):
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, n_samples=8, out_dir=os.path.join(self.d, "ex"), grads=False)
        folder = os.path.join(self.d, "X.npy")
        os.mkdir(folder)
        with self.assertRaises(IsADirectoryError):
            ft.per_sample_gradients(m, batches, ex.layers, 8, folder)
        self.assertEqual(sorted(os.listdir(self.d)), ["X.npy", "ex"])

    def test_gradient_command_turns_a_damaged_session_file_into_exit_2_naming_it(self):
        # a truncated model.pt (or calib.pt) ended in torch's "PytorchStreamReader failed locating file data.pkl", a
        # traceback and exit 1, which the CLI reported as a failed --grads-command
        import contextlib, io
        batches, _, _ = data()
        session = ft.gradcmd.prepare(small_model(), batches, os.path.join(self.d, "session"), n_samples=4)
        out = os.path.join(self.d, "X.npy")
        for name in ("model.pt", "calib.pt"):
            path = os.path.join(session, name)
            with open(path, "rb") as f:
                good = f.read()
            with open(path, "wb") as f:
                f.write(good[:200])
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = ft.gradcmd.main(["--session", session, "--weights", os.path.join(session, "w.npy"), "--out", out])
            self.assertEqual(rc, 2, err.getvalue())
            self.assertIn(f"{path}: not a readable torch.save file", err.getvalue())
            self.assertIn("write it again with falcon_torch.gradcmd.prepare", err.getvalue())
            self.assertFalse(os.path.exists(out))
            with open(path, "wb") as f:
                f.write(good)

    def test_a_model_on_the_meta_device_is_refused_before_anything_is_written(self):
        # apply's copy_ into a meta parameter did nothing: it returned masks without data and lost the pruned weights
        # without a word; export and prune ran the FLOP passes and created out_dir, then failed with torch's bare
        # "Cannot copy out of meta tensor; no data!"
        batches, _, _ = data()
        ex = ft.export(small_model(), batches, n_samples=4, out_dir=os.path.join(self.d, "real"), grads=False)
        meta = small_model().to("meta")
        fix = r"is on the meta device, which holds no values; materialize the model first \(model\.to_empty"
        with self.assertRaisesRegex(ValueError, r"apply: the model's parameter '0\.weight' \(and 2 more\) " + fix):
            ft.apply(meta, ex.weights_path, ex.layers_path)
        tmp = os.path.join(self.d, "tmp")
        os.makedirs(tmp)
        saved, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            for call, run in (("export", lambda out: ft.export(meta, batches, n_samples=4, out_dir=out)),
                              ("gradcmd.prepare", lambda out: ft.gradcmd.prepare(meta, batches, out, n_samples=4)),
                              ("prune", lambda out: ft.prune(meta, batches, keep_flops=0.5, method="mp", n_samples=4,
                                                             work_dir=out))):
                out = os.path.join(self.d, call)
                with self.assertRaisesRegex(ValueError, rf"{re.escape(call)}: the model's parameter '0\.weight' .*{fix}"):
                    run(out)
                self.assertFalse(os.path.exists(out), call)
            with self.assertRaisesRegex(ValueError, "prune: .*meta device"):
                ft.prune(meta, batches, keep_flops=0.5, method="mp", n_samples=4)
            self.assertEqual(os.listdir(tmp), [])
        finally:
            tempfile.tempdir = saved

    def test_a_lazy_module_never_run_is_refused_naming_it_before_anything_is_written(self):
        # an nn.LazyLinear never run forward failed inside export with torch's own "Can't access the shape of an
        # uninitialized parameter or buffer", which named neither the module nor the fix
        import warnings
        batches, _, _ = data()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)    # torch's "Lazy modules are a new feature" notice
            lazy = nn.Sequential(nn.Flatten(), nn.LazyLinear(5))
        fix = (r"the model's module '1' \(LazyLinear\) has not been run, so its parameter '1\.weight' \(and 1 more\) has "
               r"no shape or values yet; run one forward pass first \(model\(inputs\) on a batch\)")
        tmp = os.path.join(self.d, "tmp")
        os.makedirs(tmp)
        saved, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            for call, run in (("export", lambda out: ft.export(lazy, batches, n_samples=4, out_dir=out)),
                              ("gradcmd.prepare", lambda out: ft.gradcmd.prepare(lazy, batches, out, n_samples=4)),
                              ("prune", lambda out: ft.prune(lazy, batches, keep_flops=0.5, method="mp", n_samples=4,
                                                             work_dir=out))):
                out = os.path.join(self.d, call)
                with self.subTest(call=call):
                    with self.assertRaisesRegex(ValueError, rf"^{re.escape(call)}: {fix}"):
                        run(out)
                    self.assertFalse(os.path.exists(out), call)
            self.assertEqual(os.listdir(tmp), [])
        finally:
            tempfile.tempdir = saved
        # after one forward pass it is an ordinary Linear, exported as one
        lazy(batches[0][0])
        ex = ft.export(lazy, batches, n_samples=4, out_dir=os.path.join(self.d, "run"), grads=False)
        self.assertEqual([l.name for l in ex.layers], ["1.weight"])
        # apply into a lazy model never run is refused too: it has no shape to check the layers against
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            unrun = nn.Sequential(nn.Flatten(), nn.LazyLinear(5))
        # (apply looks at the layers it writes only: the bias is not one)
        with self.assertRaisesRegex(ValueError, "^apply: " + fix.replace(r" \(and 1 more\)", "")):
            ft.apply(unrun, ex.weights_path, ex.layers_path)

    def test_a_complex_weight_is_refused_naming_it_before_anything_is_written(self):
        # export flattened it with .float(), which drops the imaginary part (torch's one-time "Casting complex values to
        # real" warning was the only word), so X, w.npy and the ranking were of the real parts, and prune wrote the
        # real parts back into the kept weights
        class ComplexLayer(nn.Module):
            def __init__(self):
                super().__init__()
                self.real = nn.Linear(4, 4)
                self.fc = nn.Linear(4, 3, dtype=torch.cfloat)

            def forward(self, x):
                return self.fc(self.real(x).to(torch.cfloat)).abs()
        torch.manual_seed(0)
        m = ComplexLayer()
        before = m.fc.weight.detach().clone()
        batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
        refusal = (r"prunable weight 'fc\.weight' is torch\.complex64, not a real floating-point tensor: falcon prunes "
                   r"real weights only .* leave it out of `prunable`")
        for prunable in (None, ["fc"], [m.fc.weight]):
            out = os.path.join(self.d, f"export-{prunable is None}")
            with self.assertRaisesRegex(ValueError, refusal):
                ft.export(m, batch, prunable=prunable, n_samples=8, out_dir=out)
            self.assertFalse(os.path.exists(out))
        out = os.path.join(self.d, "gradcmd")      # a model it can pickle, refused before it runs
        with self.assertRaisesRegex(ValueError, refusal.replace("fc", "0")):
            ft.gradcmd.prepare(nn.Sequential(nn.Linear(4, 3, dtype=torch.cfloat)), batch, out, n_samples=8)
        self.assertFalse(os.path.exists(out))
        with self.assertRaisesRegex(ValueError, refusal):
            ft.measure_flops(m, batch[0])
        self.assertTrue(torch.equal(m.fc.weight.detach(), before))
        # the real layers beside it are still prunable
        ex = ft.export(m, batch, prunable=["real"], n_samples=8, out_dir=os.path.join(self.d, "real"))
        self.assertEqual([l.name for l in ex.layers], ["real.weight"])

    def test_apply_into_float16_refuses_a_value_beyond_its_range_and_masks_what_the_model_holds(self):
        # a finite float32 value beyond float16's range was written as inf without a word, and a kept value below its
        # smallest subnormal was written as 0 while the returned mask (pruned != 0) still called it kept
        torch.manual_seed(0)
        ex = ft.export(nn.Sequential(nn.Linear(4, 3)), (torch.randn(2, 4), torch.tensor([0, 1])), n_samples=2,
                       out_dir=self.d, grads=False)
        pruned = np.zeros(12, np.float32)
        pruned[[0, 1, 2]] = [1e5, 1e-9, 0.5]
        path = os.path.join(self.d, "pruned.npy")
        np.save(path, pruned)
        m = nn.Sequential(nn.Linear(4, 3)).half()
        before = m[0].weight.detach().clone()
        with self.assertRaisesRegex(ValueError, r"pruned\.npy: value 0 of layer '0\.weight', 100000\.0, is beyond the "
                                                r"range of the parameter's float16 \(largest 65504\).*model\.float\(\)"):
            ft.apply(m, path, ex.layers_path)
        self.assertTrue(torch.equal(m[0].weight, before))             # nothing written
        pruned[0] = 2.0
        np.save(path, pruned)
        mask_path = os.path.join(self.d, "mask.npy")
        np.save(mask_path, pruned != 0)
        for given_mask, kept_tiny in ((None, False), (mask_path, True)):
            with self.assertWarnsRegex(RuntimeWarning, r"1 weights nonzero in .*pruned\.npy are 0 in the model, below "
                                                        r"the smallest value of its float16 \(the first: '0\.weight' "
                                                        r"value 1 = 1e-09\)"):
                masks = ft.apply(m, path, ex.layers_path, mask_path=given_mask)
            held = m[0].weight.detach().reshape(-1)
            self.assertTrue(torch.isfinite(held).all())
            self.assertEqual(held[:3].tolist(), [2.0, 0.0, 0.5])
            self.assertEqual(masks["0.weight"].reshape(-1)[:3].tolist(), [True, kept_tiny, True], given_mask)

    def test_apply_masks_zeroes_a_pruned_weight_that_holds_inf_or_nan(self):
        # mul_(mask) left NaN (inf * 0, NaN * 0) at a pruned position, where the mask promises 0
        lin = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[float("inf"), 1.0, float("nan")], [2.0, 3.0, 4.0]]))
        model = nn.Sequential(lin)
        keep = torch.tensor([[False, True, False], [True, True, False]])
        for masks in ({"0.weight": keep}, {"0.weight": keep.float()}):
            ft.apply_masks(model, masks)
            self.assertEqual(lin.weight.tolist(), [[0.0, 1.0, 0.0], [2.0, 3.0, 0.0]])

    def test_apply_masks_refuses_a_mask_that_does_not_fit_the_model_naming_it(self):
        # a name the model lacks was a bare KeyError 'c1.weight', a wrong shape torch's "The size of tensor a (3) must
        # match the size of tensor b (8)", and a mask of 0.5s was cast to True everywhere, pruning nothing
        model = nn.Sequential(nn.Linear(8, 3, bias=False), nn.ReLU(), nn.Linear(3, 2, bias=False))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        keep = torch.arange(24).reshape(3, 8) % 2 == 0
        cases = (
            ({"0.weight": keep, "c1.weight": keep},
             r"apply_masks: mask 'c1\.weight' is not a parameter of the model; give the masks apply returned for this "
             r"model"),
            ({"0.weight": keep, "2.weight": torch.ones(3, 8, dtype=torch.bool)},
             r"apply_masks: mask '2\.weight' has shape \[3, 8\] but the model's parameter has \[2, 3\]; give the masks "
             r"apply returned for this model"),
            ({"0.weight": torch.full((3, 8), 0.5)},
             r"apply_masks: mask '0\.weight' holds 0\.5 \(at index 0\), not a mask: give booleans or 0s and 1s "
             r"\(the masks apply returned, or weight != 0\)"),
        )
        for masks, refusal in cases:
            with self.subTest(refusal=refusal):
                with self.assertRaisesRegex(ValueError, refusal):
                    ft.apply_masks(model, masks)
                # checked before anything is zeroed: the first mask, which fits, was not applied either
                self.assertTrue(all(torch.equal(v, before[k]) for k, v in model.state_dict().items()))
        # bool and 0/1 masks of any dtype are masks
        pattern = torch.arange(24).reshape(3, 8) % 3 != 0
        for mask in (pattern, pattern.to(torch.uint8), pattern.long(), pattern.float(), pattern.double()):
            with self.subTest(dtype=str(mask.dtype)):
                model.load_state_dict(before)
                ft.apply_masks(model, {"0.weight": mask})
                self.assertTrue(torch.equal(model[0].weight.detach(), torch.where(pattern, before["0.weight"], 0.0)))

    def test_apply_masks_takes_a_mask_that_broadcasts_to_its_parameter(self):
        # a [6, 1] mask (whole rows pruned) for a [6, 4] weight was applied by f9aaa8bc, as torch broadcasts it, and
        # then refused as "has shape [6, 1] but the model's parameter has [6, 4]"
        model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        rows = torch.tensor([True, False, True, True, False, True])
        columns = torch.tensor([True, True, False, True])
        for shape, mask, kept in (("[6, 1]", rows.reshape(6, 1), rows.reshape(6, 1).expand(6, 4)),
                                  ("[4]", columns, columns.expand(6, 4)),
                                  ("[1, 4] of floats", columns.float().reshape(1, 4), columns.expand(6, 4)),
                                  ("[] (a scalar)", torch.tensor(False), torch.zeros(6, 4, dtype=torch.bool))):
            with self.subTest(shape=shape):
                model.load_state_dict(before)
                ft.apply_masks(model, {"0.weight": mask})
                self.assertTrue(torch.equal(model[0].weight.detach(), torch.where(kept, before["0.weight"], 0.0)))
        # a shape that broadcasts to more than the parameter is refused as a wrong one: [6, 4] into a [6] bias
        for mask, refusal in ((torch.ones(6, 4, dtype=torch.bool), r"has shape \[6, 4\] but the model's parameter has \[6\]"),
                              (torch.ones(1, 6, dtype=torch.bool), r"has shape \[1, 6\] but the model's parameter has \[6\]"),
                              (torch.ones(2, 1, dtype=torch.bool), r"has shape \[2, 1\] but the model's parameter has \[6\]")):
            with self.subTest(refused=list(mask.shape)):
                with self.assertRaisesRegex(ValueError, r"apply_masks: mask '0\.bias' " + refusal):
                    ft.apply_masks(model, {"0.bias": mask})

    def test_falcon_plus_plus_through_the_cli_refuses_a_model_the_gradient_command_cannot_load_before_any_work(self):
        # a class defined in the script ran the export and stage 0 and 1, then failed at stage 2 in the gradient command
        # ("Can't get attribute 'Net' on <module 'falcon_torch.gradcmd'>"), keeping the work folder with X.npy in it;
        # a module holding a lambda failed in gradcmd.prepare after the export
        class Net(nn.Sequential):
            pass
        Net.__module__ = "__main__"          # as a class written in the script run as __main__
        script_model = Net(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        lambda_model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        lambda_model.act = lambda t: t
        x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
        tmp = os.path.join(self.d, "tmp")
        os.makedirs(tmp)
        saved, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            for model, why in ((script_model, r"class 'ExportApplyTest\.test_falcon_plus_plus_through_the_cli_refuses_a_"
                                              r"model_the_gradient_command_cannot_load_before_any_work\.<locals>\.Net' "
                                              r"is defined in __main__"),
                               (lambda_model, r"torch\.save cannot write it for the command \(it holds a lambda")):
                with self.assertRaisesRegex(ValueError, r"gradient_source='cli' runs the gradient command in another "
                                                        r"process, which cannot load this model: " + why +
                                                        r".*or use gradient_source='python'"):
                    ft.prune(model, (x, y), keep_flops=0.3, method="falcon++", stages=2, n_samples=16,
                             gradient_source="cli", cli=ft.FalconCLI(command=["/nonexistent/falcon"]))
            self.assertEqual(os.listdir(tmp), [])
        finally:
            tempfile.tempdir = saved

    def test_the_refusal_of_a_model_holding_a_lambda_gives_a_fix_that_helps_it(self):
        # "define it in a module on PYTHONPATH" was given for a lambda too, which pickle refuses wherever it is defined;
        # a class or function of the script still gets it
        lambda_model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        lambda_model.act = lambda t: t
        def script_function(t):
            return t
        script_function.__module__, script_function.__qualname__ = "__main__", "script_function"
        script_model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        script_model.act = script_function
        x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
        cli = ft.FalconCLI(command=["/nonexistent/falcon"])
        with self.assertRaises(ValueError) as refused:
            ft.prune(lambda_model, (x, y), keep_flops=0.3, method="falcon++", stages=2, n_samples=16,
                     gradient_source="cli", cli=cli)
        message = str(refused.exception)
        self.assertIn("<lambda> is a lambda or a local function", message)
        self.assertIn("hold a function defined at the top level of a module on PYTHONPATH instead", message)
        self.assertNotIn("define it in a module on PYTHONPATH", message)
        with self.assertRaisesRegex(ValueError, r"\(script_function is defined in __main__\); define it in a module on "
                                                r"PYTHONPATH, not in the script run as __main__, or use "
                                                r"gradient_source='python'"):
            ft.prune(script_model, (x, y), keep_flops=0.3, method="falcon++", stages=2, n_samples=16,
                     gradient_source="cli", cli=cli)

    def test_stage_nnz_budgets_are_the_clis_falcon_plus_plus_counts(self):
        # the CLI (MultiStage.nnzBudget) schedules toward the target's count over p, 57/192 for --sparsity 0.7 of 192
        # weights, and counts each level: stage 1 of 2 keeps 73, where the level toward 0.3 (0.3875) kept 74
        from falcon_torch.drive import stage_nnz_budgets
        self.assertEqual([73, 57], stage_nnz_budgets(0.3, 2, 192, "poly", ["--sparsity", "0.7"]))
        self.assertEqual([73, 57], stage_nnz_budgets(0.3, 2, 192))
        self.assertEqual([318, 181, 45], stage_nnz_budgets(0.1, 3, 455, "linear", ["--sparsity=0.9"]))
        # counted from the decimal product, as Fractions.count does: a snap up within 1e-12 of the float64 product
        # (3 weights at 3e12) kept 3,000,000,000,001 of 10,000,000,000,001 for 0.3 and --sparsity 0.7
        self.assertEqual([3_000_000_000_000], stage_nnz_budgets(0.3, 1, 10_000_000_000_001))
        self.assertEqual([3_000_000_000_000], stage_nnz_budgets(0.3, 1, 10_000_000_000_001, "poly", ["--sparsity", "0.7"]))
        self.assertEqual([57, 57], stage_nnz_budgets(0.3, 2, 192, "const"))
        self.assertEqual([192, 192], stage_nnz_budgets(1, 2, 192))
        # a computed level is taken to 12 significant digits, as MultiStage takes it: linear from the dense start to 200 of
        # 1000 weights puts stage 3 of 4 at 0.4, computed as 0.3999999999999999, which counted 399
        self.assertEqual([800, 600, 400, 200], stage_nnz_budgets(0.2, 4, 1000, "linear"))
        self.assertEqual([0.65, 0.6, 0.55, 0.5], ft.stage_schedule(0.5, 4, start=0.7, kind="linear"))

    def test_stage_schedule(self):
        s = ft.stage_schedule(0.2, 3)
        self.assertEqual(len(s), 3)
        self.assertAlmostEqual(s[-1], 0.2)
        self.assertTrue(s[0] > s[1] > s[2])
        self.assertEqual(ft.stage_schedule(0.3, 1), [0.3])

    def test_stage_schedule_refuses_start_levels_outside_the_range_or_below_the_target(self):
        # a NaN start gave [nan, nan, 0.3], 1.5 a bent schedule, 0.1 a rising one, 0 with 'exp' a bare ZeroDivisionError
        for start, kind in ((float("nan"), "poly"), (1.5, "poly"), (0.0, "exp"), (-0.2, "linear")):
            with self.assertRaisesRegex(ValueError, r"^start: .*outside \(0, 1\].*give 1 to start from the dense model"):
                ft.stage_schedule(0.3, 3, start=start, kind=kind)
        with self.assertRaisesRegex(ValueError, r"^start: the start level 0.1 is below the target 0.3"):
            ft.stage_schedule(0.3, 3, start=0.1)
        self.assertEqual(ft.stage_schedule(0.3, 3, start=0.3), [0.3] * 3)
        self.assertEqual(ft.stage_schedule(0.3, 3, start=1)[-1], 0.3)


@needs_torch
class FindCliTest(unittest.TestCase):
    def test_a_cli_that_cannot_run_names_the_setting_it_came_from(self):
        from unittest import mock
        with tempfile.TemporaryDirectory() as d:
            with mock.patch.dict(os.environ, {"FALCON_HOME": d}):
                os.environ.pop("FALCON_CLI", None)
                cli = ft.FalconCLI()
            with self.assertRaisesRegex(FileNotFoundError, re.escape(f"cannot run the falcon CLI {d}/falcon "
                                                                     f"(from FALCON_HOME={d}): No such file or directory")):
                cli.supports("mp")
            self.assertEqual(os.listdir(d), [])


@needs_torch
class CliTest(unittest.TestCase):
    """The CLI on an exported toy model: budgets hold and errors carry the CLI's message."""

    def setUp(self):
        self.cli = cli_or_skip(self)
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_prune_and_apply(self):
        m = small_model()
        batches, _, _ = data()
        res = ft.prune(m, batches, keep_flops=0.4, method="mp", n_samples=8, cli=self.cli, work_dir=self.d)
        self.assertLessEqual(res.kept_flops, 0.4 * res.dense_flops + 1e-6)
        self.assertEqual(res.report["method"], "mp")
        self.assertEqual(res.kept_nnz, sum(int(v.sum()) for v in res.masks.values()))
        self.assertTrue(torch.all(m[0].weight[~res.masks["0.weight"]] == 0))

    def test_apply_takes_the_cli_result_of_a_layer_set_to_ones(self):
        # the diff review's case: 'falcon prune --keep-nnz 0.5 --method mp' kept only layer 0's ones, and apply refused
        # its --out as "pruned.npy holds 0s and 1s only, a mask, not pruned weights", with --mask "(mask.npy and
        # pruned.npy look swapped)"
        def model():
            torch.manual_seed(0)
            m = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
            nn.init.ones_(m[0].weight)
            return m
        x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
        ex = ft.export(model(), [(x, y)], n_samples=16, out_dir=os.path.join(self.d, "ex"))
        out, mask = os.path.join(self.d, "pruned.npy"), os.path.join(self.d, "mask.npy")
        self.cli.run(["prune", "--grads", ex.grads_path, "--weights", ex.weights_path, "--layers", ex.layers_path,
                      "--keep-nnz", "0.5", "--method", "mp", "--out", out, "--mask", mask,
                      "--report", os.path.join(self.d, "report.json")])   # by default out/ in the current folder: the clone's
        pruned = np.load(out)
        self.assertEqual(sorted(set(pruned.tolist())), [0.0, 1.0])   # the case itself: a result of 0s and 1s only
        for mask_path in (None, mask):
            with self.subTest(mask_path=mask_path):
                m = model()
                masks = ft.apply(m, out, ex.layers_path, mask_path=mask_path)
                flat = torch.cat([m[0].weight.reshape(-1), m[2].weight.reshape(-1)])
                np.testing.assert_array_equal(flat.detach().numpy(), pruned)
                self.assertEqual(sum(int(v.sum()) for v in masks.values()), int((pruned != 0).sum()))

    def test_a_sparsity_in_extra_args_is_asked_for_and_refused_as_the_cli_gives_it(self):
        # the bridge passed --sparsity 0.7 on as --keep-nnz 0.30000000000000004, the report's asked figure, and
        # --sparsity 0.999 was refused as "--keep-nnz 0.0010000000000000009 keeps 0 of ... give at least 0.0023585"
        batches, _, _ = data()
        for stages in (1, 2):
            with self.subTest(stages=stages):
                res = ft.prune(small_model(), batches, keep_flops=None, method="mp", stages=stages,
                               extra_args=["--sparsity", "0.7"], n_samples=6, cli=self.cli)
                asked = res.report["budgets"]["asked"]
                self.assertEqual(("--sparsity 0.7", 0.3), (asked["nnz_request"], asked["nnz_fraction"]))
                self.assertEqual(0.3, res.keep_nnz_schedule[-1])
                self.assertLessEqual(res.kept_nnz, 0.3 * res.parameters)
        with self.assertRaises(ft.FalconError) as cm:
            ft.prune(small_model(), batches, keep_flops=None, method="mp", extra_args=["--sparsity", "0.999"],
                     n_samples=6, cli=self.cli)
        self.assertEqual(3, cm.exception.returncode)
        self.assertIn("falcon: error: --sparsity 0.999 keeps 0 of 455 weights; give at most", str(cm.exception))
        self.assertNotIn("--keep-nnz", cm.exception.stderr)

    def test_no_budget_is_the_clis_default_of_30_percent_of_the_flops_in_the_result(self):
        # keep_flops=None and keep_nnz=None ran with the CLI's default 30%, but keep_flops_schedule said [None]
        batches, _, _ = data()
        m = small_model()
        res = ft.prune(m, batches, keep_flops=None, method="mp", n_samples=6, cli=self.cli)
        self.assertEqual(res.keep_flops_schedule, [0.3])
        self.assertEqual(res.keep_nnz_schedule, [None])
        self.assertLessEqual(res.kept_flops, 0.3 * res.dense_flops + 1e-6)
        res = ft.prune(small_model(), batches, keep_flops=None, method="mp", stages=2, n_samples=6, cli=self.cli)
        self.assertEqual(res.keep_flops_schedule, ft.stage_schedule(0.3, 2))

    def test_staged_with_finetune_callback(self):
        m = small_model()
        batches, _, _ = data()
        calls = []
        res = ft.prune(m, batches, keep_flops=0.3, keep_nnz=0.5, method="magnitude", stages=3, n_samples=4,
                       cli=self.cli, work_dir=self.d, finetune=lambda model, masks: calls.append(len(masks)))
        self.assertEqual(calls, [3, 3])                       # between stages only
        self.assertEqual(len(res.reports), 3)
        self.assertLessEqual(res.kept_flops, 0.3 * res.dense_flops + 1e-6)
        self.assertLessEqual(res.kept_nnz, 0.5 * res.parameters + 1)

    def test_staged_prune_with_prunable_from_a_generator(self):
        # every stage resolves prunable again: a generator was spent by stage 1, and stage 2 found no prunable weight
        m = small_model()
        batches, _, _ = data()
        convs = (mod for mod in m.modules() if isinstance(mod, nn.Conv2d))
        res = ft.prune(m, batches, keep_flops=0.5, method="magnitude", stages=2, n_samples=4, cli=self.cli,
                       work_dir=self.d, prunable=convs)
        self.assertEqual(len(res.reports), 2)
        self.assertEqual(sorted(res.masks), ["0.weight", "3.weight"])
        self.assertLessEqual(res.kept_flops, 0.5 * res.dense_flops + 1e-6)

    def test_falcon_plus_plus_plumbing_with_a_stand_in_cli(self):
        # Until the CLI runs `falcon`, a wrapper maps it to `mp`: checks the staged driver end to end.
        wrapper = os.path.join(self.d, "fake-falcon")
        with open(wrapper, "w") as f:
            f.write("#!/usr/bin/env bash\nargs=()\nfor a in \"$@\"; do [ \"$a\" = falcon ] && a=mp; args+=(\"$a\"); done\n"
                    "exec " + " ".join(self.cli.command) + " \"${args[@]}\"\n")
        os.chmod(wrapper, 0o755)
        cli = ft.FalconCLI(command=[wrapper])
        self.assertEqual(cli.supports("falcon"), (True, ""))
        m = small_model()
        batches, _, _ = data()
        stages_seen = []
        res = ft.prune(m, batches, keep_flops=0.25, method="falcon++", stages=2, n_samples=5, cli=cli,
                       work_dir=os.path.join(self.d, "w"), finetune=lambda model, masks: stages_seen.append(1))
        self.assertEqual(len(res.reports), 2)
        self.assertEqual(stages_seen, [1])
        self.assertGreater(res.keep_flops_schedule[0], 0.25)
        self.assertLessEqual(res.kept_flops, 0.25 * res.dense_flops + 1e-6)
        # each stage exported X at that stage's weights: stage 2's w.npy has stage 1's zeros
        w2 = np.load(os.path.join(self.d, "w", "stage2", "w.npy"))
        p1 = np.load(os.path.join(self.d, "w", "stage1", "pruned.npy"))
        np.testing.assert_array_equal(w2, p1)

    def skip_without_falcon_plus_plus_cli_route(self):
        if not self.cli.has_option("--grads-command") or not self.cli.supports("falcon")[0]:
            self.skipTest("this CLI has no --grads-command or no falcon")

    def write_module(self, name, source):
        """Writes module `name` into a folder of its own under the test's directory, and returns that folder."""
        lib = os.path.join(self.d, "lib")
        os.makedirs(lib, exist_ok=True)
        with open(os.path.join(lib, name + ".py"), "w") as f:
            f.write(source)
        return lib

    def test_staged_prune_from_a_generator_draws_only_the_batches_of_its_samples(self):
        # a one-shot iterator was kept as its first n_samples *batches* for the later stages: n_samples=1000 of a loader
        # of 128 drew and held 1000 batches (128,000 samples) where 8 hold the samples used
        m = small_model()
        _, x, y = data()
        drawn = []

        def loader():
            for i in range(50):
                drawn.append(i)
                yield x[i % 5 * 2:i % 5 * 2 + 2], y[i % 5 * 2:i % 5 * 2 + 2]
        res = ft.prune(m, loader(), keep_flops=0.5, method="mp", stages=2, n_samples=5, cli=self.cli, work_dir=self.d)
        self.assertEqual(drawn, [0, 1, 2])
        self.assertEqual(len(res.reports), 2)

    def test_falcon_plus_plus_one_stage_from_a_generator(self):
        # the CLI route reads the samples twice (stage 0's X, the gradient command's session), whatever the stages
        self.skip_without_falcon_plus_plus_cli_route()
        m = small_model()
        batches, _, _ = data()
        res = ft.prune(m, (b for b in batches), keep_flops=0.5, method="falcon++", stages=1, n_samples=8,
                       cli=self.cli, work_dir=self.d, gradient_source="cli")
        self.assertEqual(res.report["method"], "falcon++")
        self.assertLessEqual(res.kept_flops, 0.5 * res.dense_flops + 1e-6)

    def test_falcon_plus_plus_runs_the_same_nnz_budgets_by_either_gradient_source_and_reports_them(self):
        # --sparsity 0.7 of 455 weights, 2 stages: the Python route asked stage 1 for --keep-nnz 0.38749999999999996 (its level
        # toward 0.3), 176 weights, where the CLI route ran 175 (toward 136/455); keep_nnz_schedule gave 0.3875 for both
        self.skip_without_falcon_plus_plus_cli_route()
        batches, _, _ = data()
        runs = {}
        for source in ("python", "cli"):
            runs[source] = ft.prune(small_model(), batches, keep_flops=None, method="falcon++", stages=2, n_samples=8,
                                    extra_args=["--sparsity", "0.7"], cli=self.cli, gradient_source=source)
        python, cli = runs["python"], runs["cli"]
        ran_by_cli = [s["nnz_budget"] for s in cli.report["objective"]["solver"]["stages"]][1:]   # less the dense one
        ran_by_python = [r["budgets"]["asked"]["nnz"] for r in python.reports]
        self.assertEqual([175, 136], ran_by_cli)
        self.assertEqual(ran_by_cli, ran_by_python)
        self.assertEqual(["--nnz 175", "--sparsity 0.7"], [r["budgets"]["asked"]["nnz_request"] for r in python.reports])
        for res in (python, cli):
            self.assertEqual([175 / 455, 0.3], res.keep_nnz_schedule)
        # a computed level: linear from the dense start to --keep-nnz 0.9 of 455 weights (409) puts stage 1 at exactly
        # 432/455, computed as 0.9494505494505494, whose shortest decimal times 455 counted 431 on both routes; taken to
        # 12 significant digits (0.949450549451) it is 432 on both
        for source in ("python", "cli"):
            runs[source] = ft.prune(small_model(), batches, keep_flops=None, keep_nnz=0.9, method="falcon++", stages=2,
                                    schedule="linear", n_samples=8, cli=self.cli, gradient_source=source)
        python, cli = runs["python"], runs["cli"]
        ran_by_cli = [s["nnz_budget"] for s in cli.report["objective"]["solver"]["stages"]][1:]
        ran_by_python = [r["budgets"]["asked"]["nnz"] for r in python.reports]
        self.assertEqual([432, 409], ran_by_cli)
        self.assertEqual(ran_by_cli, ran_by_python)

    def test_falcon_plus_plus_cli_route_passes_the_grads_command_timeout(self):
        # the CLI's --grads-command-timeout could not be given: a gradient command that hung held prune() forever
        self.skip_without_falcon_plus_plus_cli_route()
        m = small_model()
        batches, _, _ = data()
        # far less than the command needs to start Python and import torch: the CLI stops it at stage 2
        with self.assertRaises(ft.FalconError) as caught:
            ft.prune(m, batches, keep_flops=0.5, method="falcon++", stages=2, n_samples=8, cli=self.cli,
                     work_dir=self.d, gradient_source="cli", grads_command_timeout=0.01)
        e = caught.exception
        self.assertEqual(e.returncode, 1, str(e))
        self.assertIn("--grads-command-timeout", e.stderr)
        # the CLI's documented exit 1 for a stopped falcon++ run, not a falcon bug
        self.assertRegex(str(e), r"^falcon exited with 1 \(falcon\+\+ stopped early; the outputs hold the last "
                                 r"completed stage\): ")
        self.assertNotIn("internal error", str(e))
        at = e.args_list.index("--grads-command-timeout")
        self.assertEqual(e.args_list[at + 1], "0.01")
        self.assertEqual(e.args_list[e.args_list.index("--grads-command") + 2], "--grads-command-timeout")

    def test_falcon_plus_plus_cli_route_const_schedule_runs_the_stages_asked(self):
        # the extra CLI stage is the dense start of the other schedules; const has none, and ran one more solve
        self.skip_without_falcon_plus_plus_cli_route()
        m = small_model()
        batches, _, _ = data()
        res = ft.prune(m, batches, keep_flops=0.3, method="falcon++", stages=2, n_samples=8, cli=self.cli,
                       work_dir=self.d, gradient_source="cli", schedule="const")
        rows = res.report["objective"]["solver"]["stages"]
        self.assertEqual(len(rows), 2, rows)
        self.assertEqual(rows[0]["flops_budget"], rows[1]["flops_budget"])
        # stage 1 keeps stage 0's weights whatever its X: no gradient command was passed (the CLI refuses one with const)
        self.assertIn("not solved", rows[1].get("note", ""), rows)
        with self.assertRaisesRegex(ValueError, "schedule='const' runs none"):
            ft.prune(m, batches, keep_flops=0.3, method="falcon++", stages=2, n_samples=8, cli=self.cli,
                     work_dir=self.d, gradient_source="cli", schedule="const", grads_command_timeout=60)
        self.assertEqual(res.keep_flops_schedule, [0.3, 0.3])
        self.assertLessEqual(res.kept_flops, 0.3 * res.dense_flops + 1e-6)

    def test_falcon_plus_plus_cli_route_at_dense_budgets_returns_the_dense_model(self):
        # the CLI refuses a gradient command at budgets of the dense model (nothing to prune: no X could change a stage):
        # keep_flops=1.0 failed with exit 2 naming a --grads-command the caller never typed
        self.skip_without_falcon_plus_plus_cli_route()
        m = small_model()
        batches, _, _ = data()
        for budgets in (dict(keep_flops=1.0), dict(keep_flops=None, keep_nnz=1.0)):
            res = ft.prune(m, batches, method="falcon++", stages=2, n_samples=8, cli=self.cli, work_dir=self.d,
                           gradient_source="cli", grads_command_timeout=60, **budgets)
            self.assertEqual(res.kept_nnz, res.parameters, budgets)
            self.assertEqual(res.kept_flops, res.dense_flops, budgets)

    def test_import_roots_leave_out_the_interpreters_own_folders(self):
        # a torch class at the top (nn.Sequential) put dist-packages first on the gradient command's PYTHONPATH,
        # ahead of the caller's: Debian's torch shadowed a pip-installed one there
        from falcon_torch.drive import _import_roots
        import torch as _torch
        torch_root = os.path.dirname(os.path.dirname(os.path.abspath(_torch.__file__)))
        self.assertNotIn(torch_root, _import_roots(small_model()))
        self.assertNotIn(torch_root, _import_roots(nn.Sequential(nn.Linear(2, 2))))

    def test_falcon_plus_plus_cli_route_with_a_model_class_in_a_package(self):
        # the gradient command must import pkg.net.Net from anywhere: the package's root goes on its PYTHONPATH
        self.skip_without_falcon_plus_plus_cli_route()
        import importlib, sys
        root = os.path.join(self.d, "src")
        os.makedirs(os.path.join(root, "falcon_test_pkg"))
        open(os.path.join(root, "falcon_test_pkg", "__init__.py"), "w").close()
        with open(os.path.join(root, "falcon_test_pkg", "net.py"), "w") as f:
            f.write("from torch import nn\n\nclass Net(nn.Sequential):\n    pass\n")
        sys.path.insert(0, root)
        try:
            net = importlib.import_module("falcon_test_pkg.net")
            m = net.Net(*small_model())
            batches, _, _ = data()
            res = ft.prune(m, batches, keep_flops=0.3, method="falcon++", stages=2, n_samples=8, cli=self.cli,
                           work_dir=os.path.join(self.d, "w"), gradient_source="cli")
        finally:
            sys.path.remove(root)
            for k in ("falcon_test_pkg.net", "falcon_test_pkg"):
                sys.modules.pop(k, None)
        self.assertEqual(len(res.report["objective"]["solver"]["stages"]), 3)
        self.assertLessEqual(res.kept_flops, 0.3 * res.dense_flops + 1e-6)

    def test_falcon_plus_plus_auto_route_with_classes_of_the_script_or_of_another_folder(self):
        # auto took the CLI route when the model's own class was importable, though the gradient command also unpickles
        # its submodules' classes: a block defined in the script, or a model wrapped in nn.DataParallel whose class
        # lives in a folder the script put on sys.path, failed at stage 2 ("Can't get attribute", "No module named")
        self.skip_without_falcon_plus_plus_cli_route()
        lib = self.write_module("falcon_test_netlib",
                                "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self, block):\n"
                                "        super().__init__()\n        self.block, self.fc = block, nn.Linear(8, 3)\n\n"
                                "    def forward(self, x):\n        return self.fc(self.block(x))\n")
        stdout = self.run_script(lib, f"""from torch import nn
from falcon_test_netlib import Net

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 8)

    def forward(self, x):
        return torch.relu(self.lin(x))

torch.manual_seed(0)
x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
for label, m in (("script block", Net(Block())),
                 ("wrapped", nn.DataParallel(Net(nn.Sequential(nn.Linear(6, 8), nn.ReLU()))))):
    res = ft.prune(m, (x, y), keep_flops=0.4, method="falcon++", stages=2, n_samples=16,
                   cli=ft.FalconCLI(command={list(self.cli.command)!r}))
    print(label, len(res.reports), len(res.report["objective"]["solver"].get("stages", [])),
          res.kept_flops <= 0.4 * res.dense_flops + 1e-6)
""")
        # the script's block: the Python route (a falcon call per stage); the wrapped model: one CLI run of 3 stages
        self.assertEqual(stdout.splitlines(), ["script block 2 0 True", "wrapped 1 3 True"])

    def run_script(self, lib, body):
        """Runs a script (in a process of its own, as a user's) that has `lib` on its path, falcon_torch imported as ft
        and warnings ignored, then `body`; returns its stdout, failing the test when it fails."""
        import subprocess, sys
        from _util import PYTHON_DIR
        script = os.path.join(self.d, "script.py")
        with open(script, "w") as f:
            f.write(f"import sys, warnings, torch\nsys.path.insert(0, {lib!r})\nimport falcon_torch as ft\n"
                    "warnings.simplefilter('ignore')\n" + body)
        proc = subprocess.run([sys.executable, script], capture_output=True, text=True, cwd=self.d,
                              env=dict(os.environ, PYTHONPATH=str(PYTHON_DIR)))
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        return proc.stdout

    def test_falcon_plus_plus_auto_route_with_objects_of_the_script_held_by_the_model(self):
        # the classes of the model and its submodules were checked, not what they hold: a dataclass config or an
        # activation function defined in the script took the CLI route and failed at stage 2 ("Can't get attribute
        # 'Config' on <module 'falcon_torch.gradcmd'>")
        self.skip_without_falcon_plus_plus_cli_route()
        lib = self.write_module("falcon_test_heldnet",
                                "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self, held, act):\n"
                                "        super().__init__()\n        self.held, self.act = held, act\n"
                                "        self.a, self.b = nn.Linear(6, 8), nn.Linear(8, 3)\n\n"
                                "    def forward(self, x):\n        return self.b(self.act(self.a(x)))\n")
        stdout = self.run_script(lib, f"""from dataclasses import dataclass
from falcon_test_heldnet import Net

@dataclass
class Config:
    hidden: int = 8

def swish(v):
    return v * torch.sigmoid(v)

torch.manual_seed(0)
x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
for label, m in (("config", Net(Config(), torch.relu)), ("function", Net(None, swish))):
    res = ft.prune(m, (x, y), keep_flops=0.4, method="falcon++", stages=2, n_samples=16,
                   cli=ft.FalconCLI(command={list(self.cli.command)!r}))
    print(label, len(res.reports), res.kept_flops <= 0.4 * res.dense_flops + 1e-6)
""")
        # the Python route: a falcon call per stage
        self.assertEqual(stdout.splitlines(), ["config 2 True", "function 2 True"])

    def test_falcon_plus_plus_auto_route_with_a_model_torch_save_cannot_write(self):
        # a module holding a lambda cannot be pickled for the gradient command: auto took the CLI route anyway and
        # failed in gradcmd.prepare ("Can't pickle local object"), where the Python route runs
        self.skip_without_falcon_plus_plus_cli_route()
        import importlib, sys
        lib = self.write_module("falcon_test_lambda_net",
                                "import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n"
                                "        super().__init__()\n        self.a, self.b = nn.Linear(6, 8), nn.Linear(8, 3)\n"
                                "        self.act = lambda t: torch.relu(t)\n\n"
                                "    def forward(self, x):\n        return self.b(self.act(self.a(x)))\n")
        sys.path.insert(0, lib)
        try:
            torch.manual_seed(0)
            m = importlib.import_module("falcon_test_lambda_net").Net()
            x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
            res = ft.prune(m, (x, y), keep_flops=0.4, method="falcon++", stages=2, n_samples=16, cli=self.cli,
                           work_dir=os.path.join(self.d, "w"))
        finally:
            sys.path.remove(lib)
            sys.modules.pop("falcon_test_lambda_net", None)
        self.assertEqual(len(res.reports), 2)                 # the Python route: one falcon call per stage
        self.assertLessEqual(res.kept_flops, 0.4 * res.dense_flops + 1e-6)

    def test_apply_reads_the_safetensors_the_cli_writes(self):
        # --out pruned.safetensors is a format the CLI writes: apply must read it as it reads the .npy
        m = small_model()
        batches, _, _ = data()
        ex = ft.export(m, batches, n_samples=8, out_dir=self.d)
        results = {}
        for ext in ("npy", "safetensors"):
            out = os.path.join(self.d, "pruned." + ext)
            self.cli.prune(ex.grads_path, ex.weights_path, ex.layers_path, out, os.path.join(self.d, ext + ".json"),
                           mask=os.path.join(self.d, ext + "-mask.npy"), keep_flops=0.4, method="mp")
            model = small_model()
            masks = ft.apply(model, out, ex.layers_path, mask_path=os.path.join(self.d, ext + "-mask.npy"))
            results[ext] = (ft.export(model, batches, out_dir=os.path.join(self.d, ext), grads=False).weights_path, masks)
        np.testing.assert_array_equal(np.load(results["safetensors"][0]), np.load(results["npy"][0]))
        self.assertTrue(np.any(np.load(results["npy"][0]) == 0))
        for name, mask in results["npy"][1].items():
            self.assertTrue(torch.equal(results["safetensors"][1][name], mask), name)
        masks = ft.apply(small_model(), os.path.join(self.d, "pruned.safetensors:weights"), ex.layers_path)
        self.assertEqual(sorted(masks), ["0.weight", "3.weight", "6.weight"])

    def test_a_failed_prune_keeps_its_work_folder_when_the_message_names_files_in_it(self):
        # the CLI's "X.npy: X[0, 0] is NaN ... `falcon inspect`" or "w.npy: 1 of 455 values are NaN" named files of
        # prune's temporary folder, deleted in `finally` before the caller read the message
        import shutil
        tmp = os.path.join(self.d, "tmp")
        os.makedirs(tmp)
        saved, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            m = small_model()
            with torch.no_grad():
                m[0].weight[0, 0, 0, 0] = float("nan")
            batches, _, _ = data()
            with self.assertRaises(ft.FalconError) as cm:
                ft.prune(m, batches, keep_flops=0.5, method="mp", n_samples=4, cli=self.cli)
            kept = [d for d in os.listdir(tmp) if d.startswith("falcon-torch-")]
            self.assertEqual(len(kept), 1, os.listdir(tmp))
            folder = os.path.join(tmp, kept[0])
            self.assertRegex(str(cm.exception), rf"{re.escape(folder)}/stage1/w\.npy: .*NaN")
            self.assertIn(f"prune's work folder {folder} is kept", str(cm.exception))
            self.assertTrue(os.path.isfile(os.path.join(folder, "stage1", "w.npy")))
            shutil.rmtree(folder)

            def failing(out, t):
                raise ValueError("a loss that fails")
            with self.assertRaisesRegex(ValueError, "a loss that fails") as cm:
                ft.prune(small_model(), batches, keep_flops=0.5, method="mp", n_samples=4, cli=self.cli,
                         loss_fn=failing)
            self.assertNotIn("work folder", str(cm.exception))
            self.assertEqual(os.listdir(tmp), [])              # a message naming no file of it: removed as before
        finally:
            tempfile.tempdir = saved

    def test_bad_input_raises_with_cli_message(self):
        np.save(os.path.join(self.d, "w.npy"), np.ones(3, np.float32))
        with open(os.path.join(self.d, "layers.json"), "w") as f:
            json.dump({"layers": [{"name": "a", "shape": [4], "flops_per_weight": 1}]}, f)
        with self.assertRaises(ft.FalconError) as cm:
            self.cli.prune(None, os.path.join(self.d, "w.npy"), os.path.join(self.d, "layers.json"),
                           os.path.join(self.d, "o.npy"), os.path.join(self.d, "r.json"), keep_flops=0.5)
        self.assertEqual(cm.exception.returncode, 2)
        # the CLI's message, not the echoed command line (which names --layers whatever the CLI said)
        message = str(cm.exception).split("\n  command: ")[0]
        self.assertRegex(message, r"falcon exited with 2 \(bad usage or input\): .*layers\.json.*p = 4.*w\.npy.*p = 3")
        self.assertIn("p = 4", cm.exception.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "o.npy")))
        self.assertFalse(os.path.exists(os.path.join(self.d, "r.json")))

    def test_infeasible_budget_raises_with_exit_code_3(self):
        np.save(os.path.join(self.d, "w.npy"), np.ones(4, np.float32))
        with open(os.path.join(self.d, "layers.json"), "w") as f:
            json.dump({"layers": [{"name": "a", "shape": [4], "flops_per_weight": 2}]}, f)
        with self.assertRaises(ft.FalconError) as cm:
            self.cli.prune(None, os.path.join(self.d, "w.npy"), os.path.join(self.d, "layers.json"),
                           os.path.join(self.d, "o.npy"), os.path.join(self.d, "r.json"), flops=1.0, method="magnitude")
        self.assertEqual(cm.exception.returncode, 3)
        message = str(cm.exception).split("\n  command: ")[0]
        self.assertRegex(message, r"falcon exited with 3 \(infeasible budgets\): .*FLOP budget")
        self.assertEqual(sorted(os.listdir(self.d)), ["layers.json", "w.npy"])

    def test_options_of_the_wrong_kind_are_refused_before_any_run(self):
        # extra_args="--threads 2" was passed on character by character; gradient_source was checked for falcon++ only
        m = small_model()
        batches, _, _ = data()
        with self.assertRaisesRegex(TypeError, "extra_args must be a list or tuple"):
            ft.prune(m, batches, keep_flops=0.5, method="mp", extra_args="--threads 2", cli=self.cli)
        with self.assertRaisesRegex(ValueError, "gradient_source must be auto, cli or python"):
            ft.prune(m, batches, keep_flops=0.5, method="mp", gradient_source="gpu", cli=self.cli)
        # the CLI refuses --grads-command-timeout without the --grads-command that only falcon++ through the CLI gives
        with self.assertRaisesRegex(ValueError, "method 'mp' runs none"):
            ft.prune(m, batches, keep_flops=0.5, method="mp", grads_command_timeout="15m", cli=self.cli)
        with self.assertRaisesRegex(ValueError, "gradient_source='python' runs none"):
            ft.prune(m, batches, keep_flops=0.5, method="falcon++", gradient_source="python", grads_command_timeout=90,
                     cli=self.cli)
        with self.assertRaisesRegex(ValueError, "grads_command_timeout must be a number of seconds above 0"):
            ft.prune(m, batches, keep_flops=0.5, method="falcon++", grads_command_timeout=0, cli=self.cli)

    def test_unsupported_method_is_reported(self):
        ok, why = self.cli.supports("no-such-method")
        self.assertFalse(ok)
        self.assertTrue(why)

    def test_a_probe_refused_for_memory_raises_instead_of_calling_the_method_unsupported(self):
        # every exit 2 of the probe was taken for "this CLI does not run the method" and cached, a memory refusal too
        from unittest import mock
        with mock.patch.dict(os.environ, {"FALCON_JAVA_OPTS": "-Dfalcon.memory.available=1k"}):
            cli = ft.FalconCLI(command=list(self.cli.command))
            with self.assertRaisesRegex(ft.FalconError, r"exited with 2 \(out of memory\)"):
                cli.supports("mp")
        self.assertEqual({}, cli._support, "a memory refusal is not cached as the method's answer")

    def test_a_cli_that_is_not_quiet_shows_its_output_and_its_probe_stays_silent(self):
        # FalconCLI(quiet=False) captured the CLI's output and threw it away unless the run failed
        import contextlib
        import io
        loud = ft.FalconCLI(command=list(self.cli.command), quiet=False)
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
            loud.supports("mp --backsolve")
        self.assertEqual("", shown.getvalue(), "the probe of a method is not the user's run")
        m = small_model()
        batches, _, _ = data()
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
            ft.prune(m, batches, keep_flops=0.5, method="mp", n_samples=9, cli=loud, work_dir=self.d)
        self.assertIn("falcon prune", shown.getvalue())
        self.assertIn("achieved: NNZ", shown.getvalue())

    def test_a_method_whose_flags_need_the_runs_arguments_is_not_refused_by_the_probe(self):
        # the supports() probe ran the method without lam on its own 12 weights, so prune refused methods that the CLI
        # runs by hand with the same arguments: --lambda-convention (needs --lambda), --linear-term (the run's p)
        m = small_model()
        batches, _, _ = data()
        res = ft.prune(m, batches, keep_flops=0.5, method="falcon --lambda-convention falcon", lam=0.01, n_samples=6,
                       cli=self.cli, work_dir=os.path.join(self.d, "a"))
        self.assertLessEqual(res.kept_flops, 0.5 * res.dense_flops + 1e-6)
        res = ft.prune(small_model(), batches, keep_flops=0.5, method="falcon --lambda-convention falcon",
                       extra_args=["--lambda", "0.01"], n_samples=6, cli=self.cli, work_dir=os.path.join(self.d, "b"))
        self.assertLessEqual(res.kept_flops, 0.5 * res.dense_flops + 1e-6)
        p = sum(mod.weight.numel() for mod in small_model().modules() if isinstance(mod, (nn.Conv2d, nn.Linear)))
        g = os.path.join(self.d, "g.npy")
        np.save(g, np.zeros(p, np.float32))
        res = ft.prune(small_model(), batches, keep_flops=0.5, method=f"falcon --linear-term {g}", n_samples=6,
                       cli=self.cli, work_dir=os.path.join(self.d, "c"))
        self.assertEqual(res.parameters, p)
        self.assertLessEqual(res.kept_flops, 0.5 * res.dense_flops + 1e-6)
        # a budget among the method's flags is the run's: 300 of its 455 weights, not of the probe's 12
        res = ft.prune(small_model(), batches, keep_flops=None, keep_nnz=None, method="mp --nnz 300", n_samples=6,
                       cli=self.cli, work_dir=os.path.join(self.d, "d"))
        self.assertLessEqual(res.kept_nnz, 300)
        # what the probe can judge is still refused early, before any export, with the CLI's reason
        for method, reason in [("mp --no-such-flag", "Unknown option: '--no-such-flag'"),
                               ("mp --rounds 3", "--rounds: option: only applies to --method falcon"),
                               ("no-such-method", "unknown method 'no-such-method'")]:
            work = os.path.join(self.d, "refused")
            with self.assertRaisesRegex(ft.FalconError, re.escape(reason)):
                ft.prune(small_model(), batches, keep_flops=0.5, method=method, lam=0.01, n_samples=6, cli=self.cli,
                         work_dir=work)
            self.assertFalse(os.path.exists(work), f"{method}: refused before the export")
        self.assertFalse(self.cli.supports("falcon --lambda-convention falcon", lam=-1.0))

    def test_a_device_of_extra_args_the_cli_cannot_use_is_refused_before_the_export(self):
        # the probe left extra_args out, so "--device cuda" without a GPU was refused only by the run, after the export
        # of the per-sample gradients (minutes for a real model); a device no machine has is refused everywhere
        batches, _, _ = data()
        for extra in (["--device", "no-such-device"], ["--threads", "1", "--backend=no-such-device"]):
            work = os.path.join(self.d, "refused")
            with self.assertRaises(ft.FalconError) as cm:
                ft.prune(small_model(), batches, keep_flops=0.5, method="mp", n_samples=6, cli=self.cli,
                         extra_args=extra, work_dir=work)
            self.assertEqual(cm.exception.returncode, 2)
            self.assertIn("with " + " ".join(extra), str(cm.exception))
            self.assertIn("no-such-device", str(cm.exception))
            self.assertFalse(os.path.exists(work), f"{extra}: refused before the export")
        self.assertFalse(self.cli.supports("mp", extra=["--keep-flops", "0.1", "--device", "no-such-device"]))
        # the execution options the CLI takes pass the probe, and the run uses them
        res = ft.prune(small_model(), batches, keep_flops=0.5, method="mp", n_samples=6, cli=self.cli,
                       extra_args=["--device", "cpu", "--threads", "1"], work_dir=os.path.join(self.d, "cpu"))
        self.assertLessEqual(res.kept_flops, 0.5 * res.dense_flops + 1e-6)

    def test_supports_is_false_in_an_if_for_a_method_the_cli_does_not_run(self):
        # README: "supports asks without raising"; a caller writes `if cli.supports(m):`
        if self.cli.supports("no-such-method"):
            self.fail("supports('no-such-method') was true in an if")
        self.assertTrue(self.cli.supports("mp"))
        self.assertEqual(self.cli.supports("mp"), (True, ""))
        self.assertEqual(self.cli.supports("no-such-method").ok, False)


if __name__ == "__main__":
    unittest.main()
