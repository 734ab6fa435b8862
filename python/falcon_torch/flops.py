"""FLOPs per weight, measured by forward hooks on real forward passes.

Convention (the one layers.json and the falcon CLI use): FLOPs are multiply-adds per input sample,
and a weight's cost is how many times it is multiplied in one sample's forward pass:

* ConvNd: the number of output positions, prod(output.shape[2:]) (H_out*W_out for a 2-D conv).
  Grouped and depthwise convs are the same: each weight only sees its own group's channels, but it is
  still applied once at every output position.
* ConvTransposeNd: the number of input positions, prod(input.shape[2:]).
* Linear: the number of positions it is applied to, input.numel() / (in_features * batch): 1 for a
  plain classifier on (N, D), T for a token-wise linear on (N, T, D). The out_proj of an
  nn.MultiheadAttention likewise costs its number of query positions, measured on the attention's
  output since attention applies that weight without calling out_proj. (Its in_proj_weight is a bare
  parameter of the attention, not a Linear: not prunable here.)

A module called several times in one forward pass (weight sharing) costs the sum over its calls, and a
weight tied between modules the sum over the calls of all of them, with those of F.conv*/F.linear on the weight itself
outside its modules. Where the compute depends on the input (routing to
experts), a weight's cost is the mean over the samples measured (measure_flops_per_sample).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

import torch
from torch import nn
from torch.nn.utils import parametrize

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONVT = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
PRUNABLE_TYPES = _CONV + _CONVT + (nn.Linear,)
# given as `prunable`, a container stands for the Conv/Linear weights among its modules: iterated, a ModuleDict gave
# its keys, looked up as top-level names (a name collision chose another layer)
_CONTAINERS = (nn.ModuleDict, nn.ModuleList, nn.Sequential)


@dataclass
class LayerInfo:
    """One prunable tensor in flatten order."""
    name: str                 # parameter name in model.named_parameters(), e.g. "features.0.weight"
    module_name: str          # owning module, e.g. "features.0"
    kind: str                 # "conv", "conv_transpose", "linear"
    shape: tuple
    count: int
    offset: int = 0
    flops_per_weight: float = 0.0
    calls: int = 0            # forward calls seen by the hooks, the most in one measured pass

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "flops_per_weight": self.flops_per_weight,
                "offset": self.offset, "count": self.count, "kind": self.kind, "module": self.module_name}


def _kind(module: nn.Module) -> str:
    if isinstance(module, _CONV):
        return "conv"
    if isinstance(module, _CONVT):
        return "conv_transpose"
    return "linear"


def _own_weight(module: nn.Module) -> Optional[torch.Tensor]:
    """The module's weight Parameter, read without running anything: `module.weight` of a module under
    torch.nn.utils.parametrize is computed on each read, and spectral_norm's computation in training mode advances its
    power iteration, changing the model's buffers. None when the weight is not a Parameter (parametrize, weight_norm and
    torch.nn.utils.prune make it a computed tensor)."""
    weight = module._parameters.get("weight")
    if weight is not None or parametrize.is_parametrized(module, "weight"):
        return weight
    # a plain attribute (weight_norm, torch.nn.utils.prune), or a subclass's property over a Parameter of another name
    weight = getattr(module, "weight", None)
    return weight if isinstance(weight, nn.Parameter) else None


_WHY_COMPUTED = ("weight is computed from other parameters (torch.nn.utils.parametrize, weight_norm or "
                 "torch.nn.utils.prune), not a parameter of its own, so falcon cannot prune it; remove the "
                 "reparametrization first (parametrize.remove_parametrizations, remove_weight_norm, prune.remove)")
_WHY_BUFFER = ("weight is a buffer (register_buffer), not an nn.Parameter, so falcon cannot prune it; make it an "
               "nn.Parameter to prune it (requires_grad=False keeps it out of training)")


def _names_by_reason(names: Dict[int, str], reasons: Dict[int, str]) -> Dict[str, List[str]]:
    """The module names grouped by the reason their weight is no Parameter, in the model's order."""
    grouped: Dict[str, List[str]] = {}
    for key, name in names.items():
        grouped.setdefault(reasons[key], []).append(name)
    return grouped


def prunable_entries(prunable) -> Optional[list]:
    """`prunable` as a list of entries (None stays None), read once: a generator is spent after one pass."""
    if prunable is None:
        return None
    if isinstance(prunable, (str, torch.Tensor, nn.Module)):
        # one entry, not a list of them: iterating a name went through its characters, so "11" chose layer "1" and
        # "features" failed on "f" (a container module is expanded to its modules by prunable_parameters)
        return [prunable]
    return list(prunable)


def prunable_parameters(model: nn.Module, prunable: Optional[Iterable[Union[str, nn.Module, nn.Parameter]]] = None
                        ) -> List[LayerInfo]:
    """The prunable weights of `model`, in model.named_parameters() order.

    Default: the `.weight` of every Conv*/ConvTranspose*/Linear module; biases and norm layers never.
    `prunable` may list parameter names ("conv1.weight"), module names ("conv1"), modules or parameters, or be
    one of them; each must resolve to the weight of a Conv/Linear module (FLOPs are only defined for those). A
    ModuleDict/ModuleList/Sequential (or its name) stands for the Conv/Linear modules among its modules.
    """
    prunable = prunable_entries(prunable)
    owner: Dict[int, tuple] = {}
    computed: Dict[int, str] = {}    # Conv/Linear modules whose weight is no Parameter: id(module) -> name
    why_not: Dict[int, str] = {}     # the same modules: id(module) -> why the weight is none, and the fix
    for mname, m in model.named_modules():
        if isinstance(m, PRUNABLE_TYPES) and _own_weight(m) is not None:
            owner.setdefault(id(_own_weight(m)), (mname, m))
        elif isinstance(m, PRUNABLE_TYPES):
            computed[id(m)] = mname
            # a buffer was said to be computed by a reparametrization, whose removal was advised though none existed
            why_not[id(m)] = _WHY_BUFFER if "weight" in m._buffers else _WHY_COMPUTED
    params = list(model.named_parameters())
    if prunable is None:
        chosen = {id(p) for _, p in params if id(p) in owner}
        if computed and chosen:
            # said, not silent: the default is every Conv/Linear weight, and the FLOP budget is a fraction of those
            said = "; ".join(f"{', '.join(map(repr, names))}, whose {why}"
                             for why, names in _names_by_reason(computed, why_not).items())
            warnings.warn(f"left out of the prunable weights: {said}", RuntimeWarning, stacklevel=2)
    else:
        # every name a parameter has: named_parameters() gives a tied weight under its first name only, so
        # "b.weight" tied to "a.weight" was refused as no parameter of the model; and every name a module has, as
        # state_dict() keys have them: named_modules() gives a module registered twice (nn.ModuleList([block] * 3),
        # self.dec = self.enc) under its first name only, so "layers.2.0.weight" was refused
        modules = dict(model.named_modules(remove_duplicate=False))
        by_name = {}
        for mname, m in modules.items():
            for pname, p in m.named_parameters(recurse=False):
                by_name.setdefault(f"{mname}.{pname}" if mname else pname, p)
        # a module or parameter of another model (a copy.deepcopy, a model built anew) is a Conv/Linear weight too, and
        # was refused as not being one
        own_ids = {id(m) for m in modules.values()} | {id(p) for p in by_name.values()}

        def holder(item):
            # the module an entry names: itself, a module name, or "NAME.weight", which for a reparametrized module is
            # no parameter name
            if isinstance(item, nn.Module):
                return item
            if isinstance(item, str) and item in modules:
                return modules[item]
            if isinstance(item, str) and (item == "weight" or item.endswith(".weight")):
                return modules.get(item[:-len("weight")].rstrip("."))
            return None
        module_names = {id(m): n for n, m in reversed(list(modules.items()))}    # a module's first name
        parameter_names = {id(p): n for n, p in reversed(list(by_name.items()))}

        def described(entry) -> str:
            # a module's repr is many lines (a whole block's), and a parameter's its values
            if isinstance(entry, nn.Module):
                name = module_names.get(id(entry))
                return f"(a {type(entry).__name__})" if name is None else \
                    f"(the model, a {type(entry).__name__})" if name == "" else f"{name!r} (a {type(entry).__name__})"
            if isinstance(entry, torch.Tensor):
                name = parameter_names.get(id(entry))
                return f"(a parameter of shape {tuple(entry.shape)})" if name is None else f"{name!r}"
            return repr(entry)

        def expand(entry):
            if isinstance(entry, nn.Module) and id(entry) not in own_ids:
                return [entry]         # refused below as a module of another model
            mod = entry if isinstance(entry, nn.Module) else (
                modules.get(entry) if isinstance(entry, str) and entry not in by_name else None)
            if not isinstance(mod, _CONTAINERS):
                return [entry]
            inner = [m for m in mod.modules() if isinstance(m, PRUNABLE_TYPES)]
            if not inner:
                raise ValueError(f"prunable entry {described(entry)} holds no Conv/ConvTranspose/Linear module; FLOPs "
                                 "per weight are only measured for those")
            return inner

        def not_a_layer(item) -> str:
            """Why `item`, which resolves to no Conv/Linear weight, is refused; for a block that holds such layers
            (a TransformerEncoderLayer), the names of their weights, which is what it has to be given as."""
            mod = item if isinstance(item, nn.Module) else modules.get(item) if isinstance(item, str) else None
            inner = [] if mod is None or isinstance(mod, PRUNABLE_TYPES) else [
                f"{module_names[id(mod)]}.{sub}.weight".lstrip(".") for sub, m in mod.named_modules()
                if sub and isinstance(m, PRUNABLE_TYPES) and _own_weight(m) is not None]
            if not inner:
                return (f"prunable entry {described(item)} is not the weight of a Conv/ConvTranspose/Linear module; "
                        "FLOPs per weight are only measured for those")
            shown = ", ".join(map(repr, inner[:3])) + (", ..." if len(inner) > 3 else "")
            outermost = []
            for sub, m in mod.named_modules():
                if sub and isinstance(m, _CONTAINERS) and not any(sub.startswith(o + ".") for o in outermost) and \
                        any(isinstance(c, PRUNABLE_TYPES) for c in m.modules()):
                    outermost.append(sub)
            containers = "" if not outermost else " (or " + ", ".join(
                repr(f"{module_names[id(mod)]}.{o}".lstrip(".")) for o in outermost) + \
                f", which {'stands' if len(outermost) == 1 else 'stand'} for the Conv/Linear modules inside)"
            return (f"prunable entry {module_names[id(mod)]!r} is a {type(mod).__name__}, not a Conv/ConvTranspose/"
                    "Linear module; only an nn.ModuleDict, nn.ModuleList or nn.Sequential stands for the modules inside "
                    f"it; name the Conv/Linear weights inside it: {shown}{containers}")

        chosen = set()
        for item in (i for entry in prunable for i in expand(entry)):
            if isinstance(item, (nn.Module, nn.Parameter)) and id(item) not in own_ids:
                kind = "module" if isinstance(item, nn.Module) else "parameter"
                what = described(item)
                raise ValueError(f"prunable entry {what} is no {kind} of this model (one of a copy of it, or of "
                                 f"another model?); give the model's own {kind}s, or their names")
            if isinstance(item, nn.Parameter):
                p = item
            elif isinstance(item, nn.Module):
                p = _own_weight(item)
            elif isinstance(item, str) and item in by_name:
                p = by_name[item]
            elif isinstance(item, str) and item in modules:
                p = _own_weight(modules[item])
            elif isinstance(item, str) and id(holder(item)) in computed:
                p = None
            else:
                raise ValueError(f"prunable entry {described(item)} is not a parameter or module name of the model")
            if p is None and id(holder(item)) in computed:
                raise ValueError(f"prunable entry {described(item)}: that {type(holder(item)).__name__}'s "
                                 f"{why_not[id(holder(item))]}")
            if p is None or id(p) not in owner:
                raise ValueError(not_a_layer(item))
            chosen.add(id(p))
    layers, offset = [], 0
    for pname, p in params:
        if id(p) not in chosen:
            continue
        if not p.is_floating_point():
            # falcon's objective and FLOP model are for real weights: a complex weight went through export's .float(),
            # which drops the imaginary part, and apply wrote the real parts back, with only torch's one-time warning
            raise ValueError(f"prunable weight {pname!r} is {p.dtype}, not a real floating-point tensor: falcon prunes "
                             "real weights only (a complex weight's imaginary parts would be dropped); leave it out of "
                             "`prunable` (give the real Conv/Linear weights by name), or make the layer real (e.g. its "
                             "real and imaginary parts as two real layers)")
        mname, m = owner[id(p)]
        layers.append(LayerInfo(name=pname, module_name=mname, kind=_kind(m), shape=tuple(p.shape),
                                count=p.numel(), offset=offset))
        offset += p.numel()
    if not layers:
        if computed:
            said = "; ".join(f"{', '.join(map(repr, names))} are Conv/Linear modules, but each one's {why}"
                             if len(names) > 1 else f"{names[0]!r} is a Conv/Linear module, but its {why}"
                             for why, names in _names_by_reason(computed, why_not).items())
            raise ValueError(f"the model has no prunable Conv/Linear weights: {said}")
        if isinstance(model, torch.jit.ScriptModule):
            # its submodules are ScriptModules too, none an nn.Conv*/nn.Linear, however many it compiled from
            raise ValueError("the model has no prunable Conv/Linear weights: it is a TorchScript module "
                             "(torch.jit.script/trace), whose submodules are no nn.Conv*/nn.Linear; export the eager "
                             "model it was made from")
        raise ValueError("the model has no prunable Conv/Linear weights")
    return layers


def unwrapped(model: nn.Module) -> nn.Module:
    """The module a DataParallel/DistributedDataParallel wrapper holds, or the model itself. Export runs it, not the
    wrapper: the wrapper's forward fails under vmap, and DistributedDataParallel's broadcasts the buffers to the process
    group, so one rank exporting alone waited for the others. Its parameters are the wrapper's, under the wrapper's
    names ("module.0.weight"), as layers.json has them and apply expects them."""
    while isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def _modes(model: nn.Module):
    """Every submodule with its training flag, for _restore_modes."""
    return [(m, m.training) for m in model.modules()]


def _restore_modes(modes) -> None:
    # each submodule's own flag, not model.train(was_training): that set a BatchNorm the caller froze in eval mode
    # inside a training model back to training (fine-tuning then moved its running statistics)
    for m, training in modes:
        m.training = training


class _buffers_kept:
    """Restores every buffer of the model on leaving, failed or not. A forward may update a buffer of its own outside
    norm layers (a counter, an EMA, a calibration statistic, whatever the mode): export's FLOP passes, vmap's check and
    per-sample passes changed it by an amount that depended on the engine, and a failed vmap export changed it too.
    Kept by module and name: a forward that reassigns its buffer (`self.ema = 0.9 * self.ema + ...`) replaces the
    tensor the module holds, so copying the value back into the old tensor alone left the new one in place."""

    def __init__(self, model: nn.Module):
        values = {}  # one copy of a buffer that several modules share
        self.saved = []
        for module in model.modules():
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    if id(buffer) not in values:
                        values[id(buffer)] = buffer.detach().clone()
                    self.saved.append((module, name, buffer, values[id(buffer)]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for module, name, buffer, value in self.saved:
                buffer.copy_(value)
                module._buffers[name] = buffer
        return False


def _first_tensor(x):
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (list, tuple)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        for v in x.values():
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _hooked_module(modules: Dict[str, nn.Module], mname: str) -> str:
    """The module whose forward hook measures the FLOPs of module `mname`'s weight: itself, or the
    nn.MultiheadAttention whose out_proj it is. Attention applies out_proj's weight itself
    (F.multi_head_attention_forward), so out_proj's own forward, and a hook on it, never runs: its FLOPs are measured
    on the attention module's output instead. (The parent of a top-level module is the model, named "".)"""
    parent, _, leaf = mname.rpartition(".")
    return parent if leaf == "out_proj" and isinstance(modules.get(parent), nn.MultiheadAttention) else mname


def measure_flops(model: nn.Module, example_input, layers: Optional[Sequence[LayerInfo]] = None,
                  batch_size: Optional[int] = None) -> List[LayerInfo]:
    """Runs one forward pass of `example_input` (a tensor, or a tuple passed as *args) under hooks and
    fills in `flops_per_weight` of each layer (per sample: the mean over the batch). Returns the layers.

    The pass runs in eval mode, as inference does: norm layers' running statistics are left as they were, and every
    submodule gets its own mode back afterwards.

    `batch_size` defaults to the first dimension of the first input tensor: a model that takes one unbatched sample
    ((C, H, W), not (1, C, H, W)) needs batch_size=1. Where that default cannot be the batch (the example is one
    unbatched sample for the first conv or attention module, or counted functional conv, that gets it, or such a module
    or call runs on unbatched input a number of times that is not a multiple of it), ValueError says to pass batch_size;
    a given batch_size is trusted.
    """
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    inferred_from = None
    if batch_size is None:
        t = _first_tensor(args)
        if t is None or t.dim() == 0:
            raise ValueError("cannot infer the batch size from the example input; pass batch_size=")
        batch_size, inferred_from = t.shape[0], tuple(t.shape)
    return _measure(model, [args], layers, batch_size, "the forward pass", inferred_from)


def measure_flops_per_sample(model: nn.Module, samples: Sequence, layers: Optional[Sequence[LayerInfo]] = None
                             ) -> List[LayerInfo]:
    """Runs one forward pass per sample (each a tensor, or a tuple passed as *args, with a batch dimension of 1) under
    hooks and fills in `flops_per_weight` of each layer: the mean over the samples. Returns the layers.

    For a model whose compute depends on its input (a mixture of experts routing tokens) one sample is not every
    sample: an expert it routes nothing to is used by others. Where the per-sample counts differ, a RuntimeWarning
    names the layers; where they do not, the result is the first sample's, to the bit.
    """
    if not samples:
        raise ValueError("no samples to measure the FLOPs on")
    runs = [s if isinstance(s, tuple) else (s,) for s in samples]
    return _measure(model, runs, layers, 1, f"the forward pass of the first {len(runs)} samples"
                    if len(runs) > 1 else "the forward pass of the first sample")


def _measure(model: nn.Module, runs: List[tuple], layers: Optional[Sequence[LayerInfo]], batch_size: int,
             where: str, inferred_from: Optional[Tuple[int, ...]] = None) -> List[LayerInfo]:
    """One forward pass under hooks for each tuple of arguments in `runs`, each of `batch_size` samples; each layer's
    flops_per_weight is the mean of the passes' per-sample counts. `where` names the passes in messages.
    `inferred_from`: the shape of the example tensor whose first dimension `batch_size` was read from, None where the
    caller gave it; only an inferred batch size is checked against the unbatched calls (_check_inferred_batch_size)."""
    if layers is None:
        layers = prunable_parameters(model)
    modules = dict(model.named_modules())
    # a tied weight (one Parameter held by several modules) costs the calls of every module that holds it
    named = dict(model.named_parameters())
    users = {}
    for l in layers:
        prm = named.get(l.name)
        holders = [n for n, m in modules.items() if prm is not None and isinstance(m, PRUNABLE_TYPES)
                   and _own_weight(m) is prm] or [l.module_name]
        users[l.name] = [_hooked_module(modules, n) for n in holders]
    totals = {l.name: 0.0 for l in layers}
    calls = {l.name: 0 for l in layers}
    # per hooked module or counted functional call, its calls on unbatched input in the pass; and the pass's first
    # counted call, (what made it, unbatched, its positional input's shape or None): what _check_inferred_batch_size reads
    unbatched_calls: Dict[_Caller, int] = {}
    first_call: List[Tuple[_Caller, bool, Optional[Tuple[int, ...]]]] = []
    # per layer, its calls of F.conv*/F.linear on the weight itself counted in the pass (by _FunctionalCalls)
    functional_calls = {l.name: 0 for l in layers}
    # per hooked module, its forward calls in progress: a functional call inside one of them on its own weight (the
    # F.conv2d of Conv2d.forward) is that module's call, which its hook counts
    running: Dict[int, int] = {}
    handles = []
    modes = _modes(model)
    # a frozen weight is made to require grad for the pass, as the gradients are taken: with no weight requiring grad,
    # TransformerEncoderLayer's eval fast path skips the forward of self_attn, linear1 and linear2 even under
    # enable_grad, so a frozen model's layers were "not used in the forward pass"
    frozen = [named[l.name] for l in layers if l.name in named and not named[l.name].requires_grad]
    weight_ids = {id(named[l.name]) for l in layers if l.name in named}

    def record_call(caller: _Caller, unbatched: bool, first) -> None:
        if unbatched:
            unbatched_calls[caller] = unbatched_calls.get(caller, 0) + 1
        if not first_call:
            first_call.append((caller, unbatched, tuple(first.shape) if isinstance(first, torch.Tensor) else None))

    def make_hook(lname, mname):
        def hook(module, inputs, output):
            unbatched = _unbatched_call(module, output)
            record_call(_Caller(repr(mname), type(module).__name__, "module"), unbatched, inputs[0] if inputs else None)
            # every weight is applied once per output (conv) or input (transposed conv) position; a batched call's
            # positions are divided by the samples, as Linear's are: a model that folds T frames or crops of each
            # sample into the batch (conv(x.reshape(N * T, C, H, W))) applies the conv T times per sample, and was
            # counted once, its FLOP budget exceeded without a word
            # forward hooks get positional inputs only (torch 1.13 has no with_kwargs): a call as module(input=x)
            # failed with "tuple index out of range", so the positions are read from the output where they can be
            if isinstance(module, (_CONV, _CONVT)):
                t = output if isinstance(module, _CONV) else inputs[0] if inputs else None
                if t is None:
                    images = output.shape[0] if output.dim() == module.weight.dim() else 1
                    positions = _transposed_input_positions(module, output) * images
                else:
                    positions = _conv_positions(t, module.weight.dim())
                # the pass's positions over its samples, batched calls or not: a model that runs its samples one by
                # one (for xi in x: conv(xi)) makes batch_size unbatched calls, and undivided they counted the conv
                # batch_size times per sample (the Linear beside it, divided, was right)
                per_sample = positions / batch_size
            elif isinstance(module, nn.MultiheadAttention):
                # out_proj maps every attended position (batch_first (N, L, E), else (L, N, E), or unbatched (L, E))
                out = output[0] if isinstance(output, tuple) else output
                per_sample = out.numel() / (module.out_proj.out_features * batch_size)
            else:
                # the positions it is applied to: (*, in_features) in, (*, out_features) out
                per_sample = output.numel() / (module.out_features * batch_size)
            totals[lname] += float(per_sample)
            calls[lname] += 1
        return hook

    def count_functional(lname, name, weight, input, output):
        # a module's own call of its weight is counted by its hook; what is counted here is the weight applied outside
        # its modules (F.conv2d(h, self.c.weight, stride=2) beside self.c(x) was not counted, its FLOP budget exceeded)
        if any(running.get(id(modules[mname]), 0) for mname in users[lname]):
            return
        unbatched = name != "linear" and _unbatched_conv(output, weight)
        # checked against an inferred batch size as a module's calls are: a functional conv on one unbatched (C, H, W)
        # example was divided by C without a word, where the module's call of it is refused
        record_call(_Caller(f"F.{name} on {lname!r}", "a functional call", "call"), unbatched, input)
        totals[lname] += float(_functional_positions(name, weight, input, output) / batch_size)
        calls[lname] += 1
        functional_calls[lname] += 1

    def entered(module, inputs):
        running[id(module)] = running.get(id(module), 0) + 1

    def left(module, inputs, output):
        running[id(module)] -= 1

    for l in layers:
        for mname in users[l.name]:
            handles.append(modules[mname].register_forward_hook(make_hook(l.name, mname)))
    for mname in {mname for l in layers for mname in users[l.name]}:
        handles.append(modules[mname].register_forward_pre_hook(entered))
        handles.append(modules[mname].register_forward_hook(left))
    passes = []        # per pass: ({layer: per-sample FLOPs}, {layer: calls}, autograd uses or None)
    functional: Dict[int, str] = {}     # weights applied more often than their modules run: id -> layer name
    functional_per_pass: List[Dict[str, int]] = [{} for _ in runs]     # per pass: {layer: its functional calls}
    try:
        # with grad enabled, as the gradients are taken: without it some modules take another path in eval mode
        # that skips their submodules' forward (nn.TransformerEncoderLayer's fast path), so no hook would fire
        # and not under a caller's torch.inference_mode(), as the gradients are not either
        # in eval mode: a training model's BatchNorm took the example into its running statistics
        model.eval()
        for prm in frozen:
            prm.requires_grad_(True)
        with torch.inference_mode(False), torch.enable_grad():
            def run_passes():
                done = []
                for args in runs:
                    for l in layers:
                        totals[l.name], calls[l.name], functional_calls[l.name] = 0.0, 0, 0
                    unbatched_calls.clear()
                    running.clear()
                    first_call.clear()
                    # each pass on a copy of its arguments (one made here is no inference tensor either, which autograd
                    # refuses): a model that changes its input in place (x /= 255 after a .float() that is no copy)
                    # changed the caller's batch, and the gradient passes over the same samples then saw it changed
                    output = unwrapped(model)(*(a.clone() if isinstance(a, torch.Tensor) else a for a in args))
                    done.append((dict(totals), dict(calls), _autograd_uses(output, weight_ids), dict(functional_calls)))
                    del output
                    if inferred_from is not None:
                        _check_inferred_batch_size(inferred_from, unbatched_calls, first_call)
                return done
            passes = [(f, c, uses) for f, c, uses, _ in run_passes()]
            # a weight the graph shows applied more often than its modules run (F.conv2d(x, conv.weight, stride=2) in
            # the model's forward, with or without a call of conv beside it) was "not used in the forward pass", or its
            # extra use left uncounted: its functional calls are counted in passes of their own, with its modules'
            # calls, under a torch-function mode, only where there is such a weight (every torch call of the model
            # goes through the mode)
            functional = {id(named[l.name]): l.name for l in layers if l.name in named
                          and any(uses is not None and uses.applications.get(id(named[l.name]), 0) > c[l.name]
                                  for _, c, uses in passes)}
            if functional:
                with _FunctionalCalls(functional, count_functional):
                    again = run_passes()
                for (f, c, _), (f_again, c_again, _, by_functional), counted in zip(passes, again, functional_per_pass):
                    for lname in functional.values():
                        f[lname], c[lname], counted[lname] = f_again[lname], c_again[lname], by_functional[lname]
    finally:
        for prm in frozen:
            prm.requires_grad_(False)
        _restore_modes(modes)
        for h in handles:
            h.remove()

    def weight_reads(uses, l):
        return uses.reads.get(id(named.get(l.name)), 0)

    def weight_applications(uses, l):
        return uses.applications.get(id(named.get(l.name)), 0)
    # applied, but by nothing the mode counts: the weight transformed first (F.linear(x, w.t()), w.view(...)) or a product
    # of its own (x @ w.t())
    uncounted = [l.name for l in layers if all(c[l.name] == 0 for _, c, _ in passes)
                 and any(uses is not None and weight_applications(uses, l) > 0 for _, _, uses in passes)]
    if uncounted:
        one = len(uncounted) == 1
        holders = ", ".join(repr(n) for l in layers if l.name in uncounted for n in users[l.name])
        raise ValueError(f"layer{'' if one else 's'} {', '.join(map(repr, uncounted))} {'is' if one else 'are'} used in "
                         f"{where} only outside {'its module' if one else 'their modules'} ({holders}, which never "
                         "runs), by an operation whose FLOPs cannot be measured (a functional call on the weight "
                         "transformed, such as F.linear(x, weight.t()), or a product such as x @ weight.t()); to give "
                         f"{'its' if one else 'their'} FLOPs, call the module itself, or pass the weight itself to "
                         "F.conv1d/2d/3d, F.conv_transpose1d/2d/3d or F.linear, whose calls are counted; or leave "
                         f"{'it' if one else 'them'} out of `prunable`")
    unused = [l.name for l in layers if all(c[l.name] == 0 for _, c, _ in passes)]
    if unused:
        one = len(unused) == 1
        raise ValueError(f"layer{'' if one else 's'} {', '.join(map(repr, unused))} {'was' if one else 'were'} not used "
                         f"in {where}; "
                         f"leave {'it' if one else 'them'} out of `prunable`")
    # hooks see a module run under torch.no_grad() or before a .detach() as any other; autograd does not, so its
    # gradients, and its columns of X, were all zeros without a word (a frozen backbone with a trained head)
    cut = [l.name for l in layers if any(c[l.name] > 0 and uses is not None and weight_reads(uses, l) == 0
                                         for _, c, uses in passes)]
    if cut:
        raise ValueError(f"layer(s) {', '.join(map(repr, cut))} run in the forward pass, but the model's output does not "
                         "depend on them (run under torch.no_grad(), after a .detach() of their result, only through an "
                         "operation without a gradient such as argmax, left out of the output, or inside "
                         "torch.utils.checkpoint with use_reentrant=True, whose graph autograd sees only in backward: "
                         "use use_reentrant=False), so their per-sample "
                         "gradients, and their columns of X, would be all zeros and falcon would prune them as if they "
                         "cost nothing to remove; leave them out of `prunable`, or run them with gradients")
    varying = []
    for l in layers:
        counts = [f[l.name] for f, _, _ in passes]
        # the first pass's count where all agree: a mean of equal floats need not be the float itself
        if all(c == counts[0] for c in counts):
            l.flops_per_weight = counts[0]
        else:
            l.flops_per_weight = sum(counts) / len(counts)
            varying.append(l.name)
        l.calls = max(c[l.name] for _, c, _ in passes)
    # a module called on an empty selection (an expert no token is routed to) costs nothing; flops_per_weight 0 went on
    # to the CLI, which refused it with advice for a Conv/Linear layer that does not fit
    empty = [l.name for l in layers if l.flops_per_weight == 0]
    if empty:
        one = len(empty) == 1
        raise ValueError(f"layer{'' if one else 's'} {', '.join(map(repr, empty))} ran in {where} on no position at all "
                         f"(a module called on an empty selection, such as an expert no token is routed to), so "
                         f"{'its' if one else 'their'} flops_per_weight would be 0, which falcon cannot budget; leave "
                         f"{'it' if one else 'them'} out of `prunable`, or give batches whose first samples use "
                         f"{'it' if one else 'them'}")
    if varying:
        warnings.warn(f"flops_per_weight differs between samples for {', '.join(map(repr, varying))} (compute that "
                      f"depends on the input, such as routing to experts): each is the mean over the first {len(passes)} "
                      "samples measured", RuntimeWarning, stacklevel=3)
    for l in layers:
        # the hooks see the module's calls only: a weight also read outside its module (a tied decoder's
        # F.linear(h, enc.weight.t())) costs more than counted, and its FLOP budget was exceeded without a word
        # (its applications, not its reads: a weight standardized or normalized in its module's forward is read by those
        # operations too, once per pass, and was said to be used outside its module, its count too low)
        extra = [(weight_applications(uses, l) - c[l.name], c[l.name], by_functional.get(l.name, 0))
                 for (_, c, uses), by_functional in zip(passes, functional_per_pass) if uses is not None]
        more, ran, by_functional = max(extra, default=(0, 0, 0))
        if more > 0:
            holders = ", ".join(repr(n) for n in users[l.name])
            by_module = ran - by_functional
            counted = f"its module ({holders}) runs ({by_module} call(s))" if by_module else \
                f"its module ({holders}) never runs"
            if by_functional:
                counted += f", and {by_functional} call(s) of F.conv*/F.linear on the weight itself are counted"
            warnings.warn(f"weight {l.name!r} is used {more} more time(s) in the forward pass than counted ({counted}): "
                          "a use by an operation whose FLOPs cannot be measured (a functional call on the weight "
                          "transformed, such as F.linear(x, weight.t()), or a product such as x @ weight.t()) is not "
                          f"counted, so its flops_per_weight {l.flops_per_weight:g} is too low; pass the weight itself "
                          "to F.conv1d/2d/3d, F.conv_transpose1d/2d/3d or F.linear, whose calls are counted, or correct "
                          "flops_per_weight in layers.json", RuntimeWarning, stacklevel=3)
    return list(layers)


def _conv_positions(t: torch.Tensor, weight_dim: int) -> float:
    """The positions a conv applies its weight at, from its output (or a transposed conv's input) `t`: (N, C, *spatial)
    batched, (C, *spatial) for one unbatched image."""
    return t.numel() / (t.shape[1] if t.dim() == weight_dim else t.shape[0])


# torch's functional convs and linear, by name (F.conv2d is torch.conv2d): what applies a weight passed as it is, and
# where its positions are read, as the hooks read a module's
_FUNCTIONAL_CONVS = frozenset({"conv1d", "conv2d", "conv3d"})
_FUNCTIONAL_CONV_TRANSPOSES = frozenset({"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})


class _FunctionalCalls(torch.overrides.TorchFunctionMode):
    """Passes each call of F.conv*, F.conv_transpose* or F.linear whose weight is one of `weights` (id -> layer name)
    itself to `count(layer name, function name, weight, input, output)`, which counts it as the hooks count a module's
    calls."""

    def __init__(self, weights: Dict[int, str], count):
        super().__init__()
        self.weights, self.count = weights, count

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in _FUNCTIONAL_CONVS or name in _FUNCTIONAL_CONV_TRANSPOSES or name == "linear":
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            lname = self.weights.get(id(weight))
            if lname is not None and isinstance(output, torch.Tensor):
                self.count(lname, name, weight, args[0] if args else kwargs["input"], output)
        return output


def _functional_positions(name: str, weight: torch.Tensor, input: torch.Tensor, output: torch.Tensor) -> float:
    """The positions a functional call `name` (conv2d, conv_transpose2d, linear) applies its weight at, read as the
    hooks read a module's: a conv's output positions, a transposed conv's input positions, a linear's rows."""
    if name in _FUNCTIONAL_CONVS:
        return _conv_positions(output, weight.dim())
    if name in _FUNCTIONAL_CONV_TRANSPOSES:
        return _conv_positions(input, weight.dim())
    return output.numel() / weight.shape[0]


def _unbatched_conv(output: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a conv's or transposed conv's call was on one sample without its batch dimension: its output is
    (C, *spatial), one dimension less than its weight."""
    return output.dim() == weight.dim() - 1


def _unbatched_call(module: nn.Module, output) -> bool:
    """Whether a hooked call was on unbatched input, one sample without its batch dimension: a conv's or transposed
    conv's output of one dimension less than its weight ((C, *spatial)), an attention's of 2 ((L, E)). A Linear takes
    (*, in_features), so its calls cannot be told apart: False."""
    if isinstance(module, (_CONV, _CONVT)):
        return _unbatched_conv(output, module.weight)
    if isinstance(module, nn.MultiheadAttention):
        return (output[0] if isinstance(output, tuple) else output).dim() == 2
    return False


class _Caller(NamedTuple):
    """What made a counted call, as _check_inferred_batch_size names it: a module ("'c'", "Conv2d", "module") or a
    functional call on a layer's weight ("F.conv2d on 'c.weight'", "a functional call", "call")."""
    label: str
    kind: str
    noun: str


def _check_inferred_batch_size(inferred_from: Tuple[int, ...], unbatched_calls: Dict[_Caller, int],
                               first_call: List[Tuple[_Caller, bool, Optional[Tuple[int, ...]]]]) -> None:
    """Raises ValueError where the batch size measure_flops read from the example's first dimension cannot be the
    number of samples in the pass: every count is divided by it, so an example of one unbatched sample (C, H, W) had
    each conv's count divided by C without a word (a layers.json then under-budgets those layers). Two signs: the
    example itself reaches the pass's first conv or attention module (or counted functional conv) as unbatched input;
    or such a module or call runs on unbatched input a number of times that is not a multiple of the batch size (a model
    that runs its samples one by one calls it once, or k times, per sample)."""
    batch_size = inferred_from[0]
    fix = (f"pass batch_size=1 if the example is one unbatched sample (or give it a batch dimension, "
           f"x.unsqueeze(0)), or batch_size={batch_size} if its first dimension is the batch")
    head = (f"measure_flops read the batch size as {batch_size}, the first dimension of the example input "
            f"{inferred_from}, but")
    if first_call:
        caller, unbatched, shape = first_call[0]
        if unbatched and shape == inferred_from:
            raise ValueError(f"{head} {caller.label} ({caller.kind}), the first {caller.noun} it reaches, takes it "
                             f"as one unbatched sample, so every count would be divided by {batch_size}; {fix}")
    odd = {c: k for c, k in unbatched_calls.items() if k % batch_size != 0}
    if odd:
        named = ", ".join(f"{c.label} ({c.kind}, {k} call{'s' if k > 1 else ''})" for c, k in odd.items())
        raise ValueError(f"{head} {named} ran on unbatched input (one sample each call) a number of times that is not a "
                         f"multiple of {batch_size}, so {batch_size} cannot be the samples in the pass, and each count "
                         f"would be divided by it; {fix}")


# autograd nodes that read rows of a weight without multiplying them: F.embedding, and a lookup written as indexing
# (weight[ids], weight.index_select(0, ids)), which was counted as a use outside the module
_LOOKUPS = ("EmbeddingBackward", "EmbeddingBagBackward", "IndexBackward", "IndexSelectBackward")

# autograd nodes that apply a weight, multiplying it at every position (names without their version digits): a conv, a
# Linear's matrix products, and the products a functional call can make of it. Any other node that meets a weight and
# a result computed from the data (an elementwise product with an activation, torch.cdist, addcmul) applies the weight
# at every position too; one fed the weight and other weights or constants alone costs O(weight) once per pass: weight
# standardization (var_mean, sub, div), F.normalize's, a transpose or a view, which pass it on to what applies it
_APPLICATIONS = frozenset({
    "ConvolutionBackward", "ConvolutionBackwardOverrideable", "CudnnConvolutionBackward",
    "CudnnConvolutionTransposeBackward", "MkldnnConvolutionBackward", "SlowConv2DBackward", "SlowConv3DBackward",
    "SlowConvDilated2DBackward", "SlowConvDilated3DBackward", "SlowConvTranspose2DBackward",
    "SlowConvTranspose3DBackward", "ThnnConv2DBackward", "ThnnConvDepthwise2DBackward", "ConvDepthwise2DBackward",
    "ConvDepthwise3DBackward", "LinearBackward", "MkldnnLinearBackward", "MmBackward", "AddmmBackward", "BmmBackward",
    "BaddbmmBackward", "AddbmmBackward", "MvBackward", "AddmvBackward", "DotBackward", "VdotBackward", "MatmulBackward"})


@dataclass
class _AutogradUses:
    """How the forward pass's autograd graph uses each weight, by id: `reads`, the operations fed the weight itself
    (lookups left out), which is 0 only for a weight the output does not depend on; `applications`, the products that
    apply it, directly or through operations that only reshape or rescale it (each module call of a Conv/Linear applies
    its weight once)."""
    reads: Dict[int, int]
    applications: Dict[int, int]


# autograd nodes that reduce a whole tensor to one number (sum(), mean(), norm() with no dim): a number made of a weight
# costs nothing per position, whatever it is then combined with (the "+ 0 * w.sum()" that keeps a weight in the graph)
_TO_ONE_NUMBER = frozenset({"SumBackward0", "MeanBackward0", "NormBackward0", "ProdBackward0", "MaxBackward1",
                            "MinBackward1"})


def _is_application(node) -> bool:
    return node.name().rstrip("0123456789") in _APPLICATIONS


def _autograd_uses(output, weights: Set[int]) -> Optional[_AutogradUses]:
    """The uses of the leaf tensors whose ids are in `weights` in the autograd graph of the output. None when the output
    holds no tensor of a graph where it can be found (an output object of another kind, or a model run entirely without
    gradients, which loss_fn's check names): no use can be told from no graph there."""
    roots, stack = [], [output]
    while stack:
        o = stack.pop()
        if isinstance(o, torch.Tensor):
            if o.grad_fn is not None:
                roots.append(o.grad_fn)
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
    if not roots:
        return None
    uses = _AutogradUses({}, {})
    # per node: the weights it passes on, read through nodes that neither apply nor look up (an application or a lookup
    # passes on a result computed from data, no weight); the nodes are kept, not only their ids: a freed node's id is
    # given to the next one
    passes_on: Dict[int, frozenset] = {}
    # per node: whether its result is computed from the data (through an application or a lookup), not only from
    # weights and constants; the model's input has no node, so the first application is where the data comes in
    from_data: Dict[int, bool] = {}
    kept = {}
    nothing = frozenset()
    # post-order over the graph, which is acyclic: a node's inputs before the node
    stack = [(r, False) for r in roots]
    while stack:
        node, inputs_done = stack.pop()
        if id(node) in passes_on:
            continue
        edges = [nxt for nxt, _ in node.next_functions if nxt is not None]
        if not inputs_done:
            kept[id(node)] = node
            stack.append((node, True))
            stack.extend((nxt, False) for nxt in edges
                         if getattr(nxt, "variable", None) is None and id(nxt) not in passes_on)
            continue
        lookup = node.name().startswith(_LOOKUPS)
        reached = set()
        meets_data = False
        for nxt in edges:
            variable = getattr(nxt, "variable", None)
            if variable is None:
                reached |= passes_on[id(nxt)]
                meets_data |= from_data[id(nxt)]
            elif id(variable) in weights:
                reached.add(id(variable))
                # a lookup multiplies nothing: a language model's output Linear tied to its embedding costs its calls
                if not lookup:
                    uses.reads[id(variable)] = uses.reads.get(id(variable), 0) + 1
        # a weight met by a result of the data is applied to it (the products of a Linear, or a broadcast product by hand)
        applies = _is_application(node) or (meets_data and not lookup)
        if applies:
            for weight in reached:
                uses.applications[weight] = uses.applications.get(weight, 0) + 1
        from_data[id(node)] = meets_data or lookup or _is_application(node)
        passes_on[id(node)] = (nothing if applies or lookup or node.name() in _TO_ONE_NUMBER or not reached
                               else frozenset(reached))
    return uses


def _transposed_input_positions(module: nn.Module, output: torch.Tensor) -> float:
    """Input positions of a transposed conv from its output, for a call whose input the hook did not get (a keyword).
    Per dimension L_out = (L_in - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1, where the extra is the
    output padding of the call: the module's output_padding, or what output_size= asks for, which is below the stride.
    The call's own extra is read from its autograd node where it has one; without it, an extra below the stride is found
    by the floor division, and the module's output_padding is taken out first where it is not below the stride (torch
    allows up to the dilation): the floor division counted one more input position per dimension there."""
    node = output.grad_fn
    extras = None
    if node is not None and node.name().startswith("ConvolutionBackward") and getattr(node, "_saved_transposed", False):
        extras = getattr(node, "_saved_output_padding", None)
    if extras is None:
        extras = [op if op >= st else 0 for op, st in zip(module.output_padding, module.stride)]
    spatial = output.shape[-len(module.kernel_size):]
    positions = 1
    for size, k, st, pad, dil, extra in zip(spatial, module.kernel_size, module.stride, module.padding, module.dilation,
                                            extras):
        positions *= (size - 1 - extra + 2 * pad - dil * (k - 1)) // st + 1
    return float(positions)


def dense_flops(layers: Sequence[LayerInfo]) -> float:
    """sum over prunable layers of count * flops_per_weight (multiply-adds per sample)."""
    return float(sum(l.count * l.flops_per_weight for l in layers))


def kept_flops(layers: Sequence[LayerInfo], mask) -> float:
    """FLOPs of the weights kept by a flat boolean mask (numpy array of p values)."""
    total = 0.0
    for l in layers:
        total += float(mask[l.offset:l.offset + l.count].sum()) * l.flops_per_weight
    return total
