"""Write pruned weights back into a torch model and return the masks."""
from __future__ import annotations

import json
import os
import re
import struct
import warnings
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from .export import read_layers_json, refuse_meta_tensors


# safetensors dtypes numpy reads as they are; BF16 is widened to float32 (numpy has no bfloat16)
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BOOL": "|b1", "U8": "|u1", "I8": "|i1"}


# where a spec's file ends and its tensor's name begins, as the CLI finds it (ArrayFiles.tensorSeparator): at the
# first ".safetensors:", in any case, since the CLI writes an --out OUT.SAFETENSORS and tensor names hold ':' too
# (Keras's "dense/kernel:0")
_TENSOR_SEPARATOR = re.compile(re.escape(".safetensors:"), re.IGNORECASE)


def _split_spec(spec: str):
    """(file, tensor name or None) of an array spec: "FILE.safetensors:NAME" names NAME of FILE.safetensors."""
    found = _TENSOR_SEPARATOR.search(spec)
    if found is None:
        return spec, None
    return spec[:found.end() - 1], spec[found.end():]


def _is_safetensors(spec: str) -> bool:
    """Whether the CLI reads the spec as a .safetensors file: one that names a tensor, or a path ending in
    .safetensors in any case (ArrayFiles.locate)."""
    return _split_spec(spec)[1] is not None or spec.lower().endswith(".safetensors")


def _read_safetensors(spec: str) -> np.ndarray:
    """One tensor of a .safetensors file, flattened: "FILE.safetensors" (which must hold exactly one tensor) or
    "FILE.safetensors:NAME", as the CLI names them. Header: 8-byte little-endian length, JSON, then the data."""
    path, name = _split_spec(spec)
    size, file_size, header = _read_safetensors_header(path)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    for tensor_name, entry in tensors.items():
        _check_tensor_entry(path, tensor_name, entry)
    _require_the_data_area_filled_exactly(path, tensors, size, file_size - 8 - size)
    if not tensors:
        # "holds 0 tensors (); name the one to read" asked for a name no such file has
        only = " (only __metadata__)" if "__metadata__" in header else ""
        raise ValueError(f"{path}: tensors: holds no tensors{only}; pass the file that holds the array")
    if name is None:
        if len(tensors) != 1:
            raise ValueError(f"{path} holds {len(tensors)} tensors ({', '.join(sorted(tensors))}); "
                             f"name the one to read: {path}:NAME")
        name = next(iter(tensors))
    if name not in tensors:
        raise ValueError(f"{path} has no tensor {name!r} (it holds {', '.join(sorted(tensors))})")
    entry = tensors[name]
    begin, end = entry["data_offsets"]
    offset = 8 + size + begin
    if entry["dtype"] == "BF16":
        raw = np.fromfile(path, dtype="<u2", count=(end - begin) // 2, offset=offset)
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if entry["dtype"] not in _SAFETENSORS_DTYPES:
        raise ValueError(f"{path}: tensor {name!r} has dtype {entry['dtype']}, which falcon_torch does not read; "
                         f"store it as F32")
    dtype = np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]])
    return np.fromfile(path, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=offset)


# the CLI's bound on a header's length (Safetensors.MAX_HEADER_BYTES)
_MAX_HEADER_BYTES = 100_000_000

# a tensor's byte size by dtype, for the check of its shape against its data_offsets (Safetensors.tensor)
_DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "I32": 4,
                "U32": 4, "I64": 8, "U64": 8}


def _read_safetensors_header(path: str):
    """(header length, file size, header dict) of a .safetensors file, held to the CLI's checks (Safetensors.readHeader)
    in its words: every failure was "its header is not JSON", a 2^40 length too, and a UTF-8 BOM before '{' or a key
    given twice (the second was read) passed."""
    def refuse(field: str, problem: str, fix: str):
        raise ValueError(f"{path}: {field}: {problem}; {fix}")
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        if file_size == 0:
            refuse("file", "is empty (0 bytes)", "give the file `falcon prune --out` wrote")
        if file_size < 8:
            refuse("header", f"the file is {file_size} bytes, shorter than the 8-byte header length",
                   "the file is truncated or not a .safetensors file; re-save it with safetensors.save_file")
        head = f.read(8)
        size = struct.unpack("<Q", head)[0]
        if size > _MAX_HEADER_BYTES:
            if head.startswith(b"\x93NUMPY"):
                refuse("header", "is an .npy file (it starts with the magic \\x93NUMPY), not a safetensors file",
                       "rename it to end in .npy")
            refuse("header", f"header length {size} bytes is outside 2..{_MAX_HEADER_BYTES}",
                   "the file is damaged or not a .safetensors file; re-save it")
        if size > file_size - 8:
            refuse("header", f"header length {size} runs past the end of the file ({file_size} bytes)",
                   "the file is truncated or damaged; re-copy or re-save it")
        if size < 2:
            refuse("header", f"header length {size} is too short for a JSON object",
                   "the file is damaged; re-save it with safetensors.save_file")
        raw = f.read(size)
    if raw[:1] != b"{":
        refuse("header", "the JSON header does not start with '{'",
               "the file is damaged or not a .safetensors file; re-save it with safetensors.save_file")

    def no_key_twice(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                refuse("header", f"invalid JSON (the key {key!r} is given twice)",
                       "the file is damaged; re-save it with safetensors.save_file")
            seen[key] = value
        return seen
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_key_twice)
    except UnicodeDecodeError as e:
        refuse("header", f"is not valid UTF-8 (byte {8 + e.start} of the file starts an invalid sequence)",
               "the file is damaged or was written by a broken exporter; re-save it with safetensors.save_file")
    except json.JSONDecodeError as e:
        refuse("header", f"invalid JSON ({e})", "the file is damaged; re-save it with safetensors.save_file")
    if not isinstance(header, dict):
        refuse("header", "the JSON header is not an object", "re-save it with safetensors.save_file")
    return size, file_size, header


def _check_tensor_entry(path: str, name: str, entry) -> None:
    """A tensor's dtype and shape as the CLI holds them (Safetensors.tensor): integer dimensions, and data_offsets that
    span exactly the shape's bytes. A shape [35] over 144 bytes read 36 values, and [36.0] passed."""
    where = f"{path}: tensor {name!r}"
    fix = "the file is damaged or not written by safetensors; re-save it with safetensors.save_file"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: is not an object with dtype, shape and data_offsets; {fix}")
    if not isinstance(entry.get("dtype"), str):
        raise ValueError(f"{where}.dtype: missing or not a string; {fix}")
    shape = entry.get("shape")
    if not isinstance(shape, list):
        raise ValueError(f"{where}.shape: missing or not an array of integers; {fix}")
    for i, d in enumerate(shape):
        if type(d) is not int or not 0 <= d < 2 ** 63:
            raise ValueError(f"{where}.shape: entry {i} is {json.dumps(d)}, not a non-negative 64-bit integer; {fix}")
    offsets = entry.get("data_offsets")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        return  # _require_the_data_area_filled_exactly names it
    item = _DTYPE_SIZES.get(entry["dtype"])
    if item is not None:
        needs = int(np.prod(shape, dtype=object)) * item
        held = offsets[1] - offsets[0]
        if held != needs:
            raise ValueError(f"{where}.data_offsets: [{offsets[0]}, {offsets[1]}) holds {held} bytes but shape "
                             f"[{', '.join(map(str, shape))}] of {entry['dtype']} needs {needs}; {fix}")


def _require_the_data_area_filled_exactly(path: str, tensors: dict, header_length: int, data_size: int) -> None:
    """The CLI's rule (Safetensors.requireTheDataAreaFilledExactly): the tensors, in offset order, fill the data area
    from its byte 0 to the end of the file, with no overlap and no gap. Only this catches a header length that lies: one
    that leaves out the header's padding reads every tensor shifted, spaces read as weights, with no error. Empty
    tensors hold no bytes and may sit anywhere."""
    fix = "the file is damaged, has bytes appended or gives a wrong header length; re-save it with safetensors.save_file"
    spans = []
    for tensor_name, entry in tensors.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"{path}: tensor {tensor_name!r}.data_offsets: {offsets!r} is not [begin, end] with "
                             f"0 <= begin <= end; the file is damaged; re-save it with safetensors.save_file")
        if offsets[0] != offsets[1]:
            spans.append((offsets[0], offsets[1], tensor_name))
    spans.sort()
    filled_to, previous = 0, None
    for begin, end, tensor_name in spans:
        if begin < filled_to:
            raise ValueError(f"{path}: tensor {tensor_name!r}.data_offsets: bytes [{begin}, {end}) overlap tensor "
                             f"{previous[2]!r} at [{previous[0]}, {previous[1]}); the file is damaged; re-save it with "
                             f"safetensors.save_file")
        if begin > filled_to:
            where = "before it" if previous is None else f"after tensor {previous[2]!r}"
            raise ValueError(f"{path}: tensor {tensor_name!r}.data_offsets: [{begin}, {end}) leaves bytes [{filled_to}, "
                             f"{begin}) of the data area to no tensor ({where}); the format requires the tensors to fill "
                             f"the data area without gaps; {fix}")
        filled_to, previous = end, (begin, end, tensor_name)
    if filled_to != data_size:
        field = "header length" if previous is None else f"tensor {previous[2]!r}.data_offsets"
        raise ValueError(f"{path}: {field}: the tensors end at byte {filled_to} of the {data_size}-byte data area, which "
                         f"starts after the {header_length}-byte header the header length field gives; the format "
                         f"requires them to fill it to the end of the file (a header length short of the header reads "
                         f"every tensor shifted); {fix}")


def _read_flat(spec: str) -> np.ndarray:
    """The values of an .npy or .safetensors file (see _read_safetensors), flattened in C order."""
    if _is_safetensors(spec):
        return _read_safetensors(spec)
    return np.load(spec, mmap_mode="r").reshape(-1)


def _holds_a_mask_as_numbers(values: np.ndarray) -> bool:
    """Whether `values`, integers or floats, are 0s and 1s only: a mask stored as numbers where they are integers, and
    a candidate where they are floats (see _first_one_the_model_does_not_hold). A float mask (mask.astype(np.float32),
    torch's mask.float()) passed where the bool and integer ones were refused. Floats must hold at least one 1: all
    zeros is what `falcon prune` writes when it prunes every weight (--flops 0)."""
    if np.issubdtype(values.dtype, np.integer):
        return bool(np.isin(values, (0, 1)).all())
    if not np.issubdtype(values.dtype, np.floating):
        return False
    ones = values == 1
    return bool(((values == 0) | ones).all()) and bool(ones.any())


def _first_one_the_model_does_not_hold(pruned: np.ndarray, layers, named: Dict[str, torch.Tensor]):
    """(layer name, index in the layer, the model's value) of the first weight that is 1.0 in a float 0/1 `pruned` but
    not 1 in the model, or None. mp and magnitude keep the weights' values, so a real result of 0s and 1s only (a layer
    set by nn.init.ones_, the rest pruned) holds 1.0 only where the model does; a float mask holds 1.0 at trained
    weights."""
    for l in layers:
        ones = np.asarray(pruned[l.offset:l.offset + l.count]) == 1
        if not ones.any():
            continue
        held = named[l.name].detach().reshape(-1).to(device="cpu", dtype=torch.float32).numpy()
        differs = np.flatnonzero(ones & (held != 1))
        if differs.size:
            i = int(differs[0])
            return l.name, i, float(held[i])
    return None


def _mask_refusal(pruned: np.ndarray, pruned_path: str, mask_path: Optional[str], detail: str = "") -> ValueError:
    """The refusal of a mask given as the pruned weights. It calls the files swapped unless mask_path is a bool mask
    equal to pruned != 0, which is the --mask of that very `falcon prune --out`."""
    what = "booleans" if pruned.dtype == np.bool_ else "0s and 1s only"
    swapped = ""
    if mask_path is not None:
        try:
            given_mask = _read_flat(mask_path)
            matches = (given_mask.dtype == np.bool_ and given_mask.size == pruned.size
                       and bool(np.array_equal(given_mask, np.asarray(pruned) != 0)))
        except (OSError, ValueError):
            matches = False   # a mask_path that cannot be read is no sign against the swap the pruned file suggests
        if not matches:
            swapped = f" ({mask_path} and {pruned_path} look swapped)"
    return ValueError(f"{pruned_path} holds {what}, a mask, not pruned weights{swapped}: give the file `falcon prune "
                      f"--out` wrote as pruned_path and its --mask as mask_path{detail}")


def apply(model: nn.Module, pruned_path: str, layers_path: str, mask_path: Optional[str] = None
          ) -> Dict[str, torch.Tensor]:
    """Copies the pruned weights (`falcon prune --out`, p values in layers.json order) into `model`.

    `pruned_path` is the CLI's output as it wrote it: an .npy, or a .safetensors file (one tensor, or
    "FILE.safetensors:NAME", split at the first ".safetensors:" and the extension in any case, as the CLI reads
    them). `mask_path` is the CLI's --mask, which it writes as .npy only (a .safetensors mask
    written by other means is read too).

    A weight whose pruned value is the float32 value the model holds keeps the model's own value (a float64
    model's kept weights stay as they were); every other weight takes the pruned value.

    A pruned value beyond the range of a float16 or bfloat16 parameter (float16's 65504) is a ValueError naming the
    layer and the value, before anything is written; a nonzero value too small for it is written as 0 with a
    RuntimeWarning.

    Returns {parameter name: bool mask tensor of the parameter's shape}. The mask is the CLI's
    `--mask` file when `mask_path` is given (a kept weight may be exactly zero), else the weights the model now
    holds != 0.
    Use `apply_masks(model, masks)` after each optimiser step to keep pruned weights at zero while
    fine-tuning.
    """
    layers = read_layers_json(layers_path)
    pruned = _read_flat(pruned_path)
    p = sum(l.count for l in layers)
    if pruned.size != p:
        raise ValueError(f"{pruned_path} has {pruned.size} values but {layers_path} describes {p} weights")
    # a mask given as the weights wrote 1.0 into every kept weight, without a word; a float one is judged against the
    # model below, once its layers are known to fit
    ones_and_zeros = _holds_a_mask_as_numbers(pruned)
    float_ones_and_zeros = ones_and_zeros and np.issubdtype(pruned.dtype, np.floating)
    if pruned.dtype == np.bool_ or (ones_and_zeros and not float_ones_and_zeros):
        raise _mask_refusal(pruned, pruned_path, mask_path)
    mask_flat = None
    if mask_path is not None:
        mask_flat = _read_flat(mask_path)
        if mask_flat.size != p:
            raise ValueError(f"{mask_path} has {mask_flat.size} values but {layers_path} describes {p} weights")
        # the CLI zeroes every weight its mask prunes: a nonzero there means the mask came from another run or model
        stray = np.flatnonzero((np.asarray(pruned) != 0) & ~np.asarray(mask_flat, dtype=bool))
        if stray.size:
            i = int(stray[0])
            raise ValueError(f"{mask_path} does not belong to {pruned_path}: it prunes {stray.size} weights that are "
                             f"nonzero there (the first: value {i} = {float(pruned[i])!r}); give the --mask and --out "
                             "of the same `falcon prune` run")
    named = dict(model.named_parameters())
    refuse_meta_tensors(model, "apply", [l.name for l in layers])   # copy_ into a meta tensor does nothing
    # every layer is checked before the first weight is written: a failed apply leaves the model as it was
    for l in layers:
        if l.name not in named:
            # nn.DataParallel and DistributedDataParallel prefix every name with "module.": an export of the wrapped
            # model applied to the bare one (or the other way round) differs by that prefix alone
            hint = ""
            if l.name.startswith("module.") and l.name[len("module."):] in named:
                # "apply it to the wrapped model" read as the module inside, the very model that was refused here
                hint = (" (it was exported from a DataParallel/DistributedDataParallel wrapper, whose names start with "
                        "'module.': apply it to that wrapper, not to the module inside it, or export the module itself)")
            elif "module." + l.name in named:
                hint = (" (the model is a DataParallel/DistributedDataParallel wrapper, whose names start with 'module.': "
                        "apply it to model.module)")
            raise ValueError(f"{layers_path}: layer {l.name!r} is not a parameter of the model{hint}; "
                             "give the layers.json exported from this model")
        param = named[l.name]
        if tuple(param.shape) != tuple(l.shape):
            raise ValueError(f"{layers_path}: layer {l.name!r} has shape {list(l.shape)} but the model's "
                             f"parameter has {list(param.shape)}; give the layers.json exported from this model")
        _refuse_values_beyond_the_dtype(pruned, l, param.dtype, pruned_path)
    if float_ones_and_zeros:
        differs = _first_one_the_model_does_not_hold(pruned, layers, named)
        if differs is not None:
            name, i, held = differs
            raise _mask_refusal(pruned, pruned_path, mask_path,
                                f" (it holds 1.0 where the model holds {held!r}: value {i} of layer {name!r}; a result "
                                "of mp or magnitude holds the model's own values)")
    masks, flushed = {}, []
    with torch.no_grad():
        for l in layers:
            param = named[l.name]
            vals = np.array(pruned[l.offset:l.offset + l.count], dtype=np.float32).reshape(l.shape)
            t = torch.from_numpy(vals)
            new = t.to(dtype=param.dtype, device=param.device)
            # The CLI works in float32: a weight it returned as it was given (every kept weight of magnitude or mp)
            # keeps the model's own value, which a float64 model would otherwise lose to float32 rounding. Zeros are
            # written as zeros: a pruned weight tiny enough to round to 0 in float32 must not survive.
            unchanged = (param.detach().to(torch.float32) == t.to(param.device)) & (new != 0)
            written = torch.where(unchanged, param.detach(), new)
            param.copy_(written)
            # a nonzero value below the smallest subnormal of a float16 model's dtype is written as 0
            lost = (t.to(param.device) != 0) & (written == 0)
            if bool(lost.any()):
                first = int(torch.nonzero(lost.reshape(-1))[0])
                flushed.append((l.name, int(lost.sum()), first, vals.reshape(-1)[first], param.dtype))
            if mask_flat is not None:
                m = torch.from_numpy(np.array(mask_flat[l.offset:l.offset + l.count], dtype=bool).reshape(l.shape))
            else:
                # what the model holds: pruned != 0 said "kept" of a weight written as 0
                m = written != 0
            masks[l.name] = m.to(param.device)
    if flushed:
        name, _, first, value, dtype = flushed[0]
        total = sum(k for _, k, _, _, _ in flushed)
        kept = ("the returned masks mark them pruned, as the model holds them" if mask_flat is None else
                f"the masks are {mask_path}'s, which keeps them: kept weights at 0 that fine-tuning may move")
        warnings.warn(f"apply: {total} weights nonzero in {pruned_path} are 0 in the model, below the smallest value of "
                      f"its {str(dtype).replace('torch.', '')} (the first: {name!r} value {first} = {str(value)}); {kept}",
                      RuntimeWarning, stacklevel=2)
    return masks


def _refuse_values_beyond_the_dtype(pruned, layer, dtype: torch.dtype, pruned_path: str) -> None:
    """A ValueError when a pruned value is finite in float32 but beyond the range of the parameter's dtype (float16's
    65504): it was written as inf, without a word."""
    if not dtype.is_floating_point or torch.finfo(dtype).max >= torch.finfo(torch.float32).max:
        return
    vals = torch.from_numpy(np.array(pruned[layer.offset:layer.offset + layer.count], dtype=np.float32))
    beyond = torch.isinf(vals.to(dtype)) & torch.isfinite(vals)
    if bool(beyond.any()):
        i = int(torch.nonzero(beyond)[0])
        name = str(dtype).replace("torch.", "")
        raise ValueError(f"{pruned_path}: value {i} of layer {layer.name!r}, {vals[i].numpy()}, is beyond the range of "
                         f"the parameter's {name} (largest {torch.finfo(dtype).max:g}), which would hold it as inf "
                         f"({int(beyond.sum())} such values in the layer); prune a float32 copy of the model "
                         "(model.float()) and apply the result to it")


def apply_masks(model: nn.Module, masks: Dict[str, torch.Tensor]) -> None:
    """Zeroes the pruned weights again (call after optimiser steps when fine-tuning), whatever they hold: an inf or
    NaN there (an overflowing float16 step) becomes 0 too."""
    named = dict(model.named_parameters())
    # every mask is checked before the first weight is zeroed: a refused call leaves the model as it was
    keeps = {name: _mask_that_fits(name, m, named) for name, m in masks.items()}
    with torch.no_grad():
        for name, keep in keeps.items():
            # a fill, not a product: inf * 0 and NaN * 0 are NaN, which stayed where the mask says 0
            named[name].masked_fill_(~keep, 0)


def _broadcasts_to(shape, target) -> bool:
    """Whether a tensor of `shape` broadcasts to `target` by torch's rules without growing it: a [6, 1] mask (whole rows)
    fits a [6, 4] weight, as masked_fill_ takes it; a [6, 4] one does not fit a [6] bias."""
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(target)))


def _mask_that_fits(name: str, mask, named: Dict[str, torch.Tensor]) -> torch.Tensor:
    """The mask as a bool tensor on its parameter's device, or a ValueError naming it: a name the model lacks was a bare
    KeyError, a shape that does not broadcast to the parameter's torch's broadcast error, and a mask of 0.5s was cast
    to all True, pruning nothing."""
    fix = "give the masks apply returned for this model"
    if name not in named:
        raise ValueError(f"apply_masks: mask {name!r} is not a parameter of the model; {fix}")
    param = named[name]
    mask = torch.as_tensor(mask)
    if not _broadcasts_to(tuple(mask.shape), tuple(param.shape)):
        raise ValueError(f"apply_masks: mask {name!r} has shape {list(mask.shape)} but the model's parameter has "
                         f"{list(param.shape)}; {fix}")
    if mask.dtype != torch.bool:
        stray = ((mask != 0) & (mask != 1)).reshape(-1)
        if bool(stray.any()):
            i = int(torch.nonzero(stray)[0])
            raise ValueError(f"apply_masks: mask {name!r} holds {mask.reshape(-1)[i].item()!r} (at index {i}), not a "
                             "mask: give booleans or 0s and 1s (the masks apply returned, or weight != 0)")
    return mask.to(dtype=torch.bool, device=param.device)


def masks_from_model(model: nn.Module, layers_path: str) -> Dict[str, torch.Tensor]:
    """Masks (weight != 0) of the layers listed in a layers.json."""
    named = dict(model.named_parameters())
    return {l.name: (named[l.name].detach() != 0) for l in read_layers_json(layers_path)}
