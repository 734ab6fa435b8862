"""Export a torch model for `falcon prune`: X.npy, w.npy and layers.json.

X convention: row i is the gradient of sample i's loss w.r.t. the prunable weights (flattened in
layers.json order), divided by sqrt(n). Then X^T X = (1/n) sum_i g_i g_i^T is the *mean* empirical
Fisher, so the objective 1/2 ||X (w - wbar)||^2 is the usual second-order estimate of the mean loss
increase, independent of n. The ridge strength `--lambda` (with `--lambda-convention ridge`, the
CLI's default) is then on the same scale as the Fisher's eigenvalues, and equals the FALCON authors'
`l2` (their code uses unscaled gradients and lambda = l2 * n, which is the same problem times n).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional

import numpy as np
import torch
from torch import nn

from .flops import LayerInfo, dense_flops, measure_flops, prunable_parameters

FORMAT_VERSION = 1


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


def _iter_samples(batches, limit):
    """Yields (input, target) pairs of single samples (batch dimension 1) from an iterable of batches."""
    if isinstance(batches, (tuple, list)) and len(batches) == 2 and isinstance(batches[0], torch.Tensor):
        batches = [batches]
    seen = 0
    for batch in batches:
        xb, yb = batch[0], batch[1]
        for i in range(xb.shape[0]):
            if seen >= limit:
                return
            yield xb[i:i + 1], yb[i:i + 1]
            seen += 1


def _first_input(batches):
    if isinstance(batches, (tuple, list)) and len(batches) == 2 and isinstance(batches[0], torch.Tensor):
        return batches[0]
    for batch in batches:
        return batch[0]
    raise ValueError("batches is empty")


def _params_by_name(model, layers):
    named = dict(model.named_parameters())
    return [named[l.name] for l in layers]


def flat_weights(model: nn.Module, layers: List[LayerInfo]) -> np.ndarray:
    """The prunable weights, flattened in layers.json order, float32."""
    ps = _params_by_name(model, layers)
    return torch.cat([p.detach().reshape(-1).float().cpu() for p in ps]).numpy()


def per_sample_gradients(model: nn.Module, batches, layers: List[LayerInfo], n_samples: int, out_path: str,
                         loss_fn: Optional[Callable] = None) -> int:
    """Writes the scaled per-sample gradient matrix (n x p, float32, C order) to `out_path` row by row
    through a memory map (memory stays at one row). Returns n (<= n_samples, fewer if batches run out).
    The model is evaluated in eval mode (norm layers use their running statistics)."""
    if loss_fn is None:
        loss_fn = lambda out, y: nn.functional.cross_entropy(out, y, reduction="sum")
    params = _params_by_name(model, layers)
    p = sum(l.count for l in layers)
    device = params[0].device
    tmp = out_path + ".part.npy"
    X = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_samples, p), fortran_order=False)
    was_training = model.training
    model.eval()
    n = 0
    try:
        for x, y in _iter_samples(batches, n_samples):
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            grads = torch.autograd.grad(loss, params)
            X[n] = torch.cat([g.reshape(-1) for g in grads]).float().cpu().numpy()
            n += 1
    finally:
        model.train(was_training)
    if n == 0:
        del X
        os.remove(tmp)
        raise ValueError("batches yielded no samples")
    scale = np.float32(1.0 / math.sqrt(n))
    if n < n_samples:
        Y = np.lib.format.open_memmap(out_path + ".part2.npy", mode="w+", dtype=np.float32, shape=(n, p))
        for s in range(0, n, 256):
            e = min(s + 256, n)
            Y[s:e] = X[s:e] * scale
        Y.flush()
        del X, Y
        os.remove(tmp)
        os.replace(out_path + ".part2.npy", out_path)
    else:
        for s in range(0, n, 256):
            X[s:s + 256] *= scale
        X.flush()
        del X
        os.replace(tmp, out_path)
    return n


def write_layers_json(path: str, layers: List[LayerInfo], **meta) -> None:
    doc = {"format": "falcon-layers", "version": FORMAT_VERSION, **meta, "layers": [l.to_json() for l in layers]}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


def read_layers_json(path: str) -> List[LayerInfo]:
    with open(path) as f:
        doc = json.load(f)
    out, offset = [], 0
    for e in doc["layers"]:
        shape = tuple(int(d) for d in e["shape"])
        count = int(np.prod(shape)) if shape else 1
        off = int(e.get("offset", offset))
        out.append(LayerInfo(name=e["name"], module_name=e.get("module", e["name"].rsplit(".", 1)[0]),
                             kind=e.get("kind", "?"), shape=shape, count=count, offset=off,
                             flops_per_weight=float(e["flops_per_weight"])))
        offset = off + count
    return out


def export(model: nn.Module, batches, prunable=None, n_samples: int = 1000, out_dir: str = "falcon-export",
           loss_fn: Optional[Callable] = None, grads: bool = True, prefix: str = "") -> Export:
    """Writes `X.npy` (scaled per-sample gradients, n x p float32 C order), `w.npy` (p float32) and
    `layers.json` (flatten order, flops_per_weight measured by hooks, dense_flops) into `out_dir`.

    batches: an iterable of (inputs, targets) batches (e.g. a DataLoader), or one (inputs, targets) pair.
    prunable: None = every Conv/Linear weight (biases and norms never); or names/modules/parameters.
    loss_fn(output, target) -> summed loss of the batch (default: cross-entropy, reduction="sum").
    grads=False skips X (w.npy and layers.json only).
    """
    os.makedirs(out_dir, exist_ok=True)
    layers = prunable_parameters(model, prunable)
    was_training = model.training
    model.eval()
    try:
        x0 = _first_input(batches)
        measure_flops(model, x0[:1].to(next(model.parameters()).device), layers, batch_size=1)
    finally:
        model.train(was_training)
    w = flat_weights(model, layers)
    p = w.size
    wpath = os.path.join(out_dir, prefix + "w.npy")
    np.save(wpath + ".tmp.npy", w)
    os.replace(wpath + ".tmp.npy", wpath)
    xpath, n = None, 0
    if grads:
        xpath = os.path.join(out_dir, prefix + "X.npy")
        n = per_sample_gradients(model, batches, layers, n_samples, xpath, loss_fn)
    dflops = dense_flops(layers)
    meta = {"dense_flops": dflops, "parameters": p, "n_samples": n,
            "gradient_scale": "1/sqrt(n): X^T X is the mean empirical Fisher",
            "flops_unit": "multiply-adds per sample"}
    lpath = os.path.join(out_dir, prefix + "layers.json")
    write_layers_json(lpath, layers, **meta)
    return Export(out_dir=out_dir, grads_path=xpath, weights_path=wpath, layers_path=lpath, layers=layers,
                  n=n, p=p, dense_flops=dflops, meta=meta)
