"""falcon_torch: the PyTorch bridge of the falcon pruning engine.

    export(model, batches, ...)    per-sample gradients X.npy, weights w.npy, layers.json (FLOPs by hooks)
    apply(model, pruned, layers)   writes pruned weights back into the model, returns the masks
    prune(model, batches, ...)     export -> `falcon prune` -> apply, in one or several stages

See python/README.md.
"""
from .flops import LayerInfo, measure_flops, measure_flops_per_sample, prunable_parameters
from .export import Export, export, per_sample_gradients
from .apply import apply, apply_masks, masks_from_model
from .cli import FalconError, FalconCLI, find_cli
from .drive import PruneResult, prune, stage_schedule


def __getattr__(name):
    # gradcmd is imported on first use, not here: `python -m falcon_torch.gradcmd` imports this package first, and a
    # gradcmd already imported by it made runpy warn on every run ("found in sys.modules ... unpredictable behaviour")
    if name == "gradcmd":
        import importlib
        return importlib.import_module(".gradcmd", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "LayerInfo", "measure_flops", "measure_flops_per_sample", "prunable_parameters",
    "Export", "export", "per_sample_gradients",
    "apply", "apply_masks", "masks_from_model",
    "FalconError", "FalconCLI", "find_cli",
    "PruneResult", "prune", "stage_schedule", "gradcmd",
]
