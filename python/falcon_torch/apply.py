"""Write pruned weights back into a torch model and return the masks."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from .export import read_layers_json


def apply(model: nn.Module, pruned_path: str, layers_path: str, mask_path: Optional[str] = None
          ) -> Dict[str, torch.Tensor]:
    """Copies the pruned weights (`falcon prune --out`, p values in layers.json order) into `model`.

    Returns {parameter name: bool mask tensor of the parameter's shape}. The mask is the CLI's
    `--mask` file when `mask_path` is given (a kept weight may be exactly zero), else pruned != 0.
    Use `apply_masks(model, masks)` after each optimiser step to keep pruned weights at zero while
    fine-tuning.
    """
    layers = read_layers_json(layers_path)
    pruned = np.load(pruned_path, mmap_mode="r").reshape(-1)
    p = sum(l.count for l in layers)
    if pruned.size != p:
        raise ValueError(f"{pruned_path} has {pruned.size} values but {layers_path} describes {p} weights")
    mask_flat = None
    if mask_path is not None:
        mask_flat = np.load(mask_path, mmap_mode="r").reshape(-1)
        if mask_flat.size != p:
            raise ValueError(f"{mask_path} has {mask_flat.size} values but {layers_path} describes {p} weights")
    named = dict(model.named_parameters())
    # every layer is checked before the first weight is written: a failed apply leaves the model as it was
    for l in layers:
        if l.name not in named:
            raise ValueError(f"{layers_path}: layer {l.name!r} is not a parameter of the model; "
                             "give the layers.json exported from this model")
        param = named[l.name]
        if tuple(param.shape) != tuple(l.shape):
            raise ValueError(f"{layers_path}: layer {l.name!r} has shape {list(l.shape)} but the model's "
                             f"parameter has {list(param.shape)}; give the layers.json exported from this model")
    masks = {}
    with torch.no_grad():
        for l in layers:
            param = named[l.name]
            vals = np.array(pruned[l.offset:l.offset + l.count], dtype=np.float32).reshape(l.shape)
            t = torch.from_numpy(vals)
            param.copy_(t.to(dtype=param.dtype, device=param.device))
            if mask_flat is not None:
                m = torch.from_numpy(np.array(mask_flat[l.offset:l.offset + l.count], dtype=bool).reshape(l.shape))
            else:
                m = t != 0
            masks[l.name] = m.to(param.device)
    return masks


def apply_masks(model: nn.Module, masks: Dict[str, torch.Tensor]) -> None:
    """Zeroes the pruned weights again (call after optimiser steps when fine-tuning)."""
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, m in masks.items():
            named[name].mul_(m.to(dtype=named[name].dtype, device=named[name].device))


def masks_from_model(model: nn.Module, layers_path: str) -> Dict[str, torch.Tensor]:
    """Masks (weight != 0) of the layers listed in a layers.json."""
    named = dict(model.named_parameters())
    return {l.name: (named[l.name].detach() != 0) for l in read_layers_json(layers_path)}
