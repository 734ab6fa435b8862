"""falcon_torch: the PyTorch bridge of the falcon pruning engine.

    export(model, batches, ...)    per-sample gradients X.npy, weights w.npy, layers.json (FLOPs by hooks)
    apply(model, pruned, layers)   writes pruned weights back into the model, returns the masks
    prune(model, batches, ...)     export -> `falcon prune` -> apply, in one or several stages

See python/README.md.
"""
from .flops import LayerInfo, measure_flops, prunable_parameters
from .export import Export, export, per_sample_gradients
from .apply import apply, apply_masks, masks_from_model
from .cli import FalconError, FalconCLI, find_cli
from .drive import PruneResult, prune, stage_schedule
from . import gradcmd

__all__ = [
    "LayerInfo", "measure_flops", "prunable_parameters",
    "Export", "export", "per_sample_gradients",
    "apply", "apply_masks", "masks_from_model",
    "FalconError", "FalconCLI", "find_cli",
    "PruneResult", "prune", "stage_schedule", "gradcmd",
]
