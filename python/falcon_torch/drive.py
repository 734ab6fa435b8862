"""export -> `falcon prune` -> apply, in one call, in one or several stages."""
from __future__ import annotations

import contextlib
import decimal
import io
import math
import numbers
import os
import pickle
import re
import shlex
import shutil
import site
import sys
import sysconfig
import tempfile
import types
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .apply import apply
from .cli import (BUDGET_FLAGS, FalconCLI, FalconError, execution_options, option_words, split_method,
                  stopped_cleanly_by_termination)
from .export import batch_pair, check_n_samples, export, one_fewer_samples_warning, refuse_meta_tensors
from .flops import kept_flops, prunable_entries


@dataclass
class PruneResult:
    masks: Dict[str, torch.Tensor]
    report: dict                           # the last stage's CLI report
    reports: List[dict] = field(default_factory=list)
    keep_flops_schedule: List[float] = field(default_factory=list)
    keep_nnz_schedule: List[Optional[float]] = field(default_factory=list)
    dense_flops: float = 0.0
    kept_flops: float = 0.0
    kept_nnz: int = 0
    parameters: int = 0


def stage_schedule(target: float, stages: int, start: float = 1.0, kind: str = "poly") -> List[float]:
    """Budget fractions of stages 1..T, ending at `target` (FALCON.md's schedules, without the dense
    stage 0): poly s_t = s_T + (s_0 - s_T)(1 - t/T)^3, linear, exp (geometric), const."""
    if stages < 1:
        raise ValueError("stages must be >= 1")
    # the range MultiStage.requireStartLevel holds the CLI's --start-keep options to: a NaN start made every level NaN,
    # one above 1 or below the target bent the schedule (rising from 0.1 to 0.3), and 0 with 'exp' divided by zero
    if not 0 < start <= 1:
        raise ValueError(f"start: is {start}, outside (0, 1]: a start level is a fraction of the dense FLOPs or of p; "
                         "give 1 to start from the dense model")
    if target < 1 and start < target * (1 - 1e-12):
        raise ValueError(f"start: the start level {start} is below the target {target}: the schedule runs from the start "
                         "level down to the target")
    out = []
    for t in range(1, stages + 1):
        r = t / stages
        if kind == "poly":
            v = target + (start - target) * (1 - r) ** 3
        elif kind == "linear":
            # MultiStage.Schedule.level's expression, so that stage_nnz_budgets rounds the CLI's own levels
            v = start + (target - start) * r
        elif kind == "exp":
            v = start * (target / start) ** r
        elif kind == "const":
            v = target
        else:
            raise ValueError(f"unknown schedule {kind!r}: poly, linear, exp or const")
        # a computed level, as MultiStage takes it (Fractions.computedLevel): its exact binary value rounded half-even
        # to 12 significant digits, so that linear from 0.7 to 0.5 puts a stage at 0.65, not 0.6499999999999999 (649
        # of 1,000 weights where the CLI route, and the schedule, mean 650); the target stays as given
        out.append(float(target) if v == target else _computed_level(v))
    out[-1] = float(target)
    return out


_COMPUTED_LEVEL = decimal.Context(prec=12, rounding=decimal.ROUND_HALF_EVEN)


def _computed_level(v: float) -> float:
    """A level the schedule computes, to 12 significant digits (half-even of its exact binary value): the float of that
    decimal, whose repr is the decimal again, so that a count or a --keep-flops of it multiplies that decimal."""
    return float(_COMPUTED_LEVEL.plus(decimal.Decimal(float(v))))


def _weight_count(fraction, total: int) -> int:
    """A fraction of `total` weights as a count, as the CLI counts it (Fractions.count): the fraction as the decimal it
    is written as (a float's shortest form, repr) times the total, rounded down. 0.29 of 1600 is 464 (the float product
    is 463.99999999999994), 0.3 of 10,000,000,000,001 is 3,000,000,000,000."""
    exact = fraction if isinstance(fraction, decimal.Decimal) else decimal.Decimal(repr(float(fraction)))
    with decimal.localcontext() as exactly:
        exactly.prec = 80  # the default 28 digits rounded products of a 17-digit fraction and a 19-digit total
        return int((exact * total).to_integral_value(rounding=decimal.ROUND_FLOOR))


def stage_nnz_budgets(keep_nnz: float, stages: int, p: int, kind: str = "poly",
                      typed: Optional[List[str]] = None) -> List[int]:
    """The NNZ budgets (weights kept) of stages 1..T of p weights, ending at keep_nnz's count, as the CLI's falcon++
    schedules them from the dense start (MultiStage.nnzBudget): each level is taken toward the target's rounded count
    over p (57/192 for 0.3 of 192 weights), not toward keep_nnz, and counted as the CLI counts a fraction. `typed`: the
    words that gave keep_nnz (--sparsity S is counted as (1 - S) p in decimal, as Budgets takes it). The Python route
    scheduled toward keep_nnz and asked for --keep-nnz 0.38749999999999996, 74 weights where the CLI route ran 73."""
    sparsity = [value for _, _, flag, value in option_words(typed or [], BUDGET_FLAGS) if flag == "--sparsity"]
    target = _weight_count((1 - decimal.Decimal(repr(float(sparsity[0])))) if sparsity else keep_nnz, p)
    levels = stage_schedule(min(1.0, target / p), stages, kind=kind)
    return [max(target, min(p, _weight_count(level, p))) for level in levels[:-1]] + [target]


@stopped_cleanly_by_termination()
@one_fewer_samples_warning()
def prune(model: nn.Module, batches, keep_flops: Optional[float] = None, keep_nnz: Optional[float] = None,
          method: str = "falcon", stages: Optional[int] = None, finetune: Optional[Callable] = None,
          n_samples: int = 1000, prunable=None, loss_fn: Optional[Callable] = None, lam: Optional[float] = None,
          schedule: str = "poly", work_dir: Optional[str] = None, cli: Optional[FalconCLI] = None,
          extra_args=(), gradient_source: str = "auto", grads_command_timeout=None) -> PruneResult:
    """Prunes `model` in place to `keep_flops` of its dense FLOPs (and `keep_nnz` of its weights).

    keep_flops=None (the default) with no other budget (keep_nnz, or --keep-flops, --flops, --keep-nnz, --nnz or
    --sparsity in `method` or `extra_args`) prunes to 0.3 of the dense FLOPs; beside an NNZ budget alone it keeps the
    dense FLOPs, and beside a FLOP budget of the words that budget is the only one, as the CLI does without
    --keep-flops.

    method: "magnitude", "mp", "mp --backsolve", "falcon" or "falcon++" (anything the CLI accepts;
    extra CLI flags may follow the name). falcon++ runs `stages` stages (default 3) of `falcon`
    along the `schedule`; before every stage the per-sample gradients are recomputed at the current
    weights (a fresh X.npy per stage, so the CLI always sees the current weights), and
    `finetune(model, masks)` (optional) is called between stages. Any other method with stages > 1 is
    staged the same way. Raises FalconError (with the CLI's message) when the CLI cannot run it.

    extra_args: more words for every `falcon prune` call, as a list or tuple (e.g. ["--threads", "2"]).

    gradient_source (falcon++ only): "cli" runs all stages in ONE `falcon prune --method falcon++` call
    whose `--grads-command` is `python3 -m falcon_torch.gradcmd` (the CLI writes each stage's weights,
    the command recomputes X at them); "python" runs the stages from here, one `falcon` call each, with X
    exported before every stage. "auto" (default) takes "cli" when the CLI has `--grads-command`, no
    `finetune` or `loss_fn` is given (both live in this process), the classes of the model and of its
    submodules can be imported by the command (none defined in __main__), torch.save can write the model and it
    holds no other class or function of __main__; otherwise "python". "cli" with a model the command cannot load (a
    class defined in __main__, a lambda), or with `finetune` or `loss_fn`, is a ValueError before any work.

    grads_command_timeout (falcon++ through the CLI only): the longest each stage's gradient command may run, the CLI's
    --grads-command-timeout: seconds (a number) or a string with s, m or h ("15m"); default None, no limit. A command
    still running then is stopped and FalconError (exit code 1) names the stage and the limit. With
    gradient_source="python" there is no command (ValueError); "auto" passes it on when it takes the CLI route.
    """
    if isinstance(extra_args, (str, bytes)) or not all(isinstance(a, str) for a in extra_args):
        # a string would be passed on character by character
        raise TypeError(f"extra_args must be a list or tuple of CLI words, e.g. ['--threads', '2'], not {extra_args!r}")
    if gradient_source not in ("auto", "cli", "python"):
        raise ValueError(f"gradient_source must be auto, cli or python, not {gradient_source!r}")
    check_n_samples(n_samples)
    refuse_meta_tensors(model, "prune")     # before the CLI's probe run and the work folder
    if stages is not None and (isinstance(stages, bool) or not isinstance(stages, numbers.Integral) or stages < 1):
        # the CLI route passed stages + 1 on, so stages=0 came back as the CLI's "--schedule does not apply with
        # --stages 1", after the export
        raise ValueError(f"stages must be a whole number of stages, at least 1, not {stages!r}")
    if keep_flops is None and keep_nnz is None and not _budget_flags([*split_method(method)[1], *extra_args]):
        # the CLI's own default with no budget, made explicit: the result's keep_flops_schedule said [None], and a
        # staged run went to 30% at every stage instead of along its schedule. Not beside a budget of the method's or
        # extra_args' words: a FLOP budget would reach the CLI twice, and with an NNZ budget alone the CLI keeps the
        # dense FLOPs, as keep_nnz= does; extra_args=['--sparsity', '0.35'] got a 30% FLOP budget nobody asked for.
        # So the signature's default is None, not 0.3: keep_nnz=0.5 or 'mp --sparsity 0.7' got --keep-flops 0.3 too
        keep_flops = 0.3
    # the CLI checked them only after the whole export (and for falcon++ through the CLI, the gradient session too):
    # keep_flops=30, meant as 30%, took a full export to be refused
    keep_flops = _check_budget_fraction("keep_flops", keep_flops)
    keep_nnz = _check_budget_fraction("keep_nnz", keep_nnz)
    # prune gives the CLI its budgets itself (along the stages' schedule): a fraction among the words went to the CLI
    # as it was, so every stage pruned straight to it; one that prune's keywords also gave reached the CLI twice,
    # refused only after the whole export (the probe leaves budgets out)
    staged = split_method(method)[0] == "falcon++" or (stages is not None and stages > 1)
    method, extra_args, keep_flops, keep_nnz, typed = _take_budget_flags(method, extra_args, keep_flops, keep_nnz,
                                                                          staged)
    timeout_arg = _duration_arg(grads_command_timeout)
    # every stage reads it again (and the CLI route twice, for stage 0's X and the gradient command's session): a
    # generator of modules was spent by stage 1, and stage 2 found 'no prunable Conv/Linear weights'
    prunable = prunable_entries(prunable)
    name, margs = split_method(method)
    if name == "falcon++" and gradient_source == "cli":
        # refused here, before the export and stage 0: each reason only showed at stage 2, in the gradient command
        if finetune is not None or loss_fn is not None:
            raise ValueError("gradient_source='cli' cannot call finetune or loss_fn: they live in this process")
        why = _why_the_gradient_command_cannot_load(model)
        if why is not None:
            reason, fix = why
            raise ValueError(f"gradient_source='cli' runs the gradient command in another process, which cannot load "
                             f"this model: {reason}; {fix}, or use gradient_source='python' ('auto' takes it for such "
                             "a model)")
    cli = cli or FalconCLI()
    if timeout_arg is not None and (name != "falcon++" or gradient_source == "python"):
        # the CLI refuses --grads-command-timeout without --grads-command, which only falcon++ through the CLI passes
        raise ValueError("grads_command_timeout limits the gradient command of falcon++ through the CLI, and "
                         + (f"method {method!r} runs none: drop it" if name != "falcon++"
                            else "gradient_source='python' runs none: drop it, or use gradient_source='cli' or 'auto'"))
    if timeout_arg is not None and schedule == "const":
        # const stages after the first keep their weights whatever their X, so no gradient command runs to be limited
        raise ValueError("grads_command_timeout limits the gradient command of falcon++ through the CLI, and "
                         "schedule='const' runs none (every stage after the first keeps its weights whatever its X): drop it")
    if name == "falcon++":
        _refuse_stage_flags([*margs, *extra_args])
        stage_method = " ".join(["falcon"] + margs)
        stages = 3 if stages is None else stages
    else:
        stage_method = method
        stages = 1 if stages is None else stages
    # with the caller's lam: a flag of the method may need --lambda (--lambda-convention), and was refused without it;
    # with extra_args' --device: one that cannot run here was refused only after the export
    ok, why = cli.supports(stage_method, lam=lam, extra=extra_args)
    if not ok:
        with_lam = f" with lam={lam!r}" if lam is not None else ""
        execution = execution_options(extra_args)
        with_execution = f" with {shlex.join(execution)}" if execution else ""
        # the message is falcon_torch's own (not from_command): its "falcon: error:" line is inside it, and only the
        # command's own stderr can be the launcher's refusal
        raise FalconError(2, f"the falcon CLI cannot run method {stage_method!r}{with_lam}{with_execution}: {why}",
                          cli.command)
    if (stages > 1 or name == "falcon++") and iter(batches) is batches:
        # a one-shot iterator: every stage needs the samples again (falcon++ through the CLI reads them twice,
        # for stage 0's X and for the gradient command's session, even in one stage)
        batches = _batches_of_first_samples(batches, n_samples)
    if name == "falcon++":
        use_cli = gradient_source == "cli" or (
            gradient_source == "auto" and finetune is None and loss_fn is None and _importable(model)
            and _picklable(model)
            and cli.has_option("--grads-command"))
        if use_cli:
            return _falcon_pp_through_cli(model, batches, keep_flops, keep_nnz, typed, margs, stages, n_samples,
                                          prunable, lam, schedule, work_dir, cli, extra_args, timeout_arg)
    f_sched = stage_schedule(keep_flops, stages, kind=schedule) if keep_flops is not None else [None] * stages
    with _work_folder(work_dir) as work_dir:
        reports, masks, ex, nnz_budgets = [], {}, None, None
        for t in range(stages):
            d = os.path.join(work_dir, f"stage{t + 1}")
            ex = export(model, batches, prunable=prunable, n_samples=n_samples, out_dir=d, loss_fn=loss_fn)
            if nnz_budgets is None and keep_nnz is not None:
                nnz_budgets = stage_nnz_budgets(keep_nnz, stages, ex.p, schedule, typed.get("keep_nnz"))
            out, mask, rep = (os.path.join(d, n) for n in ("pruned.npy", "mask.npy", "report.json"))
            if t < stages - 1:
                # the stage's count itself, as the CLI route's stages run it: a fraction would be counted again
                f_budget, n_budget, extra = f_sched[t], None, extra_args
                nnz = nnz_budgets[t] if nnz_budgets is not None else None
            else:
                f_budget, n_budget, extra = _target_budgets_as_typed(f_sched[t], keep_nnz, typed, extra_args)
                nnz = None
            report = cli.prune(ex.grads_path, ex.weights_path, ex.layers_path, out, rep, mask=mask,
                               keep_flops=f_budget, keep_nnz=n_budget, nnz=nnz, method=stage_method, lam=lam,
                               extra=extra)
            reports.append(report)
            masks = apply(model, out, ex.layers_path, mask_path=mask)
            if finetune is not None and t < stages - 1:
                finetune(model, masks)
        flat = np.concatenate([masks[l.name].cpu().numpy().reshape(-1) for l in ex.layers])
        return PruneResult(masks=masks, report=reports[-1], reports=reports, keep_flops_schedule=f_sched,
                           keep_nnz_schedule=_nnz_schedule(keep_nnz, nnz_budgets, stages, ex.p),
                           dense_flops=ex.dense_flops,
                           kept_flops=kept_flops(ex.layers, flat), kept_nnz=int(flat.sum()), parameters=ex.p)


def _nnz_schedule(keep_nnz, nnz_budgets, stages: int, p: int) -> List[Optional[float]]:
    """PruneResult.keep_nnz_schedule: each earlier stage's NNZ budget as the fraction of the p weights it kept, the
    last stage's the fraction asked for (keep_nnz). It gave the levels before counting (0.3875 of 192 weights, 74.4),
    which neither route ran."""
    if keep_nnz is None:
        return [None] * stages
    return [n / p for n in nnz_budgets[:-1]] + [keep_nnz]


@contextlib.contextmanager
def _work_folder(work_dir: Optional[str]):
    """The caller's work_dir, or a temporary folder removed afterwards, except when the run fails with an error that
    names files in it (the CLI's "X.npy: X[0, 0] is NaN ... run falcon inspect", "pruned.npy holds the weights of
    stage 1"): those files were deleted before the caller read the message, so the folder is kept and the message
    says so."""
    if work_dir is not None:
        yield work_dir
        return
    own = tempfile.mkdtemp(prefix="falcon-torch-")
    try:
        yield own
    except Exception as e:
        # a FalconError's message always holds its command line, the CLI's own words only sometimes name a file
        if own not in (e.stderr if isinstance(e, FalconError) else str(e)):
            shutil.rmtree(own, ignore_errors=True)
            raise
        note = f"\n  (prune's work folder {own} is kept, as this message names files in it; delete it when done)"
        if len(e.args) == 1 and isinstance(e.args[0], str):
            e.args = (e.args[0] + note,)
        else:
            e.add_note(note.strip())
        raise
    except BaseException:
        shutil.rmtree(own, ignore_errors=True)
        raise
    shutil.rmtree(own, ignore_errors=True)


# the CLI's falcon++-only options, each with what prune() takes instead: prune runs falcon++ as falcon stages (or passes
# its own --stages and --schedule to the CLI), so "falcon++ --stages 2" reached the CLI as "falcon --stages 2" and was
# refused as "only applies to --method falcon++; ... use --method falcon++", though the user had
_STAGE_FLAGS = {
    "--stages": "stages=T",
    "--schedule": "schedule='poly'|'linear'|'exp'|'const'",
    "--start-keep-flops": None, "--start-keep-nnz": None, "--start-keep": None,
    "--grads-command": "gradient_source='cli' (prune writes the command)",
    "--grads-command-timeout": "grads_command_timeout=",
}


def _refuse_stage_flags(words) -> None:
    for _, _, flag, _ in option_words(words, _STAGE_FLAGS):
        instead = _STAGE_FLAGS[flag]
        fix = (f"pass prune(..., {instead}) instead" if instead else
               "prune's schedules start from the dense model; for another start level run `falcon prune --method "
               "falcon++` yourself on an export")
        raise ValueError(f"method='falcon++ ...' with {flag}: prune runs the falcon++ stages itself and takes no "
                         f"{flag} in the method or extra_args; {fix}")


def _budget_flags(words) -> List[Tuple[int, int, str, Optional[str], str]]:
    """The budget options among `words` (a method's flags or extra_args), as option_words gives them, each with prune's
    keyword for that budget. A --flops that is no number is the per-weight FLOP costs' file, not a budget, and is left
    out."""
    return [(i, span, flag, value, BUDGET_FLAGS[flag]) for i, span, flag, value in option_words(words, BUDGET_FLAGS)
            if not (flag == "--flops" and value is not None and _number(value) is None)]


def _take_budget_flags(method: str, extra_args, keep_flops, keep_nnz, staged: bool):
    """(method, extra_args, keep_flops, keep_nnz, typed) with the fractions among the method's flags and extra_args
    (--keep-flops, --keep-nnz, --sparsity) taken out of the words into prune's keywords, where the stages' schedule
    applies to them; `typed` holds the words taken, by keyword, for the run that prunes to the target
    (_target_budgets_as_typed). A ValueError for a budget that prune's keyword (or other words) also give the CLI, naming
    the keyword and what to pass instead, and for an absolute --flops or --nnz on a staged run (`staged`), which no
    schedule can walk down."""
    given = {"keep_flops": keep_flops, "keep_nnz": keep_nnz}
    typed: Dict[str, List[str]] = {}
    # who gives each budget so far: prune's keyword, or the words taken before
    by = {keyword: None if value is None else f"prune's {keyword}={value!r}" for keyword, value in given.items()}
    by_keyword = {keyword for keyword, value in given.items() if value is not None}
    name, margs = split_method(method)
    left = []
    for where, words, place in ((f"method {method!r} gives", margs, "the method"),
                                ("extra_args give", list(extra_args), "extra_args")):
        taken = set()
        for i, span, flag, value, keyword in _budget_flags(words):
            number = _number(value)
            fraction = flag in ("--keep-flops", "--keep-nnz", "--sparsity") and number is not None
            said = f"{where} {flag}{'' if value is None else ' ' + value}"
            if fraction:
                # before the decimal arithmetic below and the conflict check: --sparsity 1e1000000 (past the decimal
                # context's Emax) raised decimal.Overflow, and the conflict's fix offered a kept fraction below 0
                valid = (0 <= number < 1) if flag == "--sparsity" else (0 < number <= 1)
                if not valid:
                    raise ValueError(f"{said}: outside the valid range " + (
                        "[0, 1); give the fraction to remove, e.g. --sparsity 0.7" if flag == "--sparsity" else
                        f"(0, 1]; give the fraction to keep, e.g. {flag} 0.3"))
                # 1 - S in decimal, as the CLI takes --sparsity S (Budgets.resolve): 1 - 0.7 is 0.30000000000000004 in
                # double, and the last stage's schedule ended there
                kept = decimal.Decimal(1) - decimal.Decimal(value) if flag == "--sparsity" else None
                instead = f"prune(..., {keyword}={value if kept is None else kept})"
            else:
                instead = (f"prune(..., {keyword}=) the fraction of the " +
                           ("dense FLOPs" if keyword == "keep_flops" else "weights") + " to keep")
            if by[keyword] is not None and keyword not in by_keyword:
                # two words: prune's keyword is not involved, and "pass prune(..., keep_nnz=0.3)" kept the earlier word
                # beside the keyword, refused in turn as the same budget given twice
                budget = "FLOP" if keyword == "keep_flops" else "NNZ"
                fix = ("; keep one of them and drop the other" if fraction or not staged else
                       f", and prune cannot walk an absolute {flag} down the stages' schedule; drop {flag}")
                raise ValueError(f"{said}, and {by[keyword]}: both words give the {budget} budget, which the CLI takes "
                                 f"once{fix}")
            if by[keyword] is not None:
                # the word alone is right where prune takes it into its keyword, or where one stage runs
                alone = (f", or pass {keyword}=None to leave that budget to {flag}"
                         if keyword in by_keyword and (fraction or not staged) else "")
                raise ValueError(f"{said}, and {by[keyword]} gives the CLI the same budget, which it takes once: drop "
                                 f"{flag} and pass {instead}{alone}")
            if fraction:
                given[keyword] = number if kept is None else float(kept)
                typed[keyword] = words[i:i + span]
                taken.update(range(i, i + span))
            elif staged and value is not None:
                raise ValueError(f"{said}, an absolute budget: prune walks its budgets down along the stages' "
                                 f"schedule, which it cannot do with {flag}; drop {flag} and pass {instead}")
            if value is not None:
                by[keyword] = f"{flag} {value} in {place}"
        left.append([word for i, word in enumerate(words) if i not in taken])
    method = method if left[0] == margs else shlex.join([name, *left[0]])
    return method, left[1], given["keep_flops"], given["keep_nnz"], typed


_BUDGET_OPTIONS = ("--flops", "--nnz", "--keep-flops", "--keep-nnz", "--sparsity")


def _budgets_at_the_dense_model(keep_flops, keep_nnz, extra_args) -> bool:
    """Whether every budget prune() passes keeps the whole model (fractions of 1, no absolute budget in extra_args,
    which this side cannot compare with the dense figures): nothing to prune, at every stage of any schedule."""
    if keep_flops is None and keep_nnz is None:
        return False  # the CLI's default budget, keep_flops=0.3, or one in extra_args
    if any(word.split("=", 1)[0] in _BUDGET_OPTIONS for word in extra_args):
        return False
    return all(fraction is None or fraction >= 1 for fraction in (keep_flops, keep_nnz))


def _target_budgets_as_typed(keep_flops, keep_nnz, typed: Dict[str, List[str]], extra_args):
    """(keep_flops, keep_nnz, extra_args) for the CLI run that prunes to the target budgets, a fraction the caller gave
    among the words going to the CLI as they were typed: --sparsity 0.7 went as --keep-nnz 0.30000000000000004, which
    the report gave as the budget asked for, and --sparsity 0.999's refusal named --keep-nnz 0.0010000000000000009 and
    asked for "at least 0.0023585" of an option the caller never typed."""
    words = [word for keyword in ("keep_flops", "keep_nnz") for word in typed.get(keyword, [])]
    return (None if "keep_flops" in typed else keep_flops, None if "keep_nnz" in typed else keep_nnz,
            [*words, *extra_args])


# falcon's grammar for a number (Numbers.isDecimal): the CLI takes anything else after --flops for a file's name, and
# reads no "nan", "inf" or "1_000", which Python's float does
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(value: Optional[str]) -> Optional[float]:
    if value is None or not _DECIMAL.fullmatch(value):
        return None
    return float(value)


def _check_budget_fraction(keyword: str, value) -> Optional[float]:
    """A budget fraction of prune() by the CLI's rule for --keep-flops and --keep-nnz (Budgets.checkFraction), in its
    words, naming the keyword: finite, in (0, 1]; returned as a float. None (not given) passes. Any number float()
    takes is one: a 0-d tensor or a numpy scalar ran before the check, and was then refused as no number."""
    if value is None:
        return None
    number = None
    if not isinstance(value, (str, bytes, bool)):
        # a string went on to the CLI as float(value): '30%' failed with float's own message after the export
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):
            pass
    if number is None:
        raise ValueError(f"{keyword}=: is {value!r}, not a number; give the fraction to keep, e.g. {keyword}=0.3")
    if not math.isfinite(number) or not 0 < number <= 1:
        # the CLI's own alternative for 0 (Budgets): an absolute budget of 0 says the emptied model is meant
        on_purpose = (f", or {keyword}=None with extra_args=['{'--flops' if keyword == 'keep_flops' else '--nnz'}', "
                      "'0'] to prune every weight on purpose") if number == 0 else ""
        raise ValueError(f"{keyword}=: is {value!r}, outside the valid range (0, 1]; give the fraction to keep, "
                         f"e.g. {keyword}=0.3{on_purpose}")
    return number


def _duration_arg(timeout) -> Optional[str]:
    """grads_command_timeout as the CLI's DURATION: a string as given (the CLI checks it, naming the option), a number of
    seconds written out in full (the CLI reads no exponent: 1e-05)."""
    if timeout is None:
        return None
    if isinstance(timeout, str):
        # the CLI's own grammar (PruneCommand.parseTimeout), checked here: "2x" was refused by the CLI only after the
        # whole export of stage 0
        m = re.fullmatch(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([smh]?)", timeout.strip().lower())
        if not m:
            raise ValueError(f"grads_command_timeout {timeout!r} is not a duration: give seconds (90) or a number with "
                             "s, m or h: '90s', '15m', '2h'")
        if float(m.group(1)) <= 0:
            raise ValueError(f"grads_command_timeout {timeout!r} must be more than 0; leave it out (None) for no limit")
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"grads_command_timeout must be a number of seconds above 0 or a duration such as '15m', "
                         f"not {timeout!r}")
    # numpy's scalars too: an np.float32 is no float, and int() would cut 0.5 s to 0
    seconds = int(timeout) if isinstance(timeout, numbers.Integral) else float(timeout)
    return format(decimal.Decimal(repr(seconds)), "f")


def _batches_of_first_samples(batches, n_samples: int) -> list:
    """The batches that hold the first n_samples samples, drawn from a one-shot iterator and kept. As many batches as
    samples were drawn: n_samples=1000 of a loader of 128 drew and held 1000 batches where 8 hold the samples."""
    kept, seen = [], 0
    for index, batch in enumerate(batches):
        kept.append(batch)
        seen += batch_pair(batch, index)[0].shape[0]
        if seen >= n_samples:
            break
    return kept


def _class_modules(model: nn.Module) -> List[str]:
    """The modules of the classes the gradient command unpickles: the model's first, then its submodules'."""
    return list(dict.fromkeys(type(m).__module__ for m in model.modules()))


def _unimportable_class(model: nn.Module) -> Optional[str]:
    """The first class of the model or its submodules that another process cannot import ("Net, defined in
    __main__"), or None."""
    # every class in the pickle, not only the model's: a block defined in the script, or the script's model inside an
    # nn.DataParallel, took the CLI route and failed there at stage 2
    for name in _class_modules(model):
        if name == "__main__" or getattr(sys.modules.get(name), "__file__", None) is None:
            cls = next(type(m) for m in model.modules() if type(m).__module__ == name)
            where = "__main__" if name == "__main__" else f"module {name}, which has no file"
            return f"class {cls.__qualname__!r} is defined in {where}"
    return None


def _importable(model: nn.Module) -> bool:
    return _unimportable_class(model) is None


def _why_the_gradient_command_cannot_load(model: nn.Module) -> Optional[Tuple[str, str]]:
    """Why the gradient command could not unpickle the model prepare saves, and the fix that helps, or None: the checks
    of gradient_source "auto". A class or function of the script moves to a module; a lambda or a local function cannot
    be pickled wherever it is defined, so "define it in a module" alone did not help it."""
    in_a_module = "define it in a module on PYTHONPATH, not in the script run as __main__"
    unimportable = _unimportable_class(model)
    if unimportable is not None:
        return unimportable, in_a_module
    refusal = _pickle_refusal(model)
    if refusal is None:
        return None
    if refusal.endswith("is defined in __main__"):
        return f"torch.save cannot write it for the command ({refusal})", in_a_module
    return (f"torch.save cannot write it for the command (it holds a lambda or a local function, which pickle refuses "
            f"wherever it is defined: {refusal})",
            "hold a function defined at the top level of a module on PYTHONPATH instead (or a module such as nn.Identity)")


def _picklable(model: nn.Module) -> bool:
    return _pickle_refusal(model) is None


def _pickle_refusal(model: nn.Module) -> Optional[str]:
    """Why torch.save cannot write the model for the gradient command, or None (a lambda or a local function held by a
    module cannot be pickled: the CLI route failed in gradcmd.prepare, where the Python route runs). Tensors' data is
    left out, as torch.save leaves it out of its pickle, so the check costs no copy of the weights."""
    class _WithoutData(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage" if torch.is_storage(obj) else None

        def reducer_override(self, obj):
            # a class or function of the script pickles by reference to __main__, which in the gradient command is the
            # command itself: a dataclass config or an activation function defined in the script took the CLI route
            # and failed at stage 2 ("Can't get attribute 'Config' on <module 'falcon_torch.gradcmd'>")
            qualname = getattr(obj, "__qualname__", "")
            if isinstance(obj, types.FunctionType) and ("<lambda>" in qualname or "<locals>" in qualname):
                # before the __main__ test: moving a lambda of the script into a module would not make it picklable
                raise pickle.PicklingError(f"{qualname} is a lambda or a local function")
            if isinstance(obj, (type, types.FunctionType)) and getattr(obj, "__module__", None) == "__main__":
                raise pickle.PicklingError(f"{qualname} is defined in __main__")
            return NotImplemented
    try:
        _WithoutData(io.BytesIO(), protocol=2).dump(model)
    except Exception as e:             # pickle raises PicklingError, AttributeError or TypeError, by the object
        return str(e) or type(e).__name__
    return None


def _import_root(name: str) -> str:
    """The folder module `name` imports from under its name: the module file's folder, or for a module in a package
    (pkg.sub.net) the folder holding the top-level package."""
    path = os.path.abspath(sys.modules[name].__file__)
    root = os.path.dirname(path)
    for _ in range(name.count(".") + (os.path.basename(path) == "__init__.py")):
        root = os.path.dirname(root)
    return root


def _import_roots(model: nn.Module) -> List[str]:
    """The folders the model's classes import from: the model class's, then those of its submodules' classes, less the
    interpreter's own library and site folders, which the command has already (put first, they would shadow the
    caller's PYTHONPATH)."""
    paths = sysconfig.get_paths()
    own = {os.path.abspath(p) for p in [*site.getsitepackages(), site.getusersitepackages(), paths["stdlib"],
                                        paths["platstdlib"]]}
    # the model class's own folder too: a torch class at the top (nn.Sequential) put dist-packages first, where Debian's
    # torch shadowed a pip-installed one in the command that recomputes X
    roots = []
    for name in _class_modules(model):
        root = _import_root(name)
        if root not in own and root not in roots:
            roots.append(root)
    return roots


def _falcon_pp_through_cli(model, batches, keep_flops, keep_nnz, typed, margs, stages, n_samples, prunable, lam,
                           schedule, work_dir, cli, extra_args, timeout_arg) -> PruneResult:
    """falcon++ in one CLI run: stage 0's X exported here, later stages' X from the gradient command."""
    from . import gradcmd
    with _work_folder(work_dir) as work_dir:
        d = os.path.join(work_dir, "stage0")
        ex = export(model, batches, prunable=prunable, n_samples=n_samples, out_dir=d)
        session = gradcmd.prepare(model, batches, os.path.join(work_dir, "session"), n_samples=n_samples,
                                  prunable=prunable)
        # The command unpickles the model: its classes' modules and falcon_torch must be importable there.
        paths = [*_import_roots(model), str(Path(__file__).resolve().parents[1])]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        command = ("env PYTHONPATH=" + shlex.quote(os.pathsep.join(paths)) + " " + shlex.join(gradcmd.command(session))
                   + " --weights {weights} --out {grads}")
        out, mask, rep = (os.path.join(work_dir, n) for n in ("pruned.npy", "mask.npy", "report.json"))
        # The CLI's schedule runs from the start level (dense) at its stage 0, this module's from its first pruning
        # stage: one more CLI stage gives the same T pruning stages, and its dense stage 0 costs no gradient command
        # (the CLI reuses X for weights a stage left unchanged).
        # with one pruning stage the command would never run, and the CLI refuses it there; nor does the CLI take a
        # schedule for its two stages (the dense one and the budgets'), which no shape changes
        # const has no dense start: every CLI stage prunes to the budgets, the first on stage 0's X (at the dense
        # weights) as this module's first does, so the CLI runs the T stages asked (one more ran a third solve)
        cli_stages = stages if schedule == "const" else stages + 1
        timeout = ["--grads-command-timeout", timeout_arg] if timeout_arg is not None else []
        # every const stage after the first keeps its weights whatever its X (they meet the same budgets): the CLI runs
        # them on the one X and refuses a gradient command, which could never change them. So it does at budgets of the
        # dense model (keep_flops=1, keep_nnz=1): keep_flops=1.0 failed with exit 2 naming a --grads-command the caller
        # never typed, where the dense model came back before; the command, and so its time limit, never runs there.
        source = ((["--grads-command", command] + timeout)
                  if schedule != "const" and not _budgets_at_the_dense_model(keep_flops, keep_nnz, extra_args) else [])
        # the CLI walks its own schedule down to the target, so the target goes as the caller typed it
        target_flops, target_nnz, extra = _target_budgets_as_typed(keep_flops, keep_nnz, typed, extra_args)
        extra = (["--stages", str(cli_stages)] + (["--schedule", schedule] + source if stages > 1 else []) + extra)
        report = cli.prune(ex.grads_path, ex.weights_path, ex.layers_path, out, rep, mask=mask, keep_flops=target_flops,
                           keep_nnz=target_nnz, method=" ".join(["falcon++"] + list(margs)), lam=lam, extra=extra)
        masks = apply(model, out, ex.layers_path, mask_path=mask)
        flat = np.concatenate([masks[l.name].cpu().numpy().reshape(-1) for l in ex.layers])
        f_sched = stage_schedule(keep_flops, stages, kind=schedule) if keep_flops is not None else [None] * stages
        nnz_budgets = (stage_nnz_budgets(keep_nnz, stages, ex.p, schedule, typed.get("keep_nnz"))
                       if keep_nnz is not None else None)
        return PruneResult(masks=masks, report=report, reports=[report], keep_flops_schedule=f_sched,
                           keep_nnz_schedule=_nnz_schedule(keep_nnz, nnz_budgets, stages, ex.p),
                           dense_flops=ex.dense_flops,
                           kept_flops=kept_flops(ex.layers, flat), kept_nnz=int(flat.sum()), parameters=ex.p)
