"""A gradient command for multi-stage pruning driven by the CLI (falcon++ with a gradient source).

    session = ft.gradcmd.prepare(model, batches, "session-dir", n_samples=1000)
    # then, at any weights (p float32 values in layers.json order):
    /usr/bin/python3 -m falcon_torch.gradcmd --session session-dir --weights W.npy --out X.npy

`prepare` saves the model (torch.save of the whole module, so its class must be importable by the
command: put its module on PYTHONPATH), the calibration samples and layers.json. The command loads
them, writes W into the prunable weights and writes X (n x p float32, C order, rows scaled by
1/sqrt(n), exactly as `export`) atomically. `command(session)` returns the argv to hand to the CLI.
Exit codes: 0 ok, 2 bad input (missing session, a damaged model.pt or calib.pt, weights of the wrong count, not of
one dimension, not floating point or not finite, a model class it cannot import, an --out that is empty, a folder (or ends in /) or in a folder that does not exist).
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
from typing import Callable, List, Optional

import numpy as np
import torch

from .export import (batch_pair, check_n_samples, export, folder_made_for, is_one_batch, per_sample_gradients,
                     read_layers_json, refuse_meta_tensors, staged_files, warn_of_fewer_samples)


def prepare(model: torch.nn.Module, batches, session_dir: str, n_samples: int = 1000, prunable=None) -> str:
    """Writes model.pt, calib.pt (the first n_samples samples), layers.json, w.npy into session_dir. Batches holding
    fewer samples are all used, with the RuntimeWarning export gives ("batches held 64 samples, fewer than ...").

    All four are written under temporary names and renamed together at the end: a failing torch.save (a model holding a
    lambda) or export leaves no session, and an earlier session in session_dir as it was."""
    check_n_samples(n_samples)
    refuse_meta_tensors(model, "gradcmd.prepare")   # before session_dir is created
    with folder_made_for(session_dir):
        with staged_files() as stage:
            # export writes w.npy and layers.json under the prefix itself
            calib_path, model_path, _, _ = [
                stage(os.path.join(session_dir, name), os.path.join(session_dir, _STAGING + name))
                for name in ("calib.pt", "model.pt", "w.npy", "layers.json")]
            # the samples are gathered first and export reads them from here: a one-shot iterator yields them only once
            xs, ys, seen = [], [], 0
            if is_one_batch(batches):
                batches = [batches]
            for xb, yb in (batch_pair(b, i) for i, b in enumerate(batches)):
                take = min(xb.shape[0], n_samples - seen)
                xs.append(xb[:take].cpu()); ys.append(yb[:take].cpu())
                seen += take
                if seen >= n_samples:
                    break
            if not xs:
                raise ValueError("batches yielded no samples")
            calib = {"x": torch.cat(xs), "y": torch.cat(ys)}
            # torch.save creates its file before it pickles: written to the final name, a model it cannot pickle left a
            # truncated model.pt beside the other files of a complete-looking session (or over an earlier good one)
            torch.save(calib, calib_path)
            torch.save(model, model_path)
            export(model, (calib["x"], calib["y"]), prunable=prunable, n_samples=n_samples, out_dir=session_dir,
                   grads=False, prefix=_STAGING)
    if seen < n_samples:
        # export without X counts no samples, so it cannot say so: a session of 64 for n_samples=100 came without a word
        warn_of_fewer_samples(seen, n_samples)
    return session_dir


# the prefix of a session's files while prepare writes them
_STAGING = ".prepare-"


def command(session_dir: str, python: str = sys.executable) -> List[str]:
    """argv prefix of the gradient command; the caller appends --weights W --out X."""
    return [python, "-m", "falcon_torch.gradcmd", "--session", os.path.abspath(session_dir)]


def gradients_at(session_dir: str, weights_path: str, out_path: str, engine: str = "auto") -> int:
    _check_out(out_path)
    # a wrong folder was reported as its missing layers.json, as if that one file were the problem
    missing = [f for f in ("layers.json", "model.pt", "calib.pt") if not os.path.isfile(os.path.join(session_dir, f))]
    if missing:
        raise FileNotFoundError(f"--session {session_dir}: not a gradient session (no {', '.join(missing)}): give the "
                                "folder falcon_torch.gradcmd.prepare wrote")
    layers = read_layers_json(os.path.join(session_dir, "layers.json"))
    try:
        w = np.load(weights_path, allow_pickle=False)
    except (ValueError, OSError) as e:
        # numpy's words ("Cannot load file containing pickled data when allow_pickle=False") name no file
        raise ValueError(f"--weights {weights_path}: not a .npy array of weights ({e}); the CLI writes them as float32 "
                         ".npy") from e
    if not isinstance(w, np.ndarray):  # a zip file (.npz, or a torch.save file) loads as an archive
        w.close()
        raise ValueError(f"--weights {weights_path}: not a .npy array of weights (a zip archive); the CLI writes them "
                         "as float32 .npy")
    p = sum(l.count for l in layers)
    _check_weights(weights_path, w, p)
    model_path = os.path.join(session_dir, "model.pt")
    try:
        model = _load_session_file(model_path)
    except (AttributeError, ImportError) as e:
        # pickle's own words name the wrong module for a class defined in a script: "Can't get attribute 'Net' on
        # <module 'falcon_torch.gradcmd'>", since here __main__ is this command
        raise ValueError(f"{model_path}: the model's class cannot be imported by the gradient command ({e}); define "
                         "it in a module, not in the script run as __main__, and put that module's folder on "
                         "PYTHONPATH") from e
    calib = _load_session_file(os.path.join(session_dir, "calib.pt"))
    named = dict(model.named_parameters())
    with torch.no_grad():
        for l in layers:
            named[l.name].copy_(torch.from_numpy(np.ascontiguousarray(w[l.offset:l.offset + l.count],
                                                                      dtype=np.float32)).reshape(l.shape))
    n = calib["x"].shape[0]
    return per_sample_gradients(model, [(calib["x"], calib["y"])], layers, n, out_path, engine=engine)


def _check_weights(weights_path: str, w: np.ndarray, p: int) -> None:
    """The weights as the CLI writes them: p finite floating-point values in one dimension. Each of these ran with exit
    0: a NaN weight made almost every value of X NaN, integers were cast to float32 without a word, and a (1, p) array
    was flattened as if it were the CLI's."""
    if not np.issubdtype(w.dtype, np.floating):
        raise ValueError(f"--weights {weights_path}: is of dtype {w.dtype}, not floating point; the CLI writes the "
                         "weights as float32 .npy")
    if w.ndim != 1:
        raise ValueError(f"--weights {weights_path}: has shape {w.shape}, not ({p},): the CLI writes the weights as one "
                         "dimension of p values in layers.json order")
    if w.size != p:
        raise ValueError(f"{weights_path} has {w.size} values but the session's layers.json describes {p} weights")
    finite = np.isfinite(w)
    if not finite.all():
        index = int(np.argmin(finite))
        value = "NaN" if np.isnan(w[index]) else ("inf" if w[index] > 0 else "-inf")
        raise ValueError(f"--weights {weights_path}: holds {value} at index {index} (the first value that is not "
                         "finite); the gradients at such weights are not finite either")


def _check_out(out_path: str) -> None:
    """--out before any work: a folder was found only by the rename at the end, after the whole X was computed (a
    traceback, exit 1), and a missing folder was named by the temporary file's name, which the user never gave."""
    if out_path == "":
        # the working folder to abspath, which exists, so X was computed and then os.replace("...part.npy", "") failed
        raise ValueError("--out '': the name is empty (an unset shell variable?); give the file to write X to, e.g. "
                         "X.npy")
    if os.path.isdir(out_path) or out_path.endswith(("/", os.sep)):
        # "newdir/" names a folder whether or not it exists: its missing folder was named as "newdir/.part.npy"
        raise ValueError(f"--out {out_path}: is a folder; give the file to write X to, e.g. "
                         f"{os.path.join(out_path, 'X.npy')}")
    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--out {out_path}: the folder {os.path.dirname(out_path) or folder} does not exist; "
                                "create it or give a file in a folder that does")


def _load_session_file(path: str):
    """torch.load of a session file; a damaged one (truncated, not a torch.save file) is a ValueError naming it and the
    fix, where torch's own words ("PytorchStreamReader failed locating file data.pkl") name neither."""
    try:
        return torch.load(path)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: not a readable torch.save file ({e}); the session is damaged: write it again with "
                         "falcon_torch.gradcmd.prepare") from e


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m falcon_torch.gradcmd", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--session", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--engine", default="auto", choices=["auto", "vmap", "loop"])
    a = ap.parse_args(argv)
    try:
        n = gradients_at(a.session, a.weights, a.out, a.engine)
    except (FileNotFoundError, ValueError) as e:
        print(f"falcon_torch.gradcmd: {e}", file=sys.stderr)
        return 2
    print(f"falcon_torch.gradcmd: wrote {a.out} ({n} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
