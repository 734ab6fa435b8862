import unittest

from _util import needs_torch, HAVE_TORCH

if HAVE_TORCH:
    import torch
    from torch import nn
    from falcon_torch import measure_flops, prunable_parameters
    from falcon_torch.flops import dense_flops


@needs_torch
class FlopHookTest(unittest.TestCase):
    def test_conv_output_sizes(self):
        m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2, padding=1),
                          nn.Conv2d(6, 6, 5))  # 32x32 -> 32x32 -> 16x16 -> 12x12
        layers = measure_flops(m, torch.zeros(5, 3, 32, 32))
        self.assertEqual([l.name for l in layers], ["0.weight", "2.weight", "3.weight"])
        self.assertEqual([l.flops_per_weight for l in layers], [32 * 32, 16 * 16, 12 * 12])
        self.assertEqual([l.offset for l in layers], [0, 108, 108 + 216])
        self.assertEqual(dense_flops(layers), 108 * 1024 + 216 * 256 + 900 * 144)

    def test_grouped_and_depthwise_conv(self):
        m = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16))
        layers = measure_flops(m, torch.zeros(2, 8, 10, 10))
        self.assertEqual([l.shape for l in layers], [(16, 2, 3, 3), (16, 1, 3, 3)])
        # every weight is applied once per output position, whatever the groups
        self.assertEqual([l.flops_per_weight for l in layers], [100, 25])
        # dense FLOPs equal the usual multiply-add count of a grouped conv
        self.assertEqual(dense_flops(layers), 16 * 2 * 9 * 100 + 16 * 9 * 25)

    def test_conv1d_and_transpose(self):
        layers = measure_flops(nn.Conv1d(2, 3, 3), torch.zeros(4, 2, 20))
        self.assertEqual(layers[0].flops_per_weight, 18)
        t = nn.ConvTranspose2d(3, 2, 2, stride=2)
        layers = measure_flops(t, torch.zeros(1, 3, 5, 7))
        self.assertEqual(layers[0].flops_per_weight, 35)   # input positions

    def test_a_module_called_with_its_input_as_a_keyword_is_measured(self):
        # forward hooks get positional inputs only: self.fc(input=x) failed with "tuple index out of range"
        class Keywords(nn.Module):
            def __init__(self, **up):
                super().__init__()
                self.up = nn.ConvTranspose2d(3, 2, 3, **up)
                self.fc = nn.Linear(7, 4)

            def forward(self, x, size=None):
                h = self.up(input=x) if size is None else self.up(input=x, output_size=size)
                return self.fc(input=h[..., :7])

        class Positional(Keywords):
            def forward(self, x, size=None):
                h = self.up(x) if size is None else self.up(x, output_size=size)
                return self.fc(h[..., :7])
        for up, size, x in (({"stride": 2}, None, torch.zeros(3, 3, 5, 7)),
                            ({"stride": 3, "padding": 1, "output_padding": 2, "dilation": 2}, None, torch.zeros(2, 3, 4, 5)),
                            ({"stride": 2}, (12, 16), torch.zeros(2, 3, 5, 7)),
                            # an output_padding at or above the stride, which a dilation above it allows: the floor
                            # division counted one more input position per dimension (121 of a 10 x 10 input)
                            ({"stride": 1, "dilation": 2, "output_padding": 1}, None, torch.zeros(2, 3, 10, 10)),
                            ({"stride": (1, 2), "dilation": (3, 1), "output_padding": (2, 1)}, None,
                             torch.zeros(2, 3, 5, 7)),
                            ({"stride": 1, "dilation": 2, "output_padding": 1}, (9, 11), torch.zeros(2, 3, 5, 7)),
                            ({"stride": 2}, None, torch.zeros(3, 5, 7))):     # unbatched
            # an unbatched (C, H, W) input is one sample, not C of them
            samples = x.shape[0] if x.dim() == 4 else 1
            torch.manual_seed(0)
            got = [l.flops_per_weight for l in measure_flops(Keywords(**up), (x, size), batch_size=samples)]
            torch.manual_seed(0)
            want = [l.flops_per_weight for l in measure_flops(Positional(**up), (x, size), batch_size=samples)]
            self.assertEqual(got, want, f"{up} {size}")
        self.assertEqual(want[0], 5 * 7)                                      # input positions
        self.assertEqual(measure_flops(Keywords(stride=1, dilation=2, output_padding=1), torch.zeros(2, 3, 10, 10))[0]
                         .flops_per_weight, 10 * 10)
        # without an autograd node to read the call's output padding from, the module's is taken out first where it is
        # not below the stride
        from falcon_torch.flops import _transposed_input_positions
        for up, x in (({"stride": 1, "dilation": 2, "output_padding": 1}, torch.zeros(1, 3, 10, 10)),
                      ({"stride": (1, 2), "dilation": (3, 1), "output_padding": (2, 1)}, torch.zeros(1, 3, 5, 7))):
            up = nn.ConvTranspose2d(3, 2, 3, **up)
            with torch.no_grad():
                self.assertEqual(_transposed_input_positions(up, up(x)), x.shape[2] * x.shape[3], up)

    def test_conv_folded_over_the_batch_counts_every_frame(self):
        # T frames of each sample folded into the batch: the conv runs T times per sample, as in a loop over frames
        # (counted once before, where the Linear after it, in the same position, was counted T times)
        T = 3

        class Folded(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv, self.up, self.proj = nn.Conv2d(1, 4, 3, padding=1), nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Linear(256, 8)

            def forward(self, x):
                return self.proj(self.up(self.conv(x.reshape(x.shape[0] * T, 1, 8, 8))).flatten(2))

        class Looped(Folded):
            def forward(self, x):
                return torch.cat([self.proj(self.up(self.conv(x[:, t:t + 1])).flatten(2)) for t in range(T)], 1)
        x = torch.zeros(4, T, 8, 8)
        folded, looped = measure_flops(Folded(), x), measure_flops(Looped(), x)
        self.assertEqual([l.flops_per_weight for l in folded], [T * 64, T * 64, T * 2])
        self.assertEqual([l.flops_per_weight for l in folded], [l.flops_per_weight for l in looped])
        # an unbatched call is one sample
        self.assertEqual(measure_flops(nn.Conv2d(2, 3, 3), torch.zeros(2, 6, 6), batch_size=1)[0].flops_per_weight, 16)

    def test_one_unbatched_sample_without_batch_size_is_refused_and_a_given_batch_size_is_trusted(self):
        # the batch size read from an unbatched (C, H, W) example is C, and every conv count was divided by it without a
        # word: conv 64 / 3 = 21.33 here (a layers.json built so under-budgets those layers)
        class ConvThenLinear(nn.Module):
            def __init__(self):
                super().__init__()
                self.c, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4 * 8 * 8, 10)

            def forward(self, x):
                return self.fc(torch.flatten(self.c(x), -3))

        class ByKeyword(nn.Module):           # the hook gets no input: only the count of unbatched calls tells
            def __init__(self):
                super().__init__()
                self.c = nn.Conv2d(3, 4, 3, padding=1)

            def forward(self, x):
                return self.c(input=x)

        class Twice(nn.Module):               # 2 unbatched calls, a multiple of C = 2: only the first call tells
            def __init__(self):
                super().__init__()
                self.c = nn.Conv2d(2, 2, 3, padding=1)

            def forward(self, x):
                return self.c(self.c(x))

        class Attention(nn.Module):           # an unbatched (L, E) sequence, read as a batch of L
            def __init__(self):
                super().__init__()
                self.att = nn.MultiheadAttention(4, 2)

            def forward(self, x):
                return self.att(x, x, x)[0]
        torch.manual_seed(0)
        for model, x, name in ((ConvThenLinear(), torch.randn(3, 8, 8), "'c' (Conv2d)"),
                               (ByKeyword(), torch.randn(3, 8, 8), "'c' (Conv2d, 1 call)"),
                               (Twice(), torch.randn(2, 6, 6), "'c' (Conv2d)"),
                               (Attention(), torch.randn(5, 4), "'att' (MultiheadAttention)")):
            with self.assertRaises(ValueError, msg=type(model).__name__) as cm:
                measure_flops(model, x)
            message = str(cm.exception)
            self.assertIn(f"read the batch size as {x.shape[0]}, the first dimension of the example input "
                          f"{tuple(x.shape)}", message)
            self.assertIn(name, message)
            self.assertIn("pass batch_size=1 if the example is one unbatched sample", message)
            measure_flops(model, x, batch_size=1)
        model, x = ConvThenLinear(), torch.randn(3, 8, 8)
        self.assertEqual([l.flops_per_weight for l in measure_flops(model, x, batch_size=1)], [64, 1])
        self.assertEqual([l.flops_per_weight for l in measure_flops(model, x.unsqueeze(0))], [64, 1])
        # a batch_size given is trusted, even where the calls do not fit it
        self.assertEqual(measure_flops(model, x, batch_size=3)[0].flops_per_weight, 64 / 3)

    def test_a_model_that_runs_its_samples_one_by_one_is_counted_per_sample_as_export_counts_it(self):
        # measure_flops took each unbatched conv call for the whole batch's sample: with `for xi in x: conv(xi)` on a
        # batch of 4 the conv cost 4 x 16, where export, one sample per pass, said 16 (and the Linear beside it was right)
        import tempfile
        import falcon_torch as ft

        class PerSample(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv, self.up, self.fc = nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 2, 2, stride=2), nn.Linear(2, 3)

            def forward(self, x):
                outs = []
                for xi in x:
                    h = self.conv(xi)
                    # the transposed conv by keyword too: its positions are then read from its output
                    outs.append(self.fc(self.up(h).mean((1, 2)) + self.up(input=h).mean((1, 2))))
                return torch.stack(outs)
        torch.manual_seed(0)
        model, x = PerSample(), torch.randn(4, 1, 6, 6)
        measured = [(l.name, l.flops_per_weight) for l in measure_flops(model, x)]
        # conv: 4 x 4 output positions; up: its 4 x 4 input positions, called twice; fc: once per sample
        self.assertEqual(measured, [("conv.weight", 16), ("up.weight", 32), ("fc.weight", 1)])
        with tempfile.TemporaryDirectory() as d:
            exported = ft.export(model, (x, torch.randint(0, 3, (4,))), n_samples=4, out_dir=d)
            self.assertEqual(measured, [(l.name, l.flops_per_weight) for l in exported.layers])

    def test_linear_positions(self):
        self.assertEqual(measure_flops(nn.Linear(6, 3), torch.zeros(7, 6))[0].flops_per_weight, 1)
        self.assertEqual(measure_flops(nn.Linear(6, 3), torch.zeros(7, 11, 6))[0].flops_per_weight, 11)

    def test_weight_sharing_sums_calls(self):
        class Twice(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(4, 4)

            def forward(self, x):
                return self.lin(self.lin(x))
        layers = measure_flops(Twice(), torch.zeros(3, 4))
        self.assertEqual((layers[0].flops_per_weight, layers[0].calls), (2, 2))

    def test_tied_weight_sums_the_calls_of_every_module(self):
        class Tied(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
                self.b.weight = self.a.weight          # one weight, two modules: multiplied twice per sample

            def forward(self, x):
                return self.b(self.a(x))
        layers = measure_flops(Tied(), torch.zeros(3, 4))
        self.assertEqual([l.name for l in layers], ["a.weight"])
        self.assertEqual((layers[0].flops_per_weight, layers[0].calls), (2, 2))

    def test_a_weight_applied_only_by_a_functional_call_is_counted_from_the_call(self):
        # F.conv2d(x, c.weight, stride=2) without calling c: the graph applies the weight, and export said "layer
        # 'c.weight' was not used in the forward pass of the first 8 samples", as if it were a dead layer
        import warnings
        import tempfile
        import falcon_torch as ft
        F = nn.functional

        class Functional(nn.Module):
            def __init__(self):
                super().__init__()
                self.c = nn.Conv2d(3, 4, 3)
                self.t = nn.ConvTranspose2d(4, 4, 2, stride=2)
                self.g = nn.Linear(4, 4)
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                h = F.conv2d(x, self.c.weight, self.c.bias, stride=2, padding=1)       # 5x5 output positions
                h = F.conv_transpose2d(h, weight=self.t.weight, stride=2)              # 5x5 input positions
                h = h.mean((2, 3))
                return self.fc(F.linear(h, self.g.weight) + F.linear(h, self.g.weight))   # 2 applications
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            layers = measure_flops(Functional(), torch.randn(2, 3, 9, 9))
            with tempfile.TemporaryDirectory() as d:
                ex = ft.export(Functional(), (torch.randn(8, 3, 9, 9), torch.randint(0, 2, (8,))), n_samples=8,
                               out_dir=d)
        expected = {"c.weight": 25, "t.weight": 25, "g.weight": 2, "fc.weight": 1}
        self.assertEqual({l.name: l.flops_per_weight for l in layers}, expected)
        self.assertEqual({l.name: l.flops_per_weight for l in ex.layers}, expected)

        # applied by what no count sees (the weight transposed, a product of its own): not "not used", but refused
        # with how to give its FLOPs
        class Product(nn.Module):
            def __init__(self):
                super().__init__()
                self.g = nn.Linear(4, 4)
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x @ self.g.weight.t())
        with self.assertRaisesRegex(ValueError, r"layer 'g.weight' is used in the forward pass only outside its module "
                                                r"\('g', which never runs\).*call the module itself, or pass the weight "
                                                r"itself to F.conv1d/2d/3d.*or leave it out of `prunable`"):
            measure_flops(Product(), torch.randn(2, 4))

    def test_a_functional_conv_on_one_unbatched_sample_is_checked_as_its_module_call_is(self):
        # F.conv2d(x, c.weight) on one unbatched (3, 8, 8) example read the batch size as 3 and counted c 12 and fc 1/3
        # (36 and 1 are right) without a word, where self.c(x) on the same example is refused with "pass batch_size=1"
        F = nn.functional

        class Single(nn.Module):
            def __init__(self, transposed):
                super().__init__()
                self.transposed = transposed
                self.c, self.t, self.fc = nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 2, stride=2), nn.Linear(4, 2)

            def forward(self, x):
                h = F.conv_transpose2d(x, self.t.weight, stride=2) if self.transposed else F.conv2d(x, self.c.weight)
                return self.fc(h.flatten(-2).mean(-1))     # batched or not
        torch.manual_seed(0)
        x = torch.randn(3, 8, 8)
        for transposed, name, expected in ((False, "F.conv2d on 'c.weight'", {"c.weight": 36, "fc.weight": 1}),
                                           (True, "F.conv_transpose2d on 't.weight'", {"t.weight": 64, "fc.weight": 1})):
            with self.subTest(name):
                layers = prunable_parameters(Single(transposed), [name.split("'")[1], "fc.weight"])
                with self.assertRaises(ValueError) as cm:
                    measure_flops(Single(transposed), x, layers)
                message = str(cm.exception)
                self.assertIn("read the batch size as 3, the first dimension of the example input (3, 8, 8)", message)
                self.assertIn(f"{name} (a functional call), the first call it reaches, takes it as one unbatched "
                              "sample", message)
                self.assertIn("pass batch_size=1 if the example is one unbatched sample", message)
                layers = prunable_parameters(Single(transposed), list(expected))
                self.assertEqual({l.name: l.flops_per_weight for l in measure_flops(Single(transposed), x, layers,
                                                                                    batch_size=1)}, expected)
                self.assertEqual({l.name: l.flops_per_weight
                                  for l in measure_flops(Single(transposed), x.unsqueeze(0), layers)}, expected)

    def test_a_weight_applied_by_its_module_and_by_a_functional_call_counts_both(self):
        # F.conv2d(h, self.c.weight, stride=2) beside self.c(x): the functional call was counted only where c never ran,
        # so here c.weight said 64 (80 is right) with a warning to "call the module itself", which cannot give stride 2
        import warnings
        F = nn.functional

        class Both(nn.Module):
            def __init__(self):
                super().__init__()
                self.c, self.fc = nn.Conv2d(3, 3, 3, padding=1), nn.Linear(3, 2)

            def forward(self, x):
                h = self.c(x)                                         # 8x8 = 64 positions
                h = F.conv2d(h, self.c.weight, stride=2, padding=1)   # 4x4 = 16 positions
                return self.fc(h.mean((2, 3)))

        class BothLinear(nn.Module):
            def __init__(self, transposed_too):
                super().__init__()
                self.g, self.fc, self.transposed_too = nn.Linear(4, 4), nn.Linear(4, 2), transposed_too

            def forward(self, x):
                h = self.g(x) + F.linear(x, self.g.weight)
                if self.transposed_too:       # applied a third time, by what no count sees
                    h = h + F.linear(x, self.g.weight.t())
                return self.fc(h)
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            both = measure_flops(Both(), torch.randn(2, 3, 8, 8))
            linear = measure_flops(BothLinear(False), torch.randn(2, 4))
        self.assertEqual([(l.name, l.flops_per_weight, l.calls) for l in both], [("c.weight", 80, 2), ("fc.weight", 1, 1)])
        self.assertEqual([(l.name, l.flops_per_weight, l.calls) for l in linear], [("g.weight", 2, 2), ("fc.weight", 1, 1)])
        # the use no count sees is still warned, saying what was counted, and with advice that fits it
        with self.assertWarns(RuntimeWarning) as cm:
            layers = measure_flops(BothLinear(True), torch.randn(2, 4))
        self.assertEqual(layers[0].flops_per_weight, 2)
        message = str(cm.warning)
        self.assertIn("weight 'g.weight' is used 1 more time(s) in the forward pass than counted (its module ('g') runs "
                      "(1 call(s)), and 1 call(s) of F.conv*/F.linear on the weight itself are counted)", message)
        self.assertIn("flops_per_weight 2 is too low; pass the weight itself to F.conv1d/2d/3d", message)
        self.assertNotIn("call the module itself", message)

    def test_a_weight_also_used_outside_its_module_is_named(self):
        # the hooks count the module's calls: a tied decoder's F.linear(h, enc.weight.t()) was not counted, and
        # flops_per_weight said 1 where every weight is multiplied twice per sample, without a word
        import warnings

        class TiedDecoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = nn.Linear(16, 4)
                self.dec_bias = nn.Parameter(torch.zeros(16))

            def forward(self, x):
                return nn.functional.linear(torch.relu(self.enc(x)), self.enc.weight.t(), self.dec_bias)
        with self.assertWarnsRegex(RuntimeWarning, r"weight 'enc.weight' is used 1 more time\(s\) .* \('enc'\) runs "
                                                   r"\(1 call\(s\)\).*flops_per_weight 1 is too low"):
            layers = measure_flops(TiedDecoder(), torch.randn(2, 16))
        self.assertEqual([l.flops_per_weight for l in layers], [1])

        # an embedding tied to the output Linear is a lookup, no multiply: no warning
        class TiedLM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(10, 4)
                self.out = nn.Linear(4, 10)
                self.out.weight = self.emb.weight

            def forward(self, t):
                return self.out(self.emb(t))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            layers = measure_flops(TiedLM(), torch.tensor([[1, 2, 3]]))
        self.assertEqual([l.flops_per_weight for l in layers], [3])

    def test_a_weight_standardized_or_normalized_in_its_module_is_no_use_outside_it(self):
        # weight standardization (BiT, timm's StdConv2d) and a cosine classifier read the weight in var_mean, sub and
        # norm before the conv or linear applies it once per position: those reads cost O(weight) once, yet each was
        # counted as a use outside the module, and the warning said a correct flops_per_weight was too low
        import warnings
        F = nn.functional

        class StdConv2d(nn.Conv2d):
            def forward(self, x):
                v, m = torch.var_mean(self.weight, dim=[1, 2, 3], keepdim=True, unbiased=False)
                return F.conv2d(x, (self.weight - m) / torch.sqrt(v + 1e-5), self.bias, self.stride, self.padding)

        class CosLinear(nn.Linear):
            def forward(self, x):
                return F.linear(F.normalize(x, dim=-1), F.normalize(self.weight, dim=-1)) * 10

        class Net(nn.Module):
            def __init__(self, outside):
                super().__init__()
                self.c, self.fc, self.outside = StdConv2d(3, 8, 3, padding=1), CosLinear(8, 5), outside

            def forward(self, x):
                h = self.c(x)
                if self.outside:         # the standardized weight applied once more, outside the module
                    h = h + F.conv2d(x, self.c.weight / self.c.weight.norm(), padding=1)
                return self.fc(h.mean((2, 3)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            layers = measure_flops(Net(False), torch.randn(2, 3, 8, 8))
        self.assertEqual([(l.name, l.flops_per_weight) for l in layers], [("c.weight", 64), ("fc.weight", 1)])
        with self.assertWarnsRegex(RuntimeWarning, r"weight 'c.weight' is used 1 more time\(s\) .* \('c'\) runs "
                                                   r"\(1 call\(s\)\).*flops_per_weight 64 is too low"):
            measure_flops(Net(True), torch.randn(2, 3, 8, 8))

        # the embedding's rows reach the tied output Linear through a LayerNorm: data looked up, no second application
        class NormedTiedLM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb, self.ln, self.out = nn.Embedding(10, 4), nn.LayerNorm(4), nn.Linear(4, 10)
                self.out.weight = self.emb.weight

            def forward(self, t):
                return self.out(self.ln(self.emb(t)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            layers = measure_flops(NormedTiedLM(), torch.tensor([[1, 2, 3]]))
        self.assertEqual([l.flops_per_weight for l in layers], [3])

    def test_a_weight_applied_by_a_broadcast_product_or_a_distance_is_a_use_outside_its_module(self):
        # (h.unsqueeze(-2) * W).sum(-1) is F.linear(h, W) by hand, and torch.cdist(h, W) takes W's rows as prototypes:
        # both apply W at every position, as its module does, yet only conv, mm and linear nodes were counted, so
        # flops_per_weight 1 (half the truth) came without a warning and the FLOP budget was overrun silently
        import warnings

        class Net(nn.Module):
            def __init__(self, use):
                super().__init__()
                self.f, self.l, self.use = nn.Linear(8, 8), nn.Linear(8, 8), use

            def forward(self, x):
                h = self.f(x)
                return self.l(h) + self.use(h, self.f.weight) + 0 * self.l.weight.sum()
        for name, use in (("product", lambda h, w: (h.unsqueeze(-2) * w).sum(-1)),
                          ("cdist", lambda h, w: torch.cdist(h, w)),
                          ("addcmul", lambda h, w: torch.addcmul(h.unsqueeze(-2), h.unsqueeze(-2), w).sum(-1))):
            with self.subTest(name):
                with self.assertWarnsRegex(RuntimeWarning, r"weight 'f.weight' is used 1 more time\(s\)") as cm:
                    measure_flops(Net(use), torch.randn(1, 8))
                self.assertEqual(1, len(cm.warnings), "l.weight's sum to one number applies it nowhere")
        # a weight scaled by a number of another weight is no use of the data: still quiet
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            layers = measure_flops(Net(lambda h, w: h * (w / w.norm()).mean()), torch.randn(1, 8))
        self.assertEqual([l.flops_per_weight for l in layers], [1, 1])

    def test_a_lookup_by_indexing_a_tied_weight_is_not_counted(self):
        # head.weight[ids] and index_select are lookups, as F.embedding is, yet they were counted as a use outside the
        # module and warned that flops_per_weight T was too low
        import warnings

        class IndexedLM(nn.Module):
            def __init__(self, lookup):
                super().__init__()
                self.lookup = lookup
                self.mix, self.head = nn.Linear(4, 4), nn.Linear(4, 10, bias=False)

            def forward(self, ids):
                table = self.head.weight
                h = table[ids] if self.lookup == "index" else table.index_select(0, ids.reshape(-1)).reshape(
                    *ids.shape, -1)
                return self.head(torch.tanh(self.mix(h)))
        for lookup in ("index", "index_select"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                layers = measure_flops(IndexedLM(lookup), torch.tensor([[1, 2, 3], [4, 5, 6]]))
            self.assertEqual([(l.name, l.flops_per_weight) for l in layers], [("mix.weight", 3), ("head.weight", 3)],
                             lookup)

    def test_transformer_layer_in_eval_mode(self):
        # export measures in eval mode; without grad, TransformerEncoderLayer's fast path skips linear1/linear2
        torch.manual_seed(0)
        m = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
        layers = measure_flops(m, torch.zeros(1, 5, 8), prunable_parameters(m, ["linear1", "linear2"]))
        self.assertEqual([(l.name, l.flops_per_weight) for l in layers], [("linear1.weight", 5), ("linear2.weight", 5)])

    def test_measuring_a_training_model_leaves_its_statistics_and_modes_as_they_were(self):
        # measure_flops ran its forward in the caller's mode: a training model's BatchNorm took the example batch into
        # its running statistics (and num_batches_tracked), though FLOPs are counted as inference runs
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Dropout(), nn.Flatten(), nn.Linear(3 * 36, 4))
        m[2].eval()
        state = {k: v.clone() for k, v in m.state_dict().items()}
        modes = [sub.training for sub in m.modules()]
        layers = measure_flops(m, torch.randn(2, 1, 8, 8))
        self.assertEqual([l.flops_per_weight for l in layers], [36, 1])
        for k, v in m.state_dict().items():
            self.assertTrue(torch.equal(v, state[k]), k)
        self.assertEqual([sub.training for sub in m.modules()], modes)

    def test_a_frozen_transformer_layer_is_measured(self):
        # with no weight requiring grad, TransformerEncoderLayer's eval fast path skipped linear1/linear2 even under
        # enable_grad: a frozen model (requires_grad_(False)) was refused with "layer linear1.weight was not used in the
        # forward pass"
        torch.manual_seed(0)
        m = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval().requires_grad_(False)
        layers = measure_flops(m, torch.zeros(1, 5, 8), prunable_parameters(m, ["linear1", "linear2", "self_attn.out_proj"]))
        self.assertEqual([(l.name, l.flops_per_weight) for l in layers],
                         [("self_attn.out_proj.weight", 5), ("linear1.weight", 5), ("linear2.weight", 5)])
        self.assertFalse(any(p.requires_grad for p in m.parameters()))

    def test_attention_out_proj_is_measured_on_the_attention(self):
        # attention applies out_proj's weight without calling out_proj, so no hook on it would ever fire
        torch.manual_seed(0)
        m = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
        layers = measure_flops(m, torch.zeros(1, 5, 8))
        self.assertEqual([(l.name, l.flops_per_weight) for l in layers],
                         [("self_attn.out_proj.weight", 5), ("linear1.weight", 5), ("linear2.weight", 5)])
        seq_first = nn.MultiheadAttention(8, 2)          # (L, N, E): the batch is the second dimension
        x = torch.zeros(7, 3, 8)
        layers = measure_flops(seq_first, (x, x, x), batch_size=3)
        self.assertEqual([(l.name, l.flops_per_weight) for l in layers], [("out_proj.weight", 7)])

    def test_default_excludes_biases_and_norms(self):
        m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3), nn.LayerNorm(3))
        names = [l.name for l in prunable_parameters(m)]
        self.assertEqual(names, ["0.weight", "3.weight"])
        self.assertEqual([l.name for l in prunable_parameters(m, ["3"])], ["3.weight"])
        with self.assertRaises(ValueError):
            prunable_parameters(m, ["1.weight"])      # a norm weight is never prunable
        with self.assertRaises(ValueError):
            prunable_parameters(m, ["0.bias"])

    def test_a_single_name_module_or_parameter_is_one_entry(self):
        # a name was iterated character by character: "11" chose layer 1, "features" failed on "f"
        m = nn.Sequential(*[nn.Linear(4, 4) for _ in range(12)])
        self.assertEqual([l.name for l in prunable_parameters(m, "11")], ["11.weight"])
        self.assertEqual([l.name for l in prunable_parameters(m, "10.weight")], ["10.weight"])
        self.assertEqual([l.name for l in prunable_parameters(m, m[3])], ["3.weight"])
        self.assertEqual([l.name for l in prunable_parameters(m, m[5].weight)], ["5.weight"])
        with self.assertRaisesRegex(ValueError, "'features' is not a parameter or module name"):
            prunable_parameters(m, "features")

    def test_a_container_module_stands_for_its_conv_and_linear_modules_not_its_keys(self):
        # a ModuleDict was iterated to its keys, looked up as top-level names: "fc" chose the model's own fc, not the
        # head of that key, and a key no top-level module had was "not a parameter or module name of the model"
        class Heads(nn.Module):
            def __init__(self, key):
                super().__init__()
                self.fc = nn.Linear(5, 5)
                self.heads = nn.ModuleDict({key: nn.Linear(5, 3)})
                self.tail = nn.ModuleList([nn.Sequential(nn.ReLU(), nn.Linear(3, 2))])
        for key in ("fc", "cls"):
            m = Heads(key)
            self.assertEqual([l.name for l in prunable_parameters(m, m.heads)], [f"heads.{key}.weight"])
            self.assertEqual([l.name for l in prunable_parameters(m, "heads")], [f"heads.{key}.weight"])
            self.assertEqual([l.name for l in prunable_parameters(m, m.tail)], ["tail.0.1.weight"])
            self.assertEqual([l.name for l in prunable_parameters(m, [m.tail, m.fc])], ["fc.weight", "tail.0.1.weight"])
        m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
        with self.assertRaisesRegex(ValueError, r"prunable entry '1' \(a Sequential\) holds no Conv/ConvTranspose/Linear"):
            prunable_parameters(m, m[1])

    def test_a_block_module_given_as_prunable_names_the_weights_inside_it(self):
        # a TransformerEncoderLayer (or its name) was "not the weight of a Conv/ConvTranspose/Linear module", without
        # saying that only containers expand or what to name instead; given as a module, its whole repr was printed
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
                self.head = nn.Linear(8, 3)
        m = Net()
        inside = (r"only an nn.ModuleDict, nn.ModuleList or nn.Sequential stands for the modules inside it; name the "
                  r"Conv/Linear weights inside it: ")
        first = r"'encoder\.layers\.0\.self_attn\.out_proj\.weight', '.*linear1\.weight', '.*linear2\.weight'"
        for entry, said, rest in (("encoder.layers.0", "'encoder.layers.0' is a TransformerEncoderLayer", "$"),
                                  (m.encoder.layers[0], "'encoder.layers.0' is a TransformerEncoderLayer", "$"),
                                  # six weights inside: three are named, and the ModuleList that holds them
                                  ("encoder", "'encoder' is a TransformerEncoder", r", \.\.\. \(or 'encoder.layers', "
                                                                                  r"which stands for the")):
            with self.assertRaisesRegex(ValueError, f"^prunable entry {said}, not a Conv/ConvTranspose/Linear module; "
                                                    f"{inside}{first}{rest}") as caught:
                prunable_parameters(m, entry)
            self.assertNotIn("\n", str(caught.exception))
        self.assertEqual(len(prunable_parameters(m, "encoder.layers")), 6)   # a ModuleList expands
        norm = m.encoder.layers[0].norm1
        with self.assertRaisesRegex(ValueError, r"^prunable entry 'encoder.layers.0.norm1' \(a LayerNorm\) is not the "
                                                r"weight of a Conv/ConvTranspose/Linear module"):
            prunable_parameters(m, norm)

    def test_a_module_or_parameter_of_another_model_is_refused_as_such(self):
        # a Linear of a copy of the model was refused as "not the weight of a Conv/ConvTranspose/Linear module"
        import copy
        m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
        copied = copy.deepcopy(m)
        with self.assertRaisesRegex(ValueError, r"prunable entry \(a Linear\) is no module of this model \(one of a copy"):
            prunable_parameters(m, [copied[2]])
        with self.assertRaisesRegex(ValueError, r"prunable entry \(a parameter of shape \(2, 1, 3, 3\)\) is no parameter of "
                                                r"this model"):
            prunable_parameters(m, copied[0].weight)
        self.assertEqual([l.name for l in prunable_parameters(m, [m[2], m[0].weight])], ["0.weight", "2.weight"])

    def test_reading_the_prunable_weights_leaves_a_spectral_norm_as_it_was(self):
        # module.weight of a spectral-normed layer runs a power iteration step in training mode, which changed its
        # buffers on every prunable_parameters/measure_flops call, though the layer is not even prunable
        import copy
        from torch.nn.utils.parametrizations import spectral_norm
        torch.manual_seed(0)
        m = nn.Sequential(spectral_norm(nn.Linear(4, 5)), nn.ReLU(), nn.Linear(5, 3))
        before = copy.deepcopy(m.state_dict())
        self.assertEqual([l.name for l in prunable_parameters(m)], ["2.weight"])
        self.assertEqual([l.name for l in prunable_parameters(m, ["2"])], ["2.weight"])
        import tempfile
        from falcon_torch import export
        with tempfile.TemporaryDirectory() as d:     # export's FLOP pass and gradients run in eval mode
            export(m, (torch.randn(3, 4), torch.tensor([0, 1, 2])), out_dir=d)
        self.assertTrue(m.training)
        for k, v in m.state_dict().items():
            self.assertTrue(torch.equal(v, before[k]), k)
        # a weight that is a Parameter under another name, behind a property, is still found

        class Aliased(nn.Linear):
            def __init__(self):
                super().__init__(4, 5)
                self.w = self._parameters.pop("weight")

            @property
            def weight(self):
                return self.w
        aliased = nn.Sequential(Aliased(), nn.ReLU(), nn.Linear(5, 3))
        self.assertEqual([l.name for l in prunable_parameters(aliased)], ["0.w", "2.weight"])
        self.assertEqual([l.flops_per_weight for l in measure_flops(aliased, torch.zeros(1, 4))], [1, 1])

    def test_a_reparametrized_weight_is_named_when_left_out(self):
        # weight_norm, parametrize and torch.nn.utils.prune make a Linear's weight a computed tensor: the default left
        # such a layer out without a word, and naming it said "the model has no prunable Conv/Linear weights"
        import warnings
        import torch.nn.utils.prune as torch_prune
        m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
        torch_prune.l1_unstructured(m[0], "weight", 0.5)
        with self.assertWarnsRegex(RuntimeWarning, "left out of the prunable weights: '0', whose weight is computed"):
            self.assertEqual([l.name for l in prunable_parameters(m)], ["2.weight"])
        for entry in ("0", "0.weight", m[0]):
            with self.assertRaisesRegex(ValueError, "prunable entry .*Linear's weight is computed from other parameters"
                                                    ".*remove the reparametrization"):
                prunable_parameters(m, [entry, "2"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")            # a plain model, or only the plain layer named: no warning
            prunable_parameters(nn.Sequential(nn.Linear(4, 3)))
            prunable_parameters(m, ["2"])
        nn.utils.weight_norm(m[2])
        with self.assertRaisesRegex(ValueError, "no prunable Conv/Linear weights: '0', '2' are Conv/Linear modules, "
                                                "but each one's weight is computed"):
            prunable_parameters(m)

    def test_a_weight_that_is_a_buffer_is_named_as_such(self):
        # a weight registered as a buffer (a fixed projection) was said to be "computed from other parameters", with the
        # advice to remove a reparametrization that does not exist
        m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
        fixed = m[0].weight.detach().clone()
        del m[0].weight
        m[0].register_buffer("weight", fixed)
        buffer = r"weight is a buffer \(register_buffer\), not an nn.Parameter.*make it an nn.Parameter"
        with self.assertWarnsRegex(RuntimeWarning, "left out of the prunable weights: '0', whose " + buffer) as caught:
            self.assertEqual([l.name for l in prunable_parameters(m)], ["2.weight"])
        self.assertNotIn("reparametrization", str(caught.warning))
        for entry in ("0", "0.weight", m[0]):
            with self.assertRaisesRegex(ValueError, "prunable entry .*Linear's " + buffer):
                prunable_parameters(m, [entry, "2"])
        nn.utils.weight_norm(m[2])        # one of each: each module is named with its own reason
        with self.assertRaisesRegex(ValueError, "no prunable Conv/Linear weights: '0' is a Conv/Linear module, but its "
                                                + buffer + ".*'2' is a Conv/Linear module, but its weight is computed "
                                                "from other parameters"):
            prunable_parameters(m)

    def test_a_torchscript_model_is_named_as_such(self):
        # its Linear layers are ScriptModules: "the model has no prunable Conv/Linear weights" left the reader puzzled
        eager = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
        for compiled in (torch.jit.script(eager), torch.jit.trace(eager, torch.zeros(1, 4))):
            with self.assertRaisesRegex(ValueError, "no prunable Conv/Linear weights: it is a TorchScript module .*"
                                                    "export the eager model"):
                prunable_parameters(compiled)
        self.assertEqual([l.name for l in prunable_parameters(eager)], ["0.weight", "2.weight"])

    def test_unused_layer_is_reported(self):
        class Unused(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

            def forward(self, x):
                return self.a(x)
        with self.assertRaisesRegex(ValueError, "not used"):
            measure_flops(Unused(), torch.zeros(1, 2))


if __name__ == "__main__":
    unittest.main()
