"""Export a torch model for `falcon prune`: X.npy, w.npy and layers.json.

X convention: row i is the gradient of sample i's loss w.r.t. the prunable weights (flattened in
layers.json order), divided by sqrt(n). Then X^T X = (1/n) sum_i g_i g_i^T is the *mean* empirical
Fisher, so the objective 1/2 ||X (w - wbar)||^2 is the usual second-order estimate of the mean loss
increase, independent of n. The ridge strength `--lambda` (with `--lambda-convention ridge`, the
CLI's default) is then on the same scale as the Fisher's eigenvalues, and equals the FALCON authors'
`l2` (their code uses unscaled gradients and lambda = l2 * n, which is the same problem times n).
"""
from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import math
import numbers
import os
import signal
import sys
import threading
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .cli import stopped_cleanly_by_termination
from .flops import LayerInfo, _buffers_kept, _modes, _restore_modes, dense_flops, measure_flops_per_sample, prunable_parameters, \
    unwrapped

FORMAT_VERSION = 1

# Samples whose forward passes measure the FLOPs, each its own pass: one sample is not every sample where the compute
# depends on the input (an expert the first sample routes no token to), and a few passes cost little beside n backward
# passes. Where the counts differ, flops_per_weight is their mean.
FLOP_SAMPLES = 8

# Bytes of gradient rows held at once: a chunk of 128 rows of a 25M-weight model is 12.8 GB, twice over while the
# rows are gathered, so the rows per chunk shrink with p (the MNIST CNN's 20k weights still take 128 at a time).
CHUNK_BYTES = 256 << 20


@dataclass
class Export:
    out_dir: str
    grads_path: Optional[str]
    weights_path: str
    layers_path: str
    layers: List[LayerInfo]
    n: int
    p: int
    dense_flops: float
    meta: dict = field(default_factory=dict)


def is_one_batch(batches) -> bool:
    """Whether `batches` is one batch, not an iterable of them: an (inputs, targets) pair, or a tuple or list of arrays
    that batch_pair then names (a pair of numpy arrays, three tensors given as one batch). A pair whose targets are an
    array is one batch whatever its inputs are: ((x, lengths), y) was read as a list of batches, the first (x, lengths),
    so lengths became the targets without a word and y was never read; batch_pair refuses such inputs by name."""
    if not isinstance(batches, (tuple, list)) or not batches:
        return False
    return ((len(batches) == 2 and (hasattr(batches[0], "shape") or hasattr(batches[1], "shape")))
            or all(hasattr(b, "shape") for b in batches))


def _dict_named(d: dict) -> str:
    """A dict as a message names it, with its keys: an empty one read "a dict (keys )"."""
    return f"a dict (keys {', '.join(map(repr, d))})" if d else "an empty dict"


def batch_pair(batch, index: int):
    """(inputs, targets) of batch `index`, each a tensor with the samples along the first dimension. Anything else is a
    ValueError saying what the batch is: a loader of dicts failed with "KeyError: 0", and inputs of several tensors or
    numpy arrays with "object has no attribute 'to'"."""
    fix = "batches must yield (inputs, targets) pairs of tensors, samples along the first dimension"
    if isinstance(batch, dict):
        raise ValueError(f"batch {index} is {_dict_named(batch)}, not an (inputs, targets) pair: "
                         f"{fix}, e.g. ((b[INPUTS], b[TARGETS]) for b in loader)")
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        what = f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list)) else \
            f"a {type(batch).__name__}"
        # (input_ids, attention_mask, labels) took the attention mask for the targets without a word
        pick = ("" if not isinstance(batch, (tuple, list)) or len(batch) < 3 else
                f"; export runs a model of one input tensor, so pick the inputs and the targets, e.g. "
                f"((b[0], b[{len(batch) - 1}]) for b in loader), and give a model that needs the other tensors too (an "
                "attention mask) as a wrapper module whose forward takes them stacked in that one input tensor")
        raise ValueError(f"batch {index} is {what}, not an (inputs, targets) pair: {fix}{pick}")
    for role, t in (("inputs", batch[0]), ("targets", batch[1])):
        if not isinstance(t, torch.Tensor):
            kind = type(t).__name__ if type(t).__module__ == "builtins" else f"{type(t).__module__}.{type(t).__name__}"
            why = (" (convert them with torch.from_numpy)" if isinstance(t, np.ndarray)
                   else " (export runs a model of one input tensor)" if role == "inputs" and isinstance(t, (tuple, list, dict))
                   else "")
            # README's way for a model of several inputs (model(x, lengths)), as for a batch of three tensors
            wrap = ("; give a model of several inputs as a wrapper module whose forward takes them stacked in that one "
                    "input tensor" if role == "inputs" and isinstance(t, (tuple, list)) else "")
            if role == "inputs" and isinstance(t, dict):
                # one ({'x': x}, y) pair was called "batch 0 is a dict", its inputs taken for the batch, and told to
                # pick keys of a loader's dict batches, which it has none of
                keys = list(t) or ["x"]
                # every key filled: the example with the first key alone built a dict without the attention mask
                example = (f"model({{{keys[0]!r}: x}})" if len(keys) == 1 else
                           "model({" + ", ".join(f"{k!r}: x[:, {i}]" for i, k in enumerate(keys)) + "}), for inputs "
                           "stacked as torch.stack([" + ", ".join(f"inputs[{k!r}]" for k in keys) + "], 1)")
                wrap = ("; give a model that reads a dict of inputs as a wrapper module whose forward builds the dict "
                        "from that one input tensor (stacking them in it where there are several), e.g. "
                        f"forward(self, x): return {example}")
            named = _dict_named(t) if isinstance(t, dict) else f"a {kind}"
            raise ValueError(f"batch {index}'s {role} are {named}, not a torch.Tensor{why}: {fix}{wrap}")
    # 16 inputs and 20 targets exported 16 samples without a word, and 20 and 16 failed inside torch (vmap's batch
    # size, after a warning of a fallback to the loop)
    sizes = [t.shape[0] if t.dim() else None for t in batch[:2]]
    if sizes[0] is None or sizes[0] != sizes[1]:
        counts = " but ".join(f"{role} without a sample dimension" if n is None else f"{n} {role}"
                              for n, role in zip(sizes, ("inputs", "targets")))
        raise ValueError(f"batch {index} has {counts}: {fix}, one target per input")
    return batch[0], batch[1]


def _first_samples(batches, count: int):
    """The inputs of the first `count` samples (fewer where batches hold fewer), one tensor of one sample each, and
    batches to iterate from the start afterwards: a one-shot iterator (a generator) gets the batches drawn here put
    back in front of it, and no batch beyond those is drawn."""
    if is_one_batch(batches):
        x = batch_pair(batches, 0)[0]
        return [x[i:i + 1] for i in range(min(count, x.shape[0]))], batches
    one_shot = iter(batches) is batches
    drawn, samples = [], []
    for index, batch in enumerate(batches):
        drawn.append(batch)
        x = batch_pair(batch, index)[0]
        samples.extend(x[i:i + 1] for i in range(min(count - len(samples), x.shape[0])))
        if len(samples) >= count:
            break
    if not drawn:
        raise ValueError("batches is empty")
    if not samples:
        raise ValueError("batches yielded no samples")
    return samples, itertools.chain(drawn, batches) if one_shot else batches


def _params_by_name(model, layers):
    named = dict(model.named_parameters())
    return [named[l.name] for l in layers]


def flat_weights(model: nn.Module, layers: List[LayerInfo]) -> np.ndarray:
    """The prunable weights, flattened in layers.json order, float32."""
    ps = _params_by_name(model, layers)
    return torch.cat([p.detach().reshape(-1).float().cpu() for p in ps]).numpy()


def _iter_chunks(batches, limit, chunk):
    """Yields (inputs, targets) chunks of at most `chunk` samples, `limit` samples in all."""
    if is_one_batch(batches):
        batches = [batches]
    seen = 0
    for index, batch in enumerate(batches):
        xb, yb = batch_pair(batch, index)
        for s in range(0, xb.shape[0], chunk):
            take = min(chunk, xb.shape[0] - s, limit - seen)
            yield xb[s:s + take], yb[s:s + take]
            seen += take
            if seen >= limit:      # before the next batch is drawn: a loader would load it, a one-shot iterator lose it
                return


def _autograd_tensor(t):
    """`t`, or a copy of it that autograd accepts when `t` was made under torch.inference_mode (call outside it)."""
    return t.clone() if isinstance(t, torch.Tensor) and t.is_inference() else t


# Within a prune call, whether the fewer-samples warning was given yet; None outside one.
_FEWER_SAMPLES_SAID = contextvars.ContextVar("fewer_samples_said", default=None)


@contextlib.contextmanager
def one_fewer_samples_warning():
    """Within it, warn_of_fewer_samples warns once: prune exports at every stage of falcon++ through Python (and
    exports, then runs gradcmd.prepare, through the CLI), and the same warning came once per export, 3 times for one
    prune call. Nested uses leave it to the outermost."""
    token = _FEWER_SAMPLES_SAID.set([]) if _FEWER_SAMPLES_SAID.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _FEWER_SAMPLES_SAID.reset(token)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _stacklevel_of_the_caller(frame) -> int:
    """warnings.warn's stacklevel, from `frame` (the frame calling warn), that names the first frame outside this
    package: the line of the user's export, prune or gradcmd.prepare call. A fixed stacklevel named a line of
    falcon_torch/drive.py when prune exported, and a decorator (stopped_cleanly_by_termination, a ContextDecorator)
    adds a frame of contextlib's between prune and its caller."""
    level = 1
    while frame.f_back is not None and (
            os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR
            or os.path.abspath(frame.f_code.co_filename) == os.path.abspath(contextlib.__file__)):
        frame = frame.f_back
        level += 1
    return level


def warn_of_fewer_samples(n: int, n_samples: int) -> None:
    """The RuntimeWarning that the batches held n samples where n_samples were asked for, at the caller's line outside
    this package; once per one_fewer_samples_warning block."""
    said = _FEWER_SAMPLES_SAID.get()
    if said:
        return
    if said is not None:
        said.append(True)
    # said, not silent: ex.n was 64 for n_samples=100, and the Fisher rested on fewer samples than asked
    warnings.warn(f"batches held {n} samples, fewer than n_samples={n_samples}: X has {n} rows; give more batches, or "
                  f"n_samples={n} to say that {n} is meant", RuntimeWarning,
                  stacklevel=_stacklevel_of_the_caller(sys._getframe()))


def check_n_samples(n_samples) -> None:
    # 0 was reported as "batches yielded no samples" and -1 as numpy's "negative dimensions are not allowed"
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a whole number of samples, at least 1, not {n_samples!r}")


class LossNotOneNumberError(ValueError):
    """loss_fn gave something other than one sample's loss; the loop engine would fail on it as vmap did."""


class LossWithoutWeightsError(ValueError):
    """loss_fn's loss does not depend on the prunable weights; either engine finds it, so no fallback."""


def _refuse_loss_without_weights(loss) -> None:
    # vmap's grad answered zeros for a detached loss, so X was all zeros and prune went on; the loop failed with
    # autograd's "element 0 of tensors does not require grad"
    if not loss.requires_grad:
        raise LossWithoutWeightsError(
            "loss_fn's loss does not depend on the prunable weights (it is detached from the model's output by "
            ".detach(), .item() or torch.no_grad(), or computed from other parameters only), so every row of X would "
            "be zero; return a loss computed from the model's output")


class OutputNotATensorError(ValueError):
    """The model returned no tensor (a tuple, a dict) and no loss_fn was given to pick the output falcon's default loss
    takes: torch's own "cross_entropy_loss(): argument 'input' ... must be Tensor, not tuple" named a lambda the user never
    wrote."""


def _default_loss(out, y):
    """Cross-entropy summed over the samples, for models whose output is the logits."""
    if not isinstance(out, torch.Tensor):
        # a dict (or a Hugging Face ModelOutput) is picked by key: out[0] raised KeyError: 0 there
        if isinstance(out, Mapping):
            keys = list(out.keys())
            key = "logits" if "logits" in keys else (keys[0] if keys else "<key>")
            pick, keys_named = f"out[{key!r}]", f" (its keys: {', '.join(map(repr, keys))})"
        else:
            pick, keys_named = "out[0]", ""
        raise OutputNotATensorError(
            f"the model returned a {type(out).__name__}{keys_named}, not a tensor of logits, and falcon's default loss "
            "(cross_entropy(output, labels, reduction=\"sum\")) takes a tensor: pass loss_fn, picking the output, e.g. "
            f"loss_fn=lambda out, y: torch.nn.functional.cross_entropy({pick}, y, reduction=\"sum\")")
    return nn.functional.cross_entropy(out, y, reduction="sum")


def _sample_loss(loss):
    """loss_fn's value for one sample as the 0-dim tensor functorch's grad and autograd differentiate. A loss of shape
    (1,) (reduction="none" on the one sample) is that number; functorch's grad refused it where autograd took it."""
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        return loss.reshape(())
    what = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else f"a {type(loss).__name__}"
    raise LossNotOneNumberError(f"loss_fn returned {what} for one sample: it must return that sample's loss as a tensor "
                                "of one number (sum or average an unreduced loss; keep the tensor, not .item())")


class _ModelAndLoss(nn.Module):
    """The model's forward and loss_fn as one module, so that functional_call's weights are in place for both: a loss_fn
    with a penalty on a weight it reads from the model differentiated the model's own tensor there, and vmap's X missed
    the penalty's gradient, which the loop engine has."""

    def __init__(self, model: nn.Module, loss_fn: Callable):
        super().__init__()
        self.model = model
        self.__dict__["loss_fn"] = loss_fn      # not a submodule: the state of a loss module is not the model's

    def forward(self, x, y):
        loss = _sample_loss(self.loss_fn(self.model(x), y))
        _refuse_loss_without_weights(loss)
        return loss


def _vmap_grad_fn(model, layers, loss_fn):
    """Per-sample gradients of a chunk with functorch.vmap(grad(.)) (torch 1.13), or None when
    functorch is unavailable."""
    try:
        from functorch import grad, vmap
        from torch.nn.utils.stateless import functional_call
    except ImportError:
        return None
    named = dict(model.named_parameters())
    whole = _ModelAndLoss(unwrapped(model), loss_fn)
    # every name a parameter goes by: a tied weight (one Parameter held by several modules) is listed once by
    # named_parameters(), and functional_call (torch 1.13) replaces it only under the names it is given
    aliases: Dict[int, List[str]] = {}
    for mname, m in whole.named_modules(remove_duplicate=False):
        for pname, prm in m._parameters.items():
            if prm is not None:
                aliases.setdefault(id(prm), []).append(f"{mname}.{pname}" if mname else pname)
    state = {}
    for v in whole.parameters():
        d = v.detach()
        state.update((a, d) for a in aliases[id(v)])
    state.update({k: v for k, v in whole.named_buffers()})
    name_aliases = [aliases[id(named[l.name])] for l in layers]
    # functional_call (torch 1.13) swaps attribute reads (module.weight) only; model.parameters() and
    # named_parameters() read each module's _parameters, so a loss_fn penalizing `for p in model.parameters()` got the
    # model's own tensors and vmap's X missed the penalty's gradient, which the loop engine has
    slots = []
    for mname, m in whole.named_modules(remove_duplicate=False):
        for pname, prm in m._parameters.items():
            if prm is not None:
                slots.append((m, pname, f"{mname}.{pname}" if mname else pname))

    def loss_one(pvals, x, y):
        st = dict(state)
        for al, v in zip(name_aliases, pvals):
            st.update((a, v) for a in al)
        originals = [(m, pname, m._parameters[pname]) for m, pname, _ in slots]
        try:
            for m, pname, path in slots:
                m._parameters[pname] = st[path]
            return functional_call(whole, st, (x.unsqueeze(0), y.unsqueeze(0)))
        finally:
            for m, pname, prm in reversed(originals):
                m._parameters[pname] = prm

    g = vmap(grad(loss_one), in_dims=(None, 0, 0))
    pvals = tuple(named[l.name].detach() for l in layers)

    def run(x, y):
        # copies, made per chunk: a model that changes its input in place (x /= 255 after a .float() that is no copy)
        # changed the caller's batch, and every later pass over the same samples saw it changed
        grads = g(pvals, x.clone(), y.clone())
        return torch.cat([t.reshape(t.shape[0], -1) for t in grads], dim=1)
    return run


def _loop_grad_fn(model, layers, loss_fn):
    named = dict(model.named_parameters())
    params = [named[l.name] for l in layers]
    forward = unwrapped(model)

    def run(x, y):
        # autograd differentiates only tensors that require grad, under grad mode: a frozen weight
        # (requires_grad=False) or a caller's torch.no_grad() would fail here, as they do not with vmap's grad
        frozen = [prm for prm in params if not prm.requires_grad]
        rows = []
        try:
            for prm in frozen:
                prm.requires_grad_(True)
            with torch.enable_grad():
                for i in range(x.shape[0]):
                    # a copy of the one sample, as vmap's chunk is: a model changing its input in place changed the
                    # caller's batch, and the next pass over the sample saw it changed
                    loss = _sample_loss(loss_fn(forward(x[i:i + 1].clone()), y[i:i + 1].clone()))
                    _refuse_loss_without_weights(loss)
                    # a weight the loss does not depend on (an auxiliary head the loss leaves out, a detached
                    # branch) has gradient zero, as vmap's grad gives it, not "not used in the graph"
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                    if all(t is None for t in grads):
                        # it depends on other parameters only (biases, norms): vmap's grad gives zeros there
                        _refuse_loss_without_weights(loss.detach())
                    rows.append(torch.cat([(t if t is not None else torch.zeros_like(prm)).reshape(-1)
                                           for t, prm in zip(grads, params)]))
        finally:
            for prm in frozen:
                prm.requires_grad_(False)
        return torch.stack(rows)
    return run


def refuse_meta_tensors(model: nn.Module, call: str, names: Optional[Iterable[str]] = None) -> None:
    """A ValueError when the model (or, given `names`, those of its parameters) holds a lazy module never run forward
    (see _refuse_lazy_modules_never_run), or is on the meta device, which holds shapes but no values: apply's copy_ into it did nothing and returned masks without data, losing the pruned weights
    without a word, and export/prune ran the FLOP passes and created out_dir before torch's bare "Cannot copy out of
    meta tensor; no data!"."""
    wanted = None if names is None else set(names)
    _refuse_lazy_modules_never_run(model, call, wanted)
    tensors = itertools.chain((("parameter", n, t) for n, t in model.named_parameters()),
                              (("buffer", n, t) for n, t in model.named_buffers()))
    meta = [(kind, n) for kind, n, t in tensors if t.is_meta and (wanted is None or n in wanted)]
    if meta:
        kind, name = meta[0]
        more = f" (and {len(meta) - 1} more)" if len(meta) > 1 else ""
        raise ValueError(f"{call}: the model's {kind} {name!r}{more} is on the meta device, which holds no values; "
                         "materialize the model first (model.to_empty(device='cpu'), then model.load_state_dict(...) "
                         "with its weights) or build it on a real device")


def _refuse_lazy_modules_never_run(model: nn.Module, call: str, wanted: Optional[set]) -> None:
    """A ValueError naming the first lazy module (nn.LazyLinear, nn.LazyConv2d, ...) never run forward: its parameters
    have no shape until its first forward pass, and export failed inside torch ("Can't access the shape of an
    uninitialized parameter") after creating out_dir, naming neither the module nor the fix."""
    for module_name, module in model.named_modules():
        own = itertools.chain((("parameter", n, t) for n, t in module.named_parameters(recurse=False)),
                              (("buffer", n, t) for n, t in module.named_buffers(recurse=False)))
        unset = [(kind, f"{module_name}.{n}" if module_name else n) for kind, n, t in own
                 if isinstance(t, nn.parameter.UninitializedTensorMixin)]
        if wanted is not None:
            unset = [(kind, n) for kind, n in unset if n in wanted]
        if unset:
            which = f"module {module_name!r}" if module_name else "root module"
            kind, name = unset[0]
            more = f" (and {len(unset) - 1} more)" if len(unset) > 1 else ""
            raise ValueError(f"{call}: the model's {which} ({type(module).__name__}) has not been run, so its "
                             f"{kind} {name!r}{more} has no shape or values yet; run one forward pass first "
                             "(model(inputs) on a batch), which gives the lazy module its shapes")


def _refuse_batch_statistics(model: nn.Module) -> None:
    """A BatchNorm without running statistics normalizes every batch by its own mean and variance, in eval mode too, so
    one sample's gradient depends on the samples beside it: the model as it runs in batches has no per-sample gradient.
    Fed one sample at a time, BatchNorm1d fails in torch ("Expected more than 1 value per channel") and BatchNorm2d
    quietly normalizes each sample by itself, a model that was never trained."""
    for name, m in unwrapped(model).named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None:
            raise ValueError(
                f"per-sample gradients are not defined for {name!r} ({type(m).__name__} with track_running_stats=False): "
                "it normalizes every batch by that batch's own statistics, so one sample's gradient depends on the "
                "samples beside it; give it running statistics (track_running_stats=True, then a pass over training "
                "data in train mode) or use a per-sample norm (LayerNorm, GroupNorm) before exporting")


def _gradient_check_tolerance(dtype: torch.dtype):
    """(rtol, atol as a fraction of the largest gradient) within which vmap's first row must equal autograd's for
    weights of `dtype`. float32's was every dtype's: a bfloat16 model, whose rows agree to bfloat16's rounding (0.00195
    where the largest gradient is 0.312, 0.8 of its eps relative to it), was said to have a loss_fn reading a weight vmap
    does not swap in. float32 and float64 keep their tolerance, which finds a penalty of a fraction of a percent; a
    coarser dtype gets a few of its eps, as vmap's kernels and autograd's round to it in a different order."""
    eps = torch.finfo(dtype).eps
    return max(1e-4, 8 * eps), max(1e-5, 4 * eps)


def _loop_instead(why: str, model: nn.Module, layers: List[LayerInfo], loss_fn: Callable) -> Callable:
    """The loop engine's gradient function, after a warning that says why vmap's is not used (warned at the caller of
    per_sample_gradients)."""
    warnings.warn(f"per-sample gradients: {why}; falling back to one backward pass per sample (engine='loop', "
                  "slower); pass engine='loop' to skip vmap", RuntimeWarning, stacklevel=3)
    return _loop_grad_fn(model, layers, loss_fn)


def per_sample_gradients(model: nn.Module, batches, layers: List[LayerInfo], n_samples: int, out_path: str,
                         loss_fn: Optional[Callable] = None, engine: str = "auto", chunk: int = 128) -> int:
    """Writes the scaled per-sample gradient matrix (n x p, float32, C order) to `out_path` chunk by
    chunk through a memory map (memory stays at one chunk of rows: `chunk` samples, fewer when their rows would
    exceed CHUNK_BYTES). Returns n (<= n_samples, fewer if
    batches run out). The model is evaluated in eval mode (norm layers use their running statistics).

    engine: "vmap" (functorch.vmap over samples), "loop" (one backward per sample), or "auto" (vmap,
    falling back to the loop when the model does not vmap, e.g. data-dependent control flow)."""
    # the vmap check's message names loss_fn only where the caller gave one
    suspects = "the model" if loss_fn is None else "loss_fn or the model"
    if loss_fn is None:
        loss_fn = _default_loss
    if engine not in ("auto", "vmap", "loop"):
        raise ValueError(f"engine must be auto, vmap or loop, not {engine!r}")
    check_n_samples(n_samples)
    _refuse_batch_statistics(model)
    p = sum(l.count for l in layers)
    chunk = max(1, min(chunk, CHUNK_BYTES // (4 * p)))
    device = next(model.parameters()).device
    # the coarsest dtype of the prunable weights: their gradients are rounded to it
    coarsest = max((prm.dtype for prm in _params_by_name(model, layers)), key=lambda d: torch.finfo(d).eps)
    rtol, atol_fraction = _gradient_check_tolerance(coarsest)
    fn = None if engine == "loop" else _vmap_grad_fn(model, layers, loss_fn)
    if fn is None:
        if engine == "vmap":
            raise RuntimeError("functorch is not available for engine='vmap'")
        fn = _loop_grad_fn(model, layers, loss_fn)
    tmp = out_path + ".part.npy"
    X = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_samples, p), fortran_order=False)
    modes = _modes(model)
    model.eval()
    n = 0
    try:
        # not under a caller's torch.inference_mode(): functorch's grad answers zeros there without a word (and the
        # loop engine fails), so X was all zeros; inputs made in inference mode are copied, autograd refuses them
        with torch.inference_mode(False):
            for x, y in _iter_chunks(batches, n_samples, chunk):
                x, y = _autograd_tensor(x.to(device)), _autograd_tensor(y.to(device))
                if engine != "loop" and n == 0:
                    # one backward of the first sample, vmap's check below, taken before vmap runs: a loss_fn that
                    # returns no tensor of one number (.item()) failed inside vmap first, and the fallback to the slower
                    # loop was announced before the loop refused the loss in its own words
                    ref = _loop_grad_fn(model, layers, loss_fn)(x[:1], y[:1])
                try:
                    rows = fn(x, y)
                except Exception as e:
                    if engine != "auto" or isinstance(e, (LossNotOneNumberError, LossWithoutWeightsError, OutputNotATensorError)):
                        raise
                    # said, not silent: the loop is several times slower, and an error of the model itself shows up
                    # here too (the loop then raises it again)
                    engine, fn = "loop", _loop_instead(f"vmap failed ({type(e).__name__}: {e})", model, layers, loss_fn)
                    rows = fn(x, y)
                if engine != "loop" and n == 0:
                    # vmap differentiates the weights it swaps in; a loss_fn holding a weight of its own (a tensor
                    # taken from the model beforehand) differentiates the model's tensor, which vmap's X misses
                    # without a word: one backward of the first sample (ref) shows it
                    finite = ref[torch.isfinite(ref)]   # a NaN gradient is the CLI's to name, in both engines' X
                    scale = float(finite.abs().max()) if finite.numel() else 0.0
                    if not torch.allclose(rows[:1].to(ref.dtype), ref, rtol=rtol, atol=atol_fraction * scale + 1e-12,
                                          equal_nan=True):
                        diff = float((rows[:1].to(ref.dtype) - ref).abs().max())
                        coarse = ("" if torch.finfo(coarsest).eps <= torch.finfo(torch.float32).eps else
                                  f", beyond the tolerance for {coarsest} weights (rtol {rtol:.2g}, atol "
                                  f"{atol_fraction:.2g} of the largest)")
                        why = (f"vmap's gradient of the first sample differs from autograd's by up to {diff:.3g} (of "
                               f"{scale:.3g}{coarse}): {suspects} reads a weight vmap does not swap in (a tensor taken "
                               "from the model's parameters before the call and kept?), or the model's forward changes "
                               "state it reads (a buffer or attribute updated in place)")
                        if engine == "vmap":
                            raise RuntimeError(f"per-sample gradients: {why}; use engine='loop' or 'auto'")
                        engine, fn = "loop", _loop_instead(why, model, layers, loss_fn)
                        rows = fn(x, y)
                X[n:n + rows.shape[0]] = rows.detach().float().cpu().numpy()
                n += rows.shape[0]
    except BaseException:              # a failing model or loss_fn, or an interrupt: no partial X is left behind
        del X
        os.remove(tmp)
        raise
    finally:
        _restore_modes(modes)
    if n == 0:
        del X
        os.remove(tmp)
        raise ValueError("batches yielded no samples")
    scale = np.float32(1.0 / math.sqrt(n))
    if n < n_samples:
        shorter = out_path + ".part2.npy"
        try:
            Y = np.lib.format.open_memmap(shorter, mode="w+", dtype=np.float32, shape=(n, p))
            for s in range(0, n, chunk):
                e = min(s + chunk, n)
                Y[s:e] = X[s:e] * scale
            Y.flush()
            del X, Y
            os.remove(tmp)
            os.replace(shorter, out_path)
        except BaseException:          # an interrupt while rescaling: neither partial file is left behind
            for leftover in (tmp, shorter):
                if os.path.exists(leftover):
                    os.remove(leftover)
            raise
    else:
        try:
            for s in range(0, n, chunk):
                X[s:s + chunk] *= scale
            X.flush()
            del X
            os.replace(tmp, out_path)
        except BaseException:          # an out_path that is a folder failed the rename, and left the whole X as tmp
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    return n


@contextlib.contextmanager
def folder_made_for(path: str):
    """The folder `path`, made with any parents missing; those of them still empty when the block raises are removed,
    so an input refused after the folder was needed (a prunable name, a loss_fn) leaves nothing behind. A folder that
    was there before is left as it was."""
    made = []
    try:
        # one component at a time, as the path is written: a normalized path's parents are not what os.makedirs makes
        # of 'new/../out' ('new' too, which was left behind), and normalizing it would go elsewhere where 'new' is a
        # link
        folder = ""
        for part in _path_components(path):
            folder = os.path.join(folder, part) if folder else part
            if os.path.isdir(folder):
                continue
            try:
                os.mkdir(folder)
            except FileExistsError:
                if not os.path.isdir(folder):
                    raise
                continue        # made by another process meanwhile: not ours to remove
            made.append(folder)
        yield path
    except BaseException:
        for folder in reversed(made):   # the deepest first
            try:
                os.rmdir(folder)
            except OSError:             # not empty (another process wrote into it), or gone: kept as it is
                break
        raise


def _path_components(path: str) -> List[str]:
    """The components of `path` in order, the root of an absolute one first ('/' or a drive), '.' left out."""
    head, parts = os.fspath(path), []
    while True:
        parent, name = os.path.split(head)
        if name:
            if name != os.curdir:
                parts.append(name)
        if not parent or parent == head:
            if parent:
                parts.append(parent)
            break
        head = parent
    return parts[::-1]


@contextlib.contextmanager
def staged_files():
    """Files written under temporary names and renamed to their own together when the block ends, or removed when it
    raises (an interrupt included): a failed export, or gradcmd.prepare's failed torch.save, leaves what was there before
    as it was. Yields stage(final, temporary) -> temporary, the path to write.

    "Together": a SIGINT, SIGTERM or SIGHUP that comes during the renames is held until all of them are done, then taken
    as it would have been (its handler runs, or the default action ends the process): one after the other, a stop
    between two renames left new files beside old ones, and the rest under their temporary names. While the files are
    written, SIGTERM and SIGHUP with their default action end the block as Ctrl-C does
    (cli.stopped_cleanly_by_termination), so the temporary files are removed before the process dies of the signal.
    Only SIGKILL (or a crash) leaves them."""
    staged = []

    def stage(final: str, temporary: str) -> str:
        staged.append((temporary, final))
        return temporary
    with stopped_cleanly_by_termination():
        try:
            yield stage
            with _stops_held():
                for temporary, final in staged:
                    os.replace(temporary, final)
        except BaseException:
            for temporary, _ in staged:
                if os.path.exists(temporary):
                    os.remove(temporary)
            raise


# the signals that stop a run from outside: Ctrl-C, kill, timeout, a batch scheduler's, a closed ssh session
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _stops_held():
    """SIGINT, SIGTERM and SIGHUP that come while the block runs are taken when it ends, by the handlers the process had.
    Only the main thread can install handlers, and Python runs them there; a signal ignored (nohup) or handled from C
    is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received, held = [], {}
    for signum in _STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is not signal.SIG_IGN and handler is not None:
            held[signum] = handler
            signal.signal(signum, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


def write_layers_json(path: str, layers: List[LayerInfo], **meta) -> None:
    doc = {"format": "falcon-layers", "version": FORMAT_VERSION, **meta, "layers": [l.to_json() for l in layers]}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


def read_layers_json(path: str) -> List[LayerInfo]:
    """The layer table of a layers.json, read by the CLI's rules: "offset" and "count" left out or null are derived from
    the shapes, and given they must agree with them; a key the CLI does not know (a misspelt "offest") is refused, as
    the CLI refuses it. A file that is not one (a report, a truncated file) or a field the CLI refuses is a ValueError
    naming the file and the field, not a bare KeyError, TypeError or JSONDecodeError."""
    fix = "give the layers.json written by falcon_torch.export"
    with open(path) as f:
        try:
            doc = json.load(f)
        except ValueError as e:
            raise ValueError(f"{path}: not JSON ({e}); {fix}") from e
    if isinstance(doc, dict) and ("falcon_version" in doc or "budgets" in doc):
        # LayersJson.isReport's test and words: falcon's own report is whole, just no table, so not "fix or remove" a key
        marker = "falcon_version" if "falcon_version" in doc else "budgets"
        raise ValueError(f'{path}: json: is a falcon prune report (it has "{marker}"), not a layer table; give the layer '
                         "table the run read (the report's inputs.files.layers), or write "
                         '{"layers": [{"name": ..., "shape": [...], "flops_per_weight": ...}, ...]}')
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        raise ValueError(f"{path}: no 'layers' list, so not a layer table; {fix}")
    # after the checks above: a file that is no table is named so, not by its first unknown key
    _refuse_unknown_keys(path, "json", "top-level key", doc, _TOP_LEVEL_KEYS, _EXPORTER_TOP_LEVEL_KEYS)
    out, offset, seen = [], 0, {}
    for i, e in enumerate(doc["layers"]):
        if isinstance(e, dict):
            named = f" ({json.dumps(e['name'], ensure_ascii=False)})" if isinstance(e.get("name"), str) else ""
            _refuse_unknown_keys(path, f"layers[{i}]{named}", "key", e, _LAYER_KEYS, _EXPORTER_LAYER_KEYS)
        missing = [k for k in ("name", "shape", "flops_per_weight") if not isinstance(e, dict) or k not in e]
        if missing:
            raise ValueError(f"{path}: layers[{i}] has no {', '.join(repr(k) for k in missing)}; {fix}")
        _check_layer_name(path, i, e["name"], seen)
        where = f"layers[{i}] ({json.dumps(e['name'], ensure_ascii=False)})"
        flops_per_weight = _flops_per_weight(path, where, e["flops_per_weight"])
        shape = _layer_shape(path, where, e["shape"])
        count = int(np.prod(shape, dtype=object)) if shape else 1
        # the CLI's rules (LayersJson.optionalLong, LayerTable): an offset or count left out or null is derived, one
        # given must be what it would be derived as
        off = _optional_integer(path, where, e, "offset", offset, 0)
        given_count = _optional_integer(path, where, e, "count", count, 1)
        if given_count != count:
            raise ValueError(f"{path}: {where}.count: is {given_count} but shape {list(shape)} has {count} elements; "
                             "make count equal the product of shape")
        if off != offset:
            raise ValueError(f"{path}: {where}.offset: is {off} but the previous layers end at {offset} "
                             f"({'a gap' if off > offset else 'an overlap'}); list the layers in flatten order covering "
                             "the weights without gaps or overlaps")
        out.append(LayerInfo(name=e["name"], module_name=e.get("module", e["name"].rsplit(".", 1)[0]),
                             kind=e.get("kind", "?"), shape=shape, count=count, offset=off,
                             flops_per_weight=flops_per_weight))
        offset = off + count
    return out


# LayersJson's: the keys the CLI reads, and those the exporter writes that it knows and does not read; any other key it
# refuses, so a misspelt "offest" is not ignored and the offset it meant derived instead
_TOP_LEVEL_KEYS = ("layers",)
_EXPORTER_TOP_LEVEL_KEYS = ("format", "version", "dense_flops", "parameters", "n_samples", "gradient_scale", "flops_unit")
_LAYER_KEYS = ("name", "shape", "flops_per_weight", "offset", "count")
_EXPORTER_LAYER_KEYS = ("kind", "module")


def _refuse_unknown_keys(path: str, where: str, what: str, entry: dict, read, exporters) -> None:
    """A ValueError in the CLI's words (LayersJson.refuseUnknownKeys) for the first key of entry it does not know,
    naming the closest known one where it is a near miss."""
    for key in entry:
        if key in read or key in exporters:
            continue
        closest = min(read, key=lambda known: _edit_distance(key, known))    # the first of a tie, as LayersJson
        best = _edit_distance(key, closest)
        # only a near miss is a likely misspelling: "extra" is no "count"
        near = best <= max(2, len(closest) // 3) and best < len(key)
        raise ValueError(f"{path}: {where}: unknown {what} {json.dumps(key, ensure_ascii=False)}"
                         + (f' (did you mean "{closest}"?)' if near else "")
                         + f"; the known keys are {', '.join(read)} (and {', '.join(exporters)}, which "
                         "falcon_torch.export writes and falcon does not read); "
                         + (f'rename it to "{closest}"' if near else "fix or remove it"))


def _edit_distance(a: str, b: str) -> int:
    """Edits (insertions, deletions, substitutions and swaps of neighbours) between a and b, as LayersJson counts."""
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _check_layer_name(path: str, index: int, name, seen: dict) -> None:
    """The CLI's rules for a layer's name (LayersJson, LayerTable.checkName), in its words: a non-empty string without
    control characters (names are printed in one-line messages, where an ESC or a newline would drive the terminal or
    forge lines), unique, since apply writes each layer's weights into the parameter of that name."""
    at = f"{path}: layers[{index}].name: "
    if not isinstance(name, str) or not name:
        raise ValueError(at + "missing, empty or not a string; give every layer its tensor name")
    for position, ch in enumerate(name):
        if unicodedata.category(ch) == "Cc":    # C0, DEL and C1, as Java's Character.isISOControl
            raise ValueError(at + f'"{_escaped(name)}" has the control character {_escaped(ch)} at position {position}; '
                             "layer names must not contain control characters (C0, DEL, C1): rename the layer")
    if name in seen:
        raise ValueError(f"{path}: layers[{index}] ({json.dumps(name, ensure_ascii=False)}).name: duplicates "
                         f"layers[{seen[name]}]; layer names must be unique")
    seen[name] = index


def _escaped(s: str) -> str:
    """s with each control character written as \\uXXXX, as LayerTable.escaped writes it."""
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) == "Cc" else ch for ch in s)


def _flops_per_weight(path: str, where: str, value) -> float:
    """A layer's flops_per_weight as the CLI takes it: a JSON number (not true/false, not a string) that is positive and
    finite; json.load reads Infinity and NaN as floats, which the CLI reads and refuses in the same words."""
    cost_fix = "give the FLOPs one nonzero weight costs (H_out*W_out for a conv, 1 for a linear layer)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: {where}.flops_per_weight: missing or not a number; {cost_fix}")
    try:
        flops = float(value)
    except OverflowError:
        flops = math.inf        # an integer beyond a float, which the CLI reads as Inf
    if not (flops > 0) or math.isinf(flops):
        # 0.0 (and 1e-400, read as 0.0) as the CLI writes zero
        shown = "NaN" if math.isnan(flops) else "Inf" if math.isinf(flops) else "0" if flops == 0 else repr(value)
        raise ValueError(f"{path}: {where}.flops_per_weight: is {shown}; it must be a positive finite number: {cost_fix}")
    return flops


def _layer_shape(path: str, where: str, shape) -> Tuple[int, ...]:
    """A layer's shape as the CLI takes it: a list of positive integers ([] for a scalar)."""
    if not isinstance(shape, list):
        raise ValueError(f"{path}: {where}.shape: is {shape!r}, not a list; give the tensor shape, e.g. [64, 3, 3, 3]")
    for d, v in enumerate(shape):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{path}: {where}.shape: entry {d} is {v!r}, not an integer >= 1; dimensions must be "
                             "positive integers")
    return tuple(shape)


def _optional_integer(path: str, where: str, entry: dict, key: str, derived: int, minimum: int) -> int:
    """entry[key], an integer >= minimum, or `derived` where it is left out or null (json.dump's None)."""
    v = entry.get(key)
    if v is None:
        return derived
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        # json.load reads 2.0 as a float, which the CLI refuses as no integer
        raise ValueError(f"{path}: {where}.{key}: is {v!r}, not an integer >= {minimum}; fix it or omit it (it is then "
                         "derived from the shapes)")
    return v


def export(model: nn.Module, batches, prunable=None, n_samples: int = 1000, out_dir: str = "falcon-export",
           loss_fn: Optional[Callable] = None, grads: bool = True, prefix: str = "", engine: str = "auto") -> Export:
    """Writes `X.npy` (scaled per-sample gradients, n x p float32 C order), `w.npy` (p float32) and
    `layers.json` (flatten order, flops_per_weight measured by hooks, dense_flops) into `out_dir`.

    batches: an iterable of (inputs, targets) batches (e.g. a DataLoader), or one (inputs, targets) pair.
    prunable: None = every Conv/Linear weight (biases and norms never); or names/modules/parameters.
    loss_fn(output, target) -> the loss of one sample, one number: it is called with a batch of one sample (default:
    cross-entropy, reduction="sum"; "mean" is the same for a classifier, but a class-weighted mean cancels the weight).
    grads=False skips X (w.npy and layers.json only; an X.npy already in out_dir is left as it is, with a warning).
    engine: per-sample gradient engine, "auto" (functorch.vmap, else a loop), "vmap" or "loop".
    """
    check_n_samples(n_samples)
    refuse_meta_tensors(model, "export")    # before out_dir is created
    if grads:
        _refuse_batch_statistics(model)     # before the FLOP count, whose one-sample passes fail on BatchNorm1d first
    # an export refused on its input (a prunable name, a loss_fn) left the out_dir it had made behind, empty
    with folder_made_for(out_dir), _buffers_kept(model):
        layers = prunable_parameters(model, prunable)
        samples, batches = _first_samples(batches, min(n_samples, FLOP_SAMPLES))
        device = next(model.parameters()).device
        measure_flops_per_sample(model, [s.to(device) for s in samples], layers)
        w = flat_weights(model, layers)
        p = w.size
        wpath = os.path.join(out_dir, prefix + "w.npy")
        xpath = os.path.join(out_dir, prefix + "X.npy") if grads else None
        lpath = os.path.join(out_dir, prefix + "layers.json")
        # all three files are written under temporary names and renamed together at the end: a failed export leaves
        # an earlier export in out_dir as it was, not its X and layers.json with this model's weights
        with staged_files() as stage:
            np.save(stage(wpath, wpath + ".tmp.npy"), w)
            n = 0
            if grads:
                n = per_sample_gradients(model, batches, layers, n_samples, stage(xpath, xpath + ".tmp.npy"), loss_fn,
                                         engine=engine)
                if n < n_samples:
                    warn_of_fewer_samples(n, n_samples)
            dflops = dense_flops(layers)
            meta = {"dense_flops": dflops, "parameters": p, "n_samples": n,
                    "gradient_scale": "1/sqrt(n): X^T X is the mean empirical Fisher",
                    "flops_unit": "multiply-adds per sample"}
            write_layers_json(stage(lpath, lpath + ".tmp"), layers, **meta)
    stale = os.path.join(out_dir, prefix + "X.npy")
    if not grads and os.path.exists(stale):
        # kept (it may have cost hours), but it is an earlier export's and may not be the gradients of these weights
        warnings.warn(f"{stale} was not rewritten (grads=False): it comes from an earlier export and matches w.npy and "
                      "layers.json only if the weights have not changed since; export with grads=True to refresh it",
                      RuntimeWarning, stacklevel=2)
    return Export(out_dir=out_dir, grads_path=xpath, weights_path=wpath, layers_path=lpath, layers=layers,
                  n=n, p=p, dense_flops=dflops, meta=meta)
