"""Locating and running the falcon command line.

The CLI is found, in order: $FALCON_CLI (a command, e.g. "/opt/falcon/falcon" or
"java -jar /path/falcon.jar"), $FALCON_HOME/falcon, `falcon` next to this checkout's python/ folder
(the repo root launcher), then `falcon` on PATH.
"""
from __future__ import annotations

import codecs
import contextlib
import json
import numbers
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np


class Support(NamedTuple):
    """What FalconCLI.supports answers: unpacks as (ok, reason) and is true only when ok."""
    ok: bool
    reason: str

    # a plain (False, reason) tuple is non-empty, so `if cli.supports("falcon"):` took every method as supported
    def __bool__(self) -> bool:
        return bool(self.ok)


class FalconError(RuntimeError):
    """The falcon CLI failed. `returncode`, as the CLI's help says: 2 bad usage or input (or too little memory for the
    run: the message says which memory and what fits), 3 infeasible budgets, 1 an internal error, a falcon++ run stopped
    by its --grads-command (failed, or past --grads-command-timeout: --out holds the last completed stage), the Java
    heap exhausted or stdout/an output not writable (the message's kind says which), 130/143 stopped by SIGINT/SIGTERM;
    negative (subprocess's way): killed by signal -returncode, the message naming it (SIGKILL: most often the kernel's
    out-of-memory killer). `stderr` is the CLI's stderr, `stdout` its stdout. `from_command` is true where they are
    what the command wrote (FalconCLI.run), false where falcon_torch wrote the message itself (prune's refusal of a
    method the CLI does not run, which quotes the CLI's reason within its own line)."""

    def __init__(self, returncode: int, stderr: str, args: Sequence[str], stdout: str = "", *,
                 from_command: bool = False):
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        self.args_list = list(args)
        self.from_command = from_command
        # a negative returncode is no exit code but a signal that ended the process: "exited with -9 (failure):" and
        # nothing after it was all a run the kernel's OOM killer ended said
        head = (f"falcon was killed by {_signal_said(-returncode)}" if returncode < 0
                else f"falcon exited with {returncode} ({_exit_kind(returncode, stderr, from_command)})")
        said = _message_lines(stderr) or "(nothing on stderr)"
        super().__init__(f"{head}: {said}\n  command: {shlex.join(self.args_list)}")

    def __reduce__(self):
        # pickle's default rebuilds an exception as cls(*self.args), here FalconError(message), a TypeError: a CLI
        # failure in a process pool's worker reached the parent as BrokenProcessPool. The message is carried as it
        # is now (prune may have added its work-folder note to it), from_command with the rest of __dict__.
        return type(self), (self.returncode, self.stderr, self.args_list, self.stdout), {**self.__dict__, "args": self.args}

    @property
    def not_started(self) -> bool:
        """Whether this is the ./falcon launcher's own refusal, before the CLI ran (see _not_started)."""
        return self.from_command and _not_started(self.returncode, self.stderr)


# How the CLI begins the lines that say why it failed (Main.handle, its parameter-exception handler, PruneCommand's
# falcon++ stop); its warnings and notes begin otherwise, and a gradient command's lines are marked "  [grads-command ...".
_CLI_ERROR_PREFIXES = ("falcon: error:", "falcon: internal error:", "falcon: out of memory:", "falcon: stopped by ")


def _message_lines(stderr: str, tail: int = 5) -> str:
    """The lines of the CLI's stderr that a FalconError's message shows: each line of the CLI's own error wherever it
    is, and the last `tail` lines, in stderr's order, a gap marked with how many lines it leaves to e.stderr. The last
    lines alone lost the error where more followed it: under --quiet a falcon++ run stopped by its gradient command
    prints the command's last stderr lines (up to 20) after its error, and a Java trace follows an internal error."""
    lines = stderr.strip().splitlines()
    errors = {i for i, line in enumerate(lines) if line.startswith(_CLI_ERROR_PREFIXES)}
    shown = sorted(errors | set(range(max(0, len(lines) - tail), len(lines))))
    out: List[str] = []
    for before, i in zip([None] + shown, shown):
        if before is not None and i > before + 1:
            left = i - before - 1
            out.append(f"  ... ({left} more line{'s' if left > 1 else ''} in e.stderr)")
        out.append(lines[i])
    return "\n".join(out)


def _exit_kind(returncode: int, stderr: str, from_command: bool) -> str:
    """What the CLI's exit code says, in the CLI's words. Exit 1 has several causes, told apart by the CLI's own line:
    "internal error" for all of them pointed the user of a gradient command that failed, or of a timeout they set, at a
    falcon bug. An exit 2 is the launcher's refusal only where `stderr` is what the command wrote (`from_command`): a
    message falcon_torch wrote itself has no "falcon: error:" line of its own, even where it quotes the CLI's refusal
    of a method, and was called the launcher's refusal."""
    lines = stderr.splitlines()
    if returncode == 1:
        if any(l.startswith("falcon: error: falcon++ stopped after stage") for l in lines):
            return "falcon++ stopped early; the outputs hold the last completed stage"
        if any(l.startswith("falcon: internal error:") for l in lines):
            return "internal error"
        if any(l.startswith("falcon: out of memory:") for l in lines):
            return "out of memory"          # the Java heap, which FALCON_HEAP raises; the CLI's line says so
        return "failure"                    # stdout or an output not writable: the CLI's line says which
    if returncode == 2:
        if _out_of_memory(stderr):
            return "out of memory"
        if from_command and _not_started(returncode, stderr):
            # the launcher refuses for several causes (Java, a setting, a jar it cannot build in a clone it cannot
            # write), each in one line of its own that the message shows next: a cause named here was a guess, and
            # "Java or a setting" sent the user of a read-only clone to the wrong place
            return "the CLI did not start; the launcher says why"
        return "bad usage or input"
    if returncode == 128 + signal.SIGKILL:
        # a wrapper given as FALCON_CLI that runs java without exec reports the JVM's SIGKILL as a shell does; falcon
        # itself never exits with 137
        return f"128 + 9, as a shell reports a command killed by {_signal_said(signal.SIGKILL)}"
    return {3: "infeasible budgets", 130: "stopped by SIGINT", 143: "stopped by SIGTERM"}.get(returncode, "failure")


def _signal_said(signum: int) -> str:
    """A signal that ended the CLI, named, with the likely cause and the fix where there is one."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = "an unknown signal"
    if signum == signal.SIGKILL:
        # the JVM cannot catch SIGKILL, so nothing on stderr says what happened; the OOM killer is its usual sender
        # when X is large, and the user can check that and act on it
        return ("SIGKILL (signal 9; most often the kernel's out-of-memory killer, when the machine ran out of memory: "
                "`dmesg` or `journalctl -k` then shows \"Out of memory: Killed process\" naming java; free memory on "
                "this machine or prune with fewer samples (n_samples, the rows of X); else a kill -9 or a job's time "
                "limit ended it)")
    return f"{name} (signal {signum})"


def _not_started(returncode: int, stderr: str) -> bool:
    """Whether an exit 2 is the ./falcon launcher's own refusal (no JDK 17, a JAVA_HOME without bin/java, a FALCON_HEAP
    or FALCON_JAVA_OPTS it cannot use, a jar due for a build in a clone it cannot write), before the CLI ran: every exit 2 of the CLI itself (a refused argument or input,
    too little memory) says why on a "falcon: error:" line, and the launcher's lines name the setting instead. Only for
    the stderr the command wrote: FalconError.not_started checks that it is."""
    return returncode == 2 and not any(l.startswith("falcon: error:") for l in stderr.splitlines())


def _out_of_memory(stderr: str) -> bool:
    """Whether falcon's exit 2 was for memory (its memory plan's refusal or an allocation that failed), not the usage."""
    return any(l.startswith("falcon: error: out of memory") or "the run needs" in l and "is available" in l
               for l in stderr.splitlines())


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the main thread stood so that the `with` blocks and `except BaseException` that
    stop the CLI and remove the work folders run, as they do for Ctrl-C's KeyboardInterrupt. A BaseException, as
    KeyboardInterrupt is: a user's `except Exception` in a loss_fn or a model's forward must not swallow it."""

    def __init__(self, signum: int, frame):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.frame = frame


# the signals that stop a run from outside: kill, timeout, a batch scheduler's or `docker stop`'s SIGTERM, a closed ssh
# session's SIGHUP (SIGINT is Python's KeyboardInterrupt already)
_TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _raise_terminated(signum, frame):
    raise _Terminated(signum, frame)


@contextlib.contextmanager
def stopped_cleanly_by_termination():
    """While the block runs (a prune, a CLI run, a supports probe), SIGTERM and SIGHUP end it as Ctrl-C does: the
    default action killed this process where it stood, leaving the work folder (X, GBs for a real model) in the temp
    folder and the CLI running on as an orphan, writing into it. Afterwards the default handlers are back, and the
    signal kills this process by itself, after the cleanup. A handler of the caller's own is left alone: it was
    installed to decide what the signal does (set a flag and finish the step; sys.exit unwinds the cleanup as this
    does), and the run was aborted under it. Only the main thread can install handlers, and a signal the caller
    ignores (nohup) or handles from C stays as it was, so elsewhere this changes nothing. Nested uses leave it to the
    outermost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults = [signum for signum in _TERMINATION_SIGNALS if signal.getsignal(signum) is signal.SIG_DFL]
    for signum in defaults:
        signal.signal(signum, _raise_terminated)
    try:
        yield
    except _Terminated as e:
        for signum in defaults:
            signal.signal(signum, signal.SIG_DFL)
        # dies of the signal itself, as it would have without this block: a shell or scheduler sees 143 / SIGTERM
        os.kill(os.getpid(), e.signum)
        raise
    finally:
        for signum in defaults:
            signal.signal(signum, signal.SIG_DFL)


def find_cli() -> List[str]:
    return _locate_cli()[0]


def _locate_cli() -> Tuple[List[str], str]:
    """The CLI's command and where it came from, for an error when it cannot be run."""
    env = os.environ.get("FALCON_CLI")
    if env:
        return shlex.split(env), f"FALCON_CLI={env}"
    home = os.environ.get("FALCON_HOME")
    if home:
        return [str(Path(home) / "falcon")], f"FALCON_HOME={home}"
    repo = Path(__file__).resolve().parents[2] / "falcon"
    if repo.is_file():
        return [str(repo)], "this checkout"
    found = shutil.which("falcon")
    if found:
        return [found], "PATH"
    raise FileNotFoundError("falcon CLI not found: set FALCON_HOME to the falcon checkout or FALCON_CLI to the command")


def split_method(method: str) -> Tuple[str, List[str]]:
    """'mp --backsolve' -> ('mp', ['--backsolve'])."""
    parts = shlex.split(method)
    if not parts:
        raise ValueError("empty method")
    return parts[0], parts[1:]


class FalconCLI:
    def __init__(self, command: Optional[List[str]] = None, threads: Optional[int] = None, quiet: bool = True):
        """`threads`: the CLI's --threads for every run, unless the run's method or extra words give their own."""
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1):
            # prune passed a truthy count on and dropped a 0: FalconCLI(threads=0) ran on every processor without a word,
            # where the CLI refuses --threads 0 and the Java API create(0)
            raise ValueError(f"FalconCLI(threads=...): is {threads!r}, it must be a whole number of threads, at least 1 "
                             "(the CLI's --threads); omit it (None) for the CLI's default: every processor, one thread on the java backend")
        self.command, self._source = (command, "FalconCLI(command=...)") if command else _locate_cli()
        self.threads = None if threads is None else int(threads)
        self.quiet = quiet
        self._support: Dict[Tuple[str, Optional[float]], Support] = {}
        self._options: Dict[str, bool] = {}

    @stopped_cleanly_by_termination()
    def run(self, args: Sequence[str], echo: bool = False) -> subprocess.CompletedProcess:
        """Runs the CLI with `args`, its output captured; with `echo`, also passed on to sys.stdout and sys.stderr as
        it comes (progress, the summary, warnings)."""
        cmd = list(self.command) + list(args)
        try:
            proc = _run_echoing(cmd) if echo else _run_quiet(cmd)
        except OSError as e:
            # subprocess names only the program ("No such file or directory: '/opt/x/falcon'"), not the setting it came from
            raise FileNotFoundError(f"cannot run the falcon CLI {cmd[0]} (from {self._source}): {e.strerror}; set "
                                    "FALCON_HOME to the falcon checkout or FALCON_CLI to the command") from e
        if proc.returncode != 0:
            # the message is the end of stderr, where the CLI writes its error: with quiet=False stdout holds the
            # summary, and stderr + stdout made the message its last lines, without the error
            raise FalconError(proc.returncode, proc.stderr, cmd, stdout=proc.stdout, from_command=True)
        return proc

    def prune(self, grads: Optional[str], weights: str, layers: str, out: str, report: str,
              mask: Optional[str] = None, keep_flops: Optional[float] = None, flops: Optional[float] = None,
              keep_nnz: Optional[float] = None, nnz: Optional[int] = None, method: str = "mp",
              lam: Optional[float] = None, extra: Sequence[str] = (), quiet: Optional[bool] = None) -> dict:
        """Runs `falcon prune` and returns the report (dict). Raises FalconError on failure. Unless quiet (default: this
        FalconCLI's), the CLI's progress, summary and warnings are shown as it runs."""
        quiet = self.quiet if quiet is None else quiet
        name, margs = split_method(method)
        args = ["prune", "--weights", weights, "--layers", layers, "--method", name, "--out", out, "--report", report]
        if grads:
            args += ["--grads", grads]
        if mask:
            args += ["--mask", mask]
        if keep_flops is not None:
            args += ["--keep-flops", repr(float(keep_flops))]
        if flops is not None:
            args += ["--flops", repr(float(flops))]
        if keep_nnz is not None:
            args += ["--keep-nnz", repr(float(keep_nnz))]
        if nnz is not None:
            args += ["--nnz", str(int(nnz))]
        if lam is not None:
            args += ["--lambda", repr(float(lam))]
        # this FalconCLI's thread count is the default: a --threads of the call's own words is the more specific, and
        # both together were refused by the CLI as given twice, blamed on the method and the user's count. A run whose
        # words choose the single-threaded java backend gets none: the CLI refuses --threads there and told the user
        # to drop an option they never gave (a --threads of their own words is still passed on, and refused)
        words = [*margs, *extra]
        if self.threads is not None and not asks_for_the_java_backend(words) and not option_words(words, {"--threads"}):
            args += ["--threads", str(self.threads)]
        if quiet:
            args += ["--quiet"]
        args += list(margs) + list(extra)
        self.run(args, echo=not quiet)
        with open(report) as f:
            return json.load(f)

    def has_option(self, option: str, command: str = "prune") -> bool:
        """Whether `falcon COMMAND --help` lists `option` (e.g. "--grads-command")."""
        key = f"{command} {option}"
        if key not in self._options:
            try:
                text = self.run([command, "--help"]).stdout
            except FalconError as e:
                # a CLI that did not start has no options to list: "no" would be cached as this CLI's answer
                if e.not_started:
                    raise
                text = ""
            self._options[key] = option in text
        return self._options[key]

    @stopped_cleanly_by_termination()
    def supports(self, method: str, lam: Optional[float] = None, extra: Sequence[str] = ()) -> Support:
        """Whether this CLI runs `method` (e.g. "falcon", "mp --backsolve"), with `lam` if given, by a tiny probe run.
        `extra` is the run's other words (prune's extra_args): its execution options (--device/--backend, --threads)
        go into the probe too, so a device that cannot run here is refused before the run's export.
        Returns Support(True, "") or Support(False, the CLI's reason), true only in the first case. Raises FalconError
        where the probe says nothing of the method: the CLI did not start (the launcher's refusal: no JDK 17, a bad
        JAVA_HOME or FALCON_HEAP), it failed (exit 1), or memory ran short.

        The probe's problem is made up (12 weights), so it checks only what does not depend on the run's problem: the
        method's name and flags, with `lam` (a flag may need --lambda). The method's flags that read the run's files
        or set its budgets are left out of the probe, and a refusal that the probe's own problem caused (one naming
        the probe's files, an infeasible budget on its 12 weights) or a missing --lambda without `lam` is
        Support(True, "not checked: " + the CLI's reason): the run itself checks those, where the probe refused runs
        the CLI accepts."""
        execution = execution_options(extra)
        key = (method, None if lam is None else float(lam), tuple(execution))
        if key in self._support:
            return self._support[key]
        name, words = split_method(method)
        probe_method = shlex.join([name, *_without_problem_flags(words)])
        with tempfile.TemporaryDirectory(prefix="falcon-probe-") as d:
            rng = np.random.default_rng(0)
            np.save(f"{d}/w.npy", rng.standard_normal(12).astype(np.float32))
            np.save(f"{d}/X.npy", rng.standard_normal((4, 12)).astype(np.float32))
            with open(f"{d}/layers.json", "w") as f:
                json.dump({"layers": [{"name": "a", "shape": [4], "flops_per_weight": 4},
                                      {"name": "b", "shape": [8], "flops_per_weight": 1}]}, f)
            try:
                self.prune(f"{d}/X.npy", f"{d}/w.npy", f"{d}/layers.json", f"{d}/o.npy", f"{d}/r.json",
                           keep_flops=0.5, method=probe_method, lam=lam, extra=execution, quiet=True)
                result = Support(True, "")
            except FalconError as e:
                # an exit 2 for memory (the probe's JVM capped, a machine out of memory) says nothing of the method,
                # and neither does the launcher's (a bad JAVA_HOME, no JDK 17): taken for the CLI's answer, a broken
                # Java setup made every method "not run by this CLI", and mnist_table.py wrote its tables with all
                # of them skipped
                if e.returncode not in (2, 3) or _out_of_memory(e.stderr) or e.not_started:
                    raise
                lines = [l for l in e.stderr.strip().splitlines() if l.strip()]
                reason = lines[0] if lines else f"exit code {e.returncode}"
                # the probe's files are named in the message (a --linear-term of the run's p against the probe's 12
                # weights), or its budgets cannot be met: the probe's problem, not the method, was refused; and a flag
                # that needs --lambda (--lambda-convention) is the run's to judge when no lam is given here, as the
                # run may have --lambda among prune's extra_args
                if e.returncode == 3 or d in e.stderr or (lam is None and "--lambda is not given" in e.stderr):
                    result = Support(True, "not checked: " + reason.replace(d, "<probe>"))
                else:
                    result = Support(False, reason)
        self._support[key] = result
        return result


# The budget options of `falcon prune`, each with prune()'s keyword for the same budget.
BUDGET_FLAGS = {"--keep-flops": "keep_flops", "--flops": "keep_flops", "--keep-nnz": "keep_nnz", "--nnz": "keep_nnz",
                "--sparsity": "keep_nnz"}

# The flags of `falcon prune` whose values are the run's problem: files read against its weights and its budgets (and
# --flops FILE, the per-weight costs). A probe on its own made-up problem cannot check them (--linear-term of the run's p
# against the probe's 12 weights, --nnz 5000 beyond its 12), so supports() leaves them out; the run itself checks them.
_PROBLEM_FLAGS = frozenset({"--flops-per-weight", "--linear-term", *BUDGET_FLAGS})


# The options of `falcon prune` that choose where and how it runs (its "execution" options): they do not depend on the run's
# problem, so the probe checks them; --device cuda on a machine without a usable GPU was refused only after the export.
_EXECUTION_FLAGS = frozenset({"--device", "--backend", "--threads"})


def option_words(words: Sequence[str], flags) -> List[Tuple[int, int, str, Optional[str]]]:
    """The options of `flags` among `words` (a method's flags, extra_args), given as "--flag value" or "--flag=value":
    (the flag's index, the number of words it takes, the flag, its value or None where the words end). One reading for
    every scan of the words: four of them, each its own, disagreed on a value that looks like a flag."""
    words, found, i = list(words), [], 0
    while i < len(words):
        flag, has_value, value = words[i].partition("=")
        if flag not in flags:
            i += 1
            continue
        if not has_value:
            value = words[i + 1] if i + 1 < len(words) else None
        span = 1 if has_value or value is None else 2
        found.append((i, span, flag, value))
        i += span
    return found


# The variables the JVM that runs the CLI takes options from, in the order it reads them, so that a later -D overrides an
# earlier one: JAVA_TOOL_OPTIONS (the JVM itself), JDK_JAVA_OPTIONS (the java launcher, before the command line) and
# FALCON_JAVA_OPTS (which ./falcon puts on the command line, after its own options).
_JVM_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "FALCON_JAVA_OPTS")
_BACKEND_PROPERTY = "-Dfalcon.backend="


def asks_for_the_java_backend(words: Sequence[str], environ=None) -> bool:
    """Whether a run with these words (a method's flags, extra_args) asks for the java backend, by PruneCommand's rule:
    its --device or --backend, else the system property falcon.backend the JVM is given (-Dfalcon.backend=java in
    FALCON_JAVA_OPTS, JDK_JAVA_OPTIONS or JAVA_TOOL_OPTIONS, the last one read winning), any case. The CLI refuses
    --threads on such a run; on auto's choice of java it only warns. Reading the words alone, a FalconCLI(threads=N)
    under FALCON_JAVA_OPTS=-Dfalcon.backend=java passed its --threads and the CLI told the user to drop it."""
    chosen = [value for _, _, _, value in option_words(words, {"--device", "--backend"})]
    if not chosen:
        environ = os.environ if environ is None else environ
        for variable in _JVM_OPTION_VARIABLES:
            text = environ.get(variable, "")
            try:
                options = shlex.split(text)
            except ValueError:      # an unbalanced quote: the launcher refuses FALCON_JAVA_OPTS, the JVM splits on blanks
                options = text.split()
            chosen += [o[len(_BACKEND_PROPERTY):] for o in options if o.startswith(_BACKEND_PROPERTY)]
        chosen = chosen[-1:]
    return any(value is not None and value.lower() == "java" for value in chosen)


def execution_options(words: Sequence[str]) -> List[str]:
    """The words of _EXECUTION_FLAGS among `words`, with their values ("--device cuda" or "--device=cuda")."""
    words = list(words)
    return [word for i, span, _, _ in option_words(words, _EXECUTION_FLAGS) for word in words[i:i + span]]


def _without_problem_flags(words: Sequence[str]) -> List[str]:
    """The method's flags less those of _PROBLEM_FLAGS and their values ("--nnz 5000" or "--nnz=5000")."""
    words = list(words)
    left_out = {j for i, span, _, _ in option_words(words, _PROBLEM_FLAGS) for j in range(i, i + span)}
    return [word for j, word in enumerate(words) if j not in left_out]


# How long a CLI told to stop (SIGTERM) may take before it is killed: falcon ends within 3 s of the signal, and gives a
# running --grads-command 5 s before it kills it; SIGKILL at once would leave that command running on without falcon.
_STOP_GRACE_S = 10.0


def _stop(proc: subprocess.Popen) -> None:
    """Ends the CLI when this process stops waiting for it (Ctrl-C, a kernel interrupt, any exception): SIGTERM, which
    falcon answers by stopping its gradient command, removing its temporary files and writing no output, then SIGKILL
    if it is still running after _STOP_GRACE_S; it is waited for, so no orphan reads or writes the caller's files after
    this returns (prune removes its work folder next)."""
    try:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            proc.wait(timeout=_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # also reached by a second interrupt during the wait above; and whatever of the CLI's group outlived it (a
        # launcher's java started without exec, a gradient command) is killed with it
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    """`signum` to the CLI's process group where it has one of its own (_popen_in_own_group): the CLI alone missed a
    java the launcher or a FALCON_CLI wrapper started without exec, which ran on as an orphan. In the caller's group,
    the CLI alone."""
    if not getattr(proc, "falcon_own_group", False):
        proc.send_signal(signum)   # nothing once it has been waited for: its pid may be another's by then
        return
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass                    # the group has ended (a PermissionError where its id was taken by another's group)


def _popen_in_own_group(cmd: List[str], **kwargs) -> subprocess.Popen:
    """The CLI started from the main thread runs in a session of its own, which _stop ends whole; it also keeps a
    terminal's Ctrl-C from reaching the CLI before this process has a say: the KeyboardInterrupt stops it with _stop, as
    it does in Jupyter. From another thread it stays in the caller's session: no handler can be installed there to stop
    it when a closed terminal's SIGHUP ends the caller, so it gets that SIGHUP (and Ctrl-C's SIGINT) with its caller;
    in a session of its own it ran on as an orphan, writing into the work folder."""
    own = threading.current_thread() is threading.main_thread()
    proc = subprocess.Popen(cmd, start_new_session=own, **kwargs)
    proc.falcon_own_group = own
    return proc


def _run_quiet(cmd: List[str]) -> subprocess.CompletedProcess:
    """subprocess.run with both streams captured, except that an exception while waiting stops the CLI with _stop
    (subprocess.run's SIGKILL leaves falcon's --grads-command running)."""
    with _popen_in_own_group(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            _stop(proc)
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _run_echoing(cmd: List[str]) -> subprocess.CompletedProcess:
    """subprocess.run with both streams captured and copied to this process's as they come: FalconCLI(quiet=False)
    showed nothing, since the captured output was thrown away unless the run failed. An exception while waiting
    (Ctrl-C, a kernel interrupt) stops the CLI with _stop, as _run_quiet does: it left the JVM running as an orphan."""
    proc = _popen_in_own_group(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    captured = {}

    def pump(name, stream, target):
        # raw chunks, not lines: a progress line ends in '\r' and would otherwise wait for the next '\n'
        chunks = []
        text = codecs.getincrementaldecoder("utf-8")("replace")  # a character may be cut between two chunks
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            chunks.append(chunk)
            target.write(text.decode(chunk))
            target.flush()
        target.write(text.decode(b"", final=True))
        captured[name] = b"".join(chunks).decode("utf-8", "replace")

    pumps = [threading.Thread(target=pump, args=("stdout", proc.stdout, sys.stdout), daemon=True),
             threading.Thread(target=pump, args=("stderr", proc.stderr, sys.stderr), daemon=True)]
    try:
        for t in pumps:
            t.start()
        for t in pumps:
            t.join()
        returncode = proc.wait()
    except BaseException:
        _stop(proc)
        # the pumps end at the pipes' end, which the ended CLI closed; a pipe still held open by a process the CLI
        # left behind is not closed under its pump, which would go on reading a closed (perhaps reused) descriptor
        for t in pumps:
            t.join(timeout=1.0)
        for t, stream in zip(pumps, (proc.stdout, proc.stderr)):
            if not t.is_alive():
                stream.close()
        raise
    proc.stdout.close()
    proc.stderr.close()
    return subprocess.CompletedProcess(cmd, returncode, captured["stdout"], captured["stderr"])
