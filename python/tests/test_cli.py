"""FalconCLI's handling of the CLI process and of its failures, with stand-in commands (no JVM needed)."""
import os
import re
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path

from _util import needs_torch, HAVE_TORCH

if HAVE_TORCH:
    import falcon_torch as ft


def _running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, ended and not yet waited for, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@needs_torch
class _ChildProcessTest(unittest.TestCase):
    """A temporary folder self.d, and self.pids: the children a test started, killed at its end where still running (a
    failing run's child, or one a caller left running), so that none outlives the test."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.pids = []

    def tearDown(self):
        for pid in self.pids:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        self.tmp.cleanup()


class InterruptTest(_ChildProcessTest):
    """An exception while FalconCLI waits for the CLI (Ctrl-C, Jupyter's "interrupt kernel") ends the CLI."""

    def _interrupted_run(self, echo: bool):
        """Runs a stand-in CLI that writes its pid and sleeps, sends SIGINT to this process's main thread once it runs (as
        Jupyter's interrupt does: the child gets no signal of its own), and returns the child's pid and whether it got
        SIGTERM."""
        pid_file, term_file = os.path.join(self.d, "pid"), os.path.join(self.d, "term")
        script = textwrap.dedent(f"""
            import os, signal, sys, time
            def on_term(signum, frame):
                open({term_file!r}, "w").close()
                sys.exit(143)
            signal.signal(signal.SIGTERM, on_term)
            with open({pid_file!r} + ".part", "w") as f:
                f.write(str(os.getpid()))
            os.replace({pid_file!r} + ".part", {pid_file!r})
            print("stage 0 ...", flush=True)
            time.sleep(30)
        """)
        cli = ft.FalconCLI(command=[sys.executable, "-c", script])

        def interrupt_once_started():
            deadline = time.monotonic() + 20
            while not os.path.exists(pid_file) and time.monotonic() < deadline:
                time.sleep(0.02)
            # a real signal, which wakes the main thread's wait (_thread.interrupt_main only sets a flag)
            signal.pthread_kill(main, signal.SIGINT)
        main = threading.main_thread().ident
        threading.Thread(target=interrupt_once_started, daemon=True).start()
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(KeyboardInterrupt):
                cli.run([], echo=echo)
        with open(pid_file) as f:
            pid = int(f.read())
        self.pids.append(pid)
        return pid, os.path.exists(term_file)

    def test_an_interrupted_run_that_shows_its_output_ends_the_cli(self):
        # FalconCLI(quiet=False) left the CLI running as an orphan, reading and writing prune's work folder
        pid, got_term = self._interrupted_run(echo=True)
        self.assertFalse(_running(pid), "the CLI still runs after the interrupt")
        self.assertTrue(got_term, "the CLI is told to stop with SIGTERM, on which falcon stops its gradient command")

    def test_an_interrupted_quiet_run_ends_the_cli_with_sigterm(self):
        # subprocess.run killed the CLI with SIGKILL, which leaves falcon's --grads-command running on
        pid, got_term = self._interrupted_run(echo=False)
        self.assertFalse(_running(pid), "the CLI still runs after the interrupt")
        self.assertTrue(got_term, "the CLI is told to stop with SIGTERM, on which falcon stops its gradient command")


@needs_torch
class TerminationTest(_ChildProcessTest):
    """SIGTERM (kill, timeout, a batch scheduler's stop) or SIGHUP (a closed ssh session) during prune() is handled as
    Ctrl-C is: the CLI and its process group stopped, the work folder removed, then the process dies of the signal."""

    # a stand-in CLI: answers the supports probe at once (its report), and in the run itself writes its pid and sleeps
    STAND_IN = textwrap.dedent("""
        import json, os, sys, time
        args = sys.argv[1:]
        report = args[args.index("--report") + 1]
        if os.path.basename(os.path.dirname(report)).startswith("falcon-probe-") and not os.environ.get("SLEEP_IN_PROBE"):
            open(report, "w").write("{}")
            sys.exit(0)
        with open(os.environ["PID_FILE"] + ".part", "w") as f:
            f.write(str(os.getpid()))
        os.replace(os.environ["PID_FILE"] + ".part", os.environ["PID_FILE"])
        time.sleep(60)
    """)

    # the caller: prune on a tiny model, with the stand-in as its CLI; HANDLER installs a handler of the caller's own
    CALLER = textwrap.dedent("""
        import os, signal, sys, torch
        from torch import nn
        import falcon_torch as ft
        if os.environ.get("HANDLER"):
            def own(signum, frame):
                print("own handler", signum, flush=True)
                sys.exit(7)
            signal.signal(signal.SIGTERM, own)
        cli = ft.FalconCLI(command=[sys.executable, "-c", os.environ["STAND_IN"]])
        torch.manual_seed(0)
        ft.prune(nn.Sequential(nn.Linear(4, 3)), [(torch.randn(8, 4), torch.randint(0, 3, (8,)))], n_samples=8,
                 method="mp", cli=cli)
    """)

    def setUp(self):
        super().setUp()
        self.temp = os.path.join(self.d, "temp")          # the caller's TMPDIR: prune's work folder and the probe's
        os.mkdir(self.temp)

    def _stopped_caller(self, signum: int, **env):
        import subprocess
        pid_file = os.path.join(self.d, "pid")
        python_dir = str(Path(__file__).resolve().parents[1])
        caller = subprocess.Popen([sys.executable, "-c", self.CALLER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env={**os.environ, "TMPDIR": self.temp, "PID_FILE": pid_file,
                                                  "STAND_IN": self.STAND_IN, "PYTHONPATH": python_dir,
                                                  "PYTHONDONTWRITEBYTECODE": "1", **env})
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(pid_file) and caller.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(pid_file), "the stand-in CLI never started: " + caller.stderr.read()
                            if caller.poll() is not None else "the stand-in CLI never started")
            with open(pid_file) as f:
                child = int(f.read())
            self.pids.append(child)
            caller.send_signal(signum)
            stdout, stderr = caller.communicate(timeout=30)
        finally:
            if caller.poll() is None:
                caller.kill()
                caller.wait()
        return caller.returncode, child, stdout, stderr

    def test_sigterm_during_the_cli_run_stops_the_cli_removes_the_work_folder_and_dies_of_it(self):
        # the caller died at once, its CLI re-parented to init ran on into the abandoned falcon-torch-* folder
        rc, child, _, stderr = self._stopped_caller(signal.SIGTERM)
        self.assertFalse(_running(child), "the CLI still runs after its caller got SIGTERM")
        self.assertEqual([], os.listdir(self.temp), "prune's work folder is left behind")
        self.assertEqual(-signal.SIGTERM, rc, stderr)

    def test_sighup_during_the_probe_stops_it_and_removes_its_folder(self):
        rc, child, _, stderr = self._stopped_caller(signal.SIGHUP, SLEEP_IN_PROBE="1")
        self.assertFalse(_running(child), "the probe's CLI still runs after its caller got SIGHUP")
        self.assertEqual([], os.listdir(self.temp), "the probe's folder is left behind")
        self.assertEqual(-signal.SIGHUP, rc, stderr)

    def test_the_callers_own_handler_gets_the_signal_after_the_cleanup(self):
        rc, child, stdout, stderr = self._stopped_caller(signal.SIGTERM, HANDLER="1")
        self.assertFalse(_running(child), "the CLI still runs after its caller got SIGTERM")
        self.assertEqual([], os.listdir(self.temp), "prune's work folder is left behind")
        self.assertEqual((7, f"own handler {int(signal.SIGTERM)}\n"), (rc, stdout), stderr)

    def test_a_callers_own_handler_that_returns_lets_the_run_finish(self):
        # a handler that sets a flag to stop after the current step was called, then the run was aborted under it with
        # falcon_torch.cli._Terminated, a private BaseException that no `except Exception` catches
        import threading
        got = []
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
        self.addCleanup(signal.signal, signal.SIGTERM, previous)
        cli = ft.FalconCLI(command=[sys.executable, "-c", "import sys, time; time.sleep(2); print('finished')"])
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        self.addCleanup(timer.cancel)
        self.assertEqual("finished\n", cli.run(["a"]).stdout)
        self.assertEqual([signal.SIGTERM], got)

    def test_outside_the_main_thread_the_cli_stays_in_its_callers_process_group(self):
        # no handler can be installed there, so a closed terminal's SIGHUP ends the caller alone; in a session of its
        # own the CLI ran on as an orphan, writing into the work folder
        import threading
        cli = ft.FalconCLI(command=[sys.executable, "-c", "import os; print(os.getpgrp())"])
        for quiet in (True, False):
            with self.subTest(quiet=quiet):
                cli.quiet = quiet
                groups = []
                worker = threading.Thread(target=lambda: groups.append(int(cli.run(["a"], echo=not quiet).stdout)))
                worker.start()
                worker.join()
                self.assertEqual([os.getpgrp()], groups, "the CLI started from a worker thread left its caller's group")
                self.assertNotEqual(os.getpgrp(), int(cli.run(["a"], echo=not quiet).stdout),
                                    "from the main thread the CLI runs in a group of its own, which _stop ends whole")

    def test_prune_leaves_the_signal_handlers_as_it_found_them(self):
        import torch
        from torch import nn
        cli = ft.FalconCLI(command=[sys.executable, "-c", "import sys; sys.stderr.write('falcon: error: --method: "
                                                          "value: unknown method\\n'); sys.exit(2)"])
        before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)]
        with self.assertRaises(ft.FalconError):
            ft.prune(nn.Sequential(nn.Linear(4, 3)), [(torch.randn(8, 4), torch.randint(0, 3, (8,)))], n_samples=8,
                     method="mp", cli=cli)
        self.assertEqual(before, [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)])


@needs_torch
class FalconErrorTest(unittest.TestCase):
    def test_the_message_of_a_run_that_shows_its_output_ends_with_the_clis_error(self):
        # with quiet=False the summary is on stdout; stderr + stdout made the message the summary's last 5 lines
        summary = "".join(f"  stage {t}: kept {t}\n" for t in range(8)) + "  wrote out.npy, report.json\n"
        script = (f"import sys; sys.stdout.write({summary!r}); "
                  "sys.stderr.write('falcon: error: falcon++ stopped after stage 1 of 0..2: gradients failed\\n"
                  "falcon: out.npy holds the weights of stage 1 (the last completed stage)\\n'); sys.exit(1)")
        for quiet in (False, True):
            error, message = self._failure(script, quiet)
            self.assertIn("falcon: error: falcon++ stopped after stage 1", message, f"quiet={quiet}")
            self.assertIn("out.npy holds the weights of stage 1", message, f"quiet={quiet}")
            self.assertNotIn("stage 7: kept", message, f"quiet={quiet}")
            self.assertNotIn("stage 7: kept", error.stderr, f"quiet={quiet}: e.stderr is the CLI's stderr")
            self.assertIn("stage 7: kept", error.stdout, f"quiet={quiet}: its stdout is kept apart")

    def _failure(self, script, quiet):
        """The FalconError of a stand-in CLI running `script`, and its message without the command line."""
        import contextlib
        import io
        cli = ft.FalconCLI(command=[sys.executable, "-c", script], quiet=quiet)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(ft.FalconError) as cm:
                cli.run([], echo=not quiet)
        return cm.exception, str(cm.exception).split("\n  command: ")[0]

    def test_the_message_keeps_the_clis_error_line_whatever_follows_it(self):
        # under --quiet the CLI follows its error with the gradient command's last stderr lines (up to 20): the message's
        # last 5 lines were that command's output, and the CLI's "falcon++ stopped after stage 1" line was lost
        command_lines = "".join(f"  [grads-command stage 2] Traceback line {i}\n" for i in range(1, 21))
        stopped = ("falcon: error: falcon++ stopped after stage 1 of 0..2: gradients of stage 2 (--grads-command at the "
                   "weights of stage 1) failed: --grads-command exited with status 1 at stage 2; its stderr ends with:\n"
                   + command_lines + "falcon: out.npy holds the weights of stage 1 (the last completed stage)\n")
        trace = "".join(f"\tat dev.falcon.X.m{i}(X.java:{i})\n" for i in range(30))
        internal = ("falcon: warning: a warning before\nfalcon: internal error: java.lang.IllegalStateException: broken\n"
                    + trace + "\nPlease report this with the command line and `falcon env` output.\n")
        for stderr, errors, tail in ((stopped, ["falcon: error: falcon++ stopped after stage 1 of 0..2: gradients of stage 2"],
                                      ["Traceback line 20", "out.npy holds the weights of stage 1"]),
                                     (internal, ["falcon: internal error: java.lang.IllegalStateException: broken"],
                                      ["X.m29", "Please report this"])):
            script = f"import sys; sys.stderr.write({stderr!r}); sys.exit(1)"
            for quiet in (True, False):
                error, message = self._failure(script, quiet)
                for wanted in errors + tail:
                    self.assertIn(wanted, message, f"quiet={quiet}")
                # the rest stays in e.stderr, the message saying how much it leaves out
                self.assertNotIn("Traceback line 3\n", message, f"quiet={quiet}")
                self.assertNotIn("X.m3(", message, f"quiet={quiet}")
                self.assertRegex(message, r"\.\.\. \(\d+ more lines? in e\.stderr\)", f"quiet={quiet}")
                self.assertEqual(stderr, error.stderr)
        # a message of few lines is the whole stderr, as before
        e = ft.FalconError(2, "falcon: error: --keep-flops: value: is 2, outside the valid range\nsee `falcon prune --help`\n", ["falcon"])
        self.assertIn("(bad usage or input): falcon: error: --keep-flops: value: is 2, outside the valid range\n"
                      "see `falcon prune --help`\n  command: falcon", str(e))

    def test_a_falcon_error_survives_pickling_as_a_process_pool_does_it(self):
        # FalconError(message) was how pickle rebuilt it: a TypeError, and a CLI failure in a ProcessPoolExecutor's
        # worker reached the parent as BrokenProcessPool
        import pickle
        e = ft.FalconError(2, "falcon: error: --keep-flops: value: is 2, outside the valid range\n",
                           ["falcon", "prune", "--keep-flops", "2.0"], stdout="summary\n")
        e.args = (e.args[0] + "\n  (prune's work folder /tmp/x is kept)",)      # as prune's _work_folder adds it
        back = pickle.loads(pickle.dumps(e))
        self.assertIs(type(back), ft.FalconError)
        self.assertEqual((back.returncode, back.stderr, back.args_list, back.stdout),
                         (e.returncode, e.stderr, e.args_list, e.stdout))
        self.assertEqual(str(back), str(e))
        self.assertIn("outside the valid range", str(back))
        self.assertIn("work folder /tmp/x is kept", str(back))

    def test_exit_1_is_called_what_the_cli_says_it_is(self):
        # every exit 1 was "internal error", also the documented one of a falcon++ run whose gradient command failed or
        # ran past the timeout the user set
        stopped = ("falcon: error: falcon++ stopped after stage 1 of 0..2: gradients of stage 2 (--grads-command at the "
                   "weights of stage 1) failed: --grads-command 'sh -c exit' did not exit within 1 s at stage 2\n"
                   "falcon: out.npy holds the weights of stage 1 (the last completed stage); r.json says so\n")
        cases = [
            (1, stopped, "falcon++ stopped early; the outputs hold the last completed stage"),
            (1, "falcon: internal error: java.lang.NullPointerException\n\tat dev.falcon.X\n", "internal error"),
            (1, "falcon: out of memory: Java heap space; raise the Java heap with FALCON_HEAP=8g\n", "out of memory"),
            (1, "falcon: error: stdout could not be written (a full disk, ...)\n", "failure"),
            (2, "falcon: error: --keep-flops: value: is 2\n", "bad usage or input"),
            (2, "falcon: error: out of memory: the run needs 9 GB\n", "out of memory"),
            (3, "falcon: error: the FLOP budget ...\n", "infeasible budgets"),
            (130, "falcon: stopped by SIGINT while pruning (falcon); no output written\n", "stopped by SIGINT"),
            (143, "falcon: stopped by SIGTERM while pruning (falcon); no output written\n", "stopped by SIGTERM"),
        ]
        for code, stderr, kind in cases:
            message = str(ft.FalconError(code, stderr, ["falcon", "prune"]))
            self.assertTrue(message.startswith(f"falcon exited with {code} ({kind}): "), message)
        self.assertNotIn("internal", str(ft.FalconError(1, stopped, ["falcon", "prune"])))

    def test_a_cli_killed_by_a_signal_is_said_to_be_killed_by_that_signal_with_what_it_wrote(self):
        # subprocess gives a process killed by signal N returncode -N: a JVM the kernel's OOM killer ended (SIGKILL, which
        # leaves nothing on stderr) was "falcon exited with -9 (failure): " with nothing after the colon
        for sig, said, stderr in ((signal.SIGKILL, "most often the kernel's out-of-memory killer", ""),
                                  (signal.SIGKILL, "most often the kernel's out-of-memory killer", "falcon: pruning ...\n"),
                                  (signal.SIGSEGV, "", "falcon: the JVM stopped on a fatal error (its log: /tmp/c.log)\n")):
            script = f"import os, sys; sys.stderr.write({stderr!r}); sys.stderr.flush(); os.kill(os.getpid(), {int(sig)})"
            error, message = self._failure(script, quiet=True)
            self.assertEqual(error.returncode, -sig)
            self.assertTrue(message.startswith(f"falcon was killed by {sig.name} (signal {int(sig)}"), message)
            self.assertNotIn("exited with", message)
            self.assertIn(said, message)
            self.assertTrue(message.endswith(": " + (stderr.strip() or "(nothing on stderr)")), message)
        self.assertIn("`dmesg` or `journalctl -k`", str(ft.FalconError(-9, "", ["falcon"])))
        self.assertIn("fewer samples (n_samples", str(ft.FalconError(-9, "", ["falcon"])))
        # a wrapper (FALCON_CLI) that runs java without exec reports the JVM's SIGKILL as a shell does, 128 + 9
        wrapped = str(ft.FalconError(137, "", ["falcon"]))
        self.assertTrue(wrapped.startswith("falcon exited with 137 (128 + 9, as a shell reports a command killed by "
                                           "SIGKILL (signal 9; most often the kernel's out-of-memory killer"), wrapped)


@needs_torch
class SupportsTest(unittest.TestCase):
    """FalconCLI.supports tells a CLI that refuses the method from one that did not start."""

    # the ./falcon launcher's own refusal, before any JVM runs: exit 2, its line naming the setting
    LAUNCHER_REFUSAL = ("falcon: JAVA_HOME is '/nonexistent', which has no bin/java; set JAVA_HOME to a JDK 17 or newer "
                        "(Debian: ...), or unset it to run the java on PATH")

    def _stand_in(self, stderr: str, code: int):
        return ft.FalconCLI(command=[sys.executable, "-c", f"import sys; sys.stderr.write({stderr + chr(10)!r}); "
                                                          f"sys.exit({code})"])

    def _recording_stand_in(self, threads=None):
        """A FalconCLI of a stand-in that answers the probe runs (falcon-probe-*) as a CLI running the method, refuses a
        --threads given twice as the CLI does, and records the arguments of the prune run in args_file, then fails it
        as an internal error. Returns (cli, args_file)."""
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        args_file = os.path.join(d, "args.json")
        stand_in = textwrap.dedent(f"""
            import json, os, sys
            args = sys.argv[1:]
            if sum(a.split("=")[0] == "--threads" for a in args) > 1:
                sys.stderr.write("falcon: error: option '--threads' (N) should be specified only once\\n")
                sys.exit(2)
            report = args[args.index("--report") + 1]
            if os.path.basename(os.path.dirname(report)).startswith("falcon-probe-"):
                open(report, "w").write("{{}}")
                sys.exit(0)
            json.dump(args, open({args_file!r}, "w"))
            sys.stderr.write("falcon: internal error: a stand-in\\n")
            sys.exit(1)
        """)
        return ft.FalconCLI(command=[sys.executable, "-c", stand_in], threads=threads), args_file

    def test_a_launcher_that_cannot_start_the_cli_raises_instead_of_calling_every_method_unsupported(self):
        # every exit 2 of the probe was taken for the CLI refusing the method: a bad JAVA_HOME made supports("mp") a
        # Support(False, "falcon: JAVA_HOME is ..."), cached, and mnist_table.py wrote its tables with every method skipped
        cli = self._stand_in(self.LAUNCHER_REFUSAL, 2)
        for method in ("mp", "falcon"):
            with self.assertRaises(ft.FalconError) as cm:
                cli.supports(method)
            message = str(cm.exception)
            self.assertTrue(message.startswith("falcon exited with 2 (the CLI did not start; the launcher says why): "
                                               + self.LAUNCHER_REFUSAL), message)
            self.assertNotIn("bad usage", message)
        self.assertEqual({}, cli._support, "a launcher's refusal is not cached as the methods' answer")
        with self.assertRaisesRegex(ft.FalconError, "did not start"):
            cli.has_option("--grads-command")
        self.assertEqual({}, cli._options)
        # the CLI's own refusal of a method (its "falcon: error:" line) is still the answer, without raising
        refused = self._stand_in("falcon: error: --method: value: unknown method 'x'; choose one of magnitude, mp", 2)
        self.assertEqual(refused.supports("x"), (False, "falcon: error: --method: value: unknown method 'x'; choose one "
                                                        "of magnitude, mp"))

    def test_a_launcher_that_cannot_build_the_jar_is_told_by_its_own_line_not_a_guessed_cause(self):
        # an unbuilt clone that cannot be written (a read-only mount, another user's clone): the launcher's exit 2 was
        # summed up as "the launcher refused Java or a setting", neither of which was the cause
        refusal = ("falcon: /clone/java/cli/target/falcon.jar is not built, and /clone/java/cli/target cannot be written, so "
                   "it cannot be built here: build it in a clone that can be written (./falcon there, or mvn -B -DskipTests "
                   "package -pl java/cli -am)")
        with self.assertRaises(ft.FalconError) as cm:
            self._stand_in(refusal, 2).run(["env"])
        message = str(cm.exception)
        self.assertTrue(message.startswith("falcon exited with 2 (the CLI did not start; the launcher says why): " + refusal),
                        message)
        self.assertNotIn("Java or a setting", message)
        self.assertTrue(cm.exception.not_started)

    def test_prunes_refusal_of_a_method_the_cli_does_not_run_is_bad_usage_with_the_clis_reason(self):
        # prune builds this FalconError itself, the CLI's "falcon: error:" line inside its own: the launcher-refusal
        # check read it as the launcher's output and called it "the CLI did not start: the launcher refused Java or a
        # setting", pointing at JAVA_HOME and FALCON_HEAP where the method string was the problem
        import torch
        from torch import nn
        reason = ("falcon: error: --rounds: option: only applies to --method falcon and falcon++; drop it, or use "
                  "--method falcon")
        cli = self._stand_in(reason, 2)
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        with self.assertRaises(ft.FalconError) as cm:
            ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=0.5, method="mp --rounds 3", lam=1e-3, cli=cli)
        message = str(cm.exception)
        self.assertTrue(message.startswith("falcon exited with 2 (bad usage or input): the falcon CLI cannot run method "
                                           "'mp --rounds 3' with lam=0.001: " + reason), message)
        self.assertNotIn("did not start", message)
        self.assertFalse(cm.exception.not_started)
        # the same launcher refusal as the command's own stderr is still told apart, through pickling too
        import pickle
        refused = ft.FalconError(2, self.LAUNCHER_REFUSAL, ["falcon"], from_command=True)
        self.assertTrue(pickle.loads(pickle.dumps(refused)).not_started)
        self.assertFalse(ft.FalconError(2, self.LAUNCHER_REFUSAL, ["falcon"]).not_started)

    def test_a_budget_among_the_methods_words_or_extra_args_is_refused_before_the_cli_runs_naming_the_keyword(self):
        # "mp --keep-flops 0.5" with keep_flops=0.3 reached the CLI as --keep-flops twice, after the whole export:
        # "option '--keep-flops' (FRACTION) should be specified only once"; the probe leaves budgets out, so missed it
        import torch
        from torch import nn
        ran = os.path.join(tempfile.mkdtemp(), "ran")
        self.addCleanup(shutil.rmtree, os.path.dirname(ran))
        cli = ft.FalconCLI(command=[sys.executable, "-c", f"open({ran!r}, 'w').close()"])
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        same = "gives the CLI the same budget, which it takes once: drop"
        for kw, said in (
                (dict(method="mp --keep-flops 0.5", keep_flops=0.3),
                 f"method 'mp --keep-flops 0.5' gives --keep-flops 0.5, and prune's keep_flops=0.3 {same} "
                 "--keep-flops and pass prune(..., keep_flops=0.5), or pass keep_flops=None to leave that budget to "
                 "--keep-flops"),
                (dict(method="mp", keep_flops=0.4, extra_args=["--keep-flops=0.5"]),
                 f"extra_args give --keep-flops 0.5, and prune's keep_flops=0.4 {same} --keep-flops and pass prune(..., "
                 "keep_flops=0.5), or pass keep_flops=None to leave that budget to --keep-flops"),
                (dict(method="mp", keep_nnz=0.5, extra_args=["--sparsity", "0.75"]),
                 f"extra_args give --sparsity 0.75, and prune's keep_nnz=0.5 {same} --sparsity and pass prune(..., "
                 "keep_nnz=0.25), or pass keep_nnz=None to leave that budget to --sparsity"),
                (dict(method="falcon --nnz 10", keep_nnz=0.5),
                 f"method 'falcon --nnz 10' gives --nnz 10, and prune's keep_nnz=0.5 {same} --nnz and pass prune(..., "
                 "keep_nnz=) the fraction of the weights to keep, or pass keep_nnz=None to leave that budget to --nnz"),
                (dict(method="mp", keep_flops=0.3, extra_args=["--flops", "1e4"]),
                 f"extra_args give --flops 1e4, and prune's keep_flops=0.3 {same} --flops and pass "
                 "prune(..., keep_flops=) the fraction of the dense FLOPs to keep, or pass keep_flops=None to leave "
                 "that budget to --flops")):
            with self.subTest(**kw):
                with self.assertRaises(ValueError) as cm:
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, n_samples=8, cli=cli, **kw)
                self.assertEqual(said, str(cm.exception))
        self.assertFalse(os.path.exists(ran), "the CLI ran (the probe or the run) before the refusal")

    def test_a_budget_of_the_methods_words_replaces_prunes_default_where_its_keywords_are_none(self):
        # keep_flops=None, keep_nnz=None is the default FLOP budget, 0.3: it was added beside the method's own
        import json
        import torch
        from torch import nn
        cli, args_file = self._recording_stand_in()
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        for kw, budgets in ((dict(method="mp --keep-flops 0.5"), ["--keep-flops", "0.5"]),
                            (dict(method="mp", extra_args=["--keep-nnz", "0.5"]), ["--keep-nnz", "0.5"])):
            with self.subTest(**kw):
                with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\): falcon: internal"):
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, keep_nnz=None, n_samples=8,
                             cli=cli, **kw)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(budgets, [a for i, a in enumerate(args) if a.startswith("--keep-") or
                                           i > 0 and args[i - 1].startswith("--keep-")])

    def test_an_nnz_budget_of_the_words_alone_gets_no_default_flop_budget_as_keep_nnz_alone_gets_none(self):
        # keep_flops=None with keep_nnz=0.65 kept the dense FLOPs (the CLI's default with an NNZ budget alone), but the
        # same budget as --keep-nnz, --sparsity or --nnz in extra_args or the method got --keep-flops 0.3 beside it,
        # which bound: 231 of 424 weights kept instead of 275
        import json
        import torch
        from torch import nn
        cli, args_file = self._recording_stand_in()
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        for kw in (dict(keep_nnz=0.65), dict(extra_args=["--keep-nnz", "0.65"]), dict(extra_args=["--sparsity", "0.35"]),
                   dict(extra_args=["--nnz=8"]), dict(method="mp --sparsity 0.35"), dict(method="mp --nnz 8"),
                   dict(extra_args=["--sparsity", "0.35"], stages=2)):
            with self.subTest(**kw):
                kw = {"method": "mp", **kw}
                with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\): falcon: internal"):
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, n_samples=8, cli=cli, **kw)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertFalse([a for a in args if a.startswith(("--keep-flops", "--flops"))], args)

    def test_prunes_default_keep_flops_gives_way_to_any_budget_given_elsewhere_as_the_clis_default_does(self):
        # keep_flops's default was 0.3 itself, so prune(..., keep_nnz=0.5) and method='mp --sparsity 0.7' (README: "keeps
        # the dense FLOPs, as keep_nnz= alone does") ran with --keep-flops 0.3 beside the NNZ budget, kept FLOPs 0.2998,
        # and 'mp --keep-flops 0.5' was refused as given twice; only keep_flops=None left it out
        import json
        import torch
        from torch import nn
        cli, args_file = self._recording_stand_in()
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        budget_words = ("--keep-", "--flops", "--nnz", "--sparsity")
        for kw, budgets in ((dict(keep_nnz=0.5), ["--keep-nnz", "0.5"]),
                            (dict(method="mp --sparsity 0.7"), ["--sparsity", "0.7"]),
                            (dict(extra_args=["--keep-nnz", "0.5"]), ["--keep-nnz", "0.5"]),
                            (dict(extra_args=["--nnz=8"]), ["--nnz=8"]),
                            (dict(method="mp --keep-flops 0.5"), ["--keep-flops", "0.5"]),
                            (dict(extra_args=["--flops", "1e4"]), ["--flops", "1e4"]),
                            (dict(), ["--keep-flops", "0.3"]),
                            (dict(keep_flops=0.3, keep_nnz=0.5), ["--keep-flops", "0.3", "--keep-nnz", "0.5"])):
            with self.subTest(**kw):
                kw = {"method": "mp", **kw}
                with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\): falcon: internal"):
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, n_samples=8, cli=cli, **kw)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(budgets, [a for i, a in enumerate(args) if a.startswith(budget_words) or
                                           i > 0 and args[i - 1].startswith(budget_words)])

    def test_a_fraction_in_the_words_reaches_the_run_that_prunes_to_it_as_it_was_typed(self):
        # --sparsity 0.7 reached the CLI as --keep-nnz 0.30000000000000004 (repr(1 - 0.7)): the report gave that as the
        # budget asked for, and --sparsity 0.999's refusal named --keep-nnz 0.0010000000000000009, which nobody typed
        import json
        import torch
        from torch import nn
        cli, args_file = self._recording_stand_in()
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        budget_words = ("--keep-", "--sparsity")
        for kw, budgets in ((dict(extra_args=["--sparsity", "0.7"]), ["--sparsity", "0.7"]),
                            (dict(method="mp --keep-nnz=.65"), ["--keep-nnz=.65"]),
                            (dict(method="mp --keep-flops 5e-1", extra_args=["--sparsity", "0.7"]),
                             ["--keep-flops", "5e-1", "--sparsity", "0.7"]),
                            (dict(method="falcon++", extra_args=["--sparsity", "0.7"], gradient_source="cli", stages=2),
                             ["--sparsity", "0.7"])):
            with self.subTest(**kw):
                kw = {"method": "mp", **kw}
                with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\): falcon: internal"):
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, n_samples=8, cli=cli, **kw)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(budgets, [a for i, a in enumerate(args) if a.startswith(budget_words) or
                                           i > 0 and args[i - 1].startswith(budget_words)])
        # a refusal's fix gives 1 - S in decimal, as the CLI takes it
        with self.assertRaisesRegex(ValueError, r"pass prune\(\.\.\., keep_nnz=0\.8765433\)"):
            ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_nnz=0.5, extra_args=["--sparsity", "0.1234567"],
                     n_samples=8, cli=cli)

    def test_a_fraction_in_the_methods_words_is_walked_down_along_the_stages_schedule(self):
        # "mp --keep-flops 0.5" with keep_flops=None and stages=3 went to the CLI as it was, so every stage pruned
        # straight to 50% and keep_flops_schedule said [None, None, None]; an absolute --flops cannot be scheduled
        import json
        import torch
        from torch import nn
        cli, args_file = self._recording_stand_in()
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        first_stage = ft.stage_schedule(0.5, 3)[0]
        for kw, budgets in ((dict(method="mp --keep-flops 0.5"), ["--keep-flops", repr(first_stage)]),
                            (dict(method="falcon++ --keep-flops=0.5", gradient_source="python"),
                             ["--keep-flops", repr(first_stage)]),
                            # the stage's count, as the CLI's falcon++ schedules it: 0.5 of the 12 weights is 6, and
                            # stage 1's level toward 6/12 is 7.78 weights
                            (dict(method="mp", extra_args=["--sparsity", "0.5", "--threads", "1"]),
                             ["--nnz", "7"])):
            with self.subTest(**kw):
                with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\): falcon: internal"):
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, keep_nnz=None, n_samples=8,
                             stages=3, cli=cli, **kw)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(budgets, [a for i, a in enumerate(args) if a.startswith(("--keep-", "--sparsity", "--nnz"))
                                           or i > 0 and args[i - 1].startswith(("--keep-", "--sparsity", "--nnz"))])
                if "extra_args" in kw:
                    self.assertEqual(["--threads", "1"], args[-2:], "the rest of extra_args goes on")
        for kw, said in ((dict(method="mp --flops 100", stages=2),
                          "method 'mp --flops 100' gives --flops 100, an absolute budget: prune walks its budgets down "
                          "along the stages' schedule, which it cannot do with --flops; drop --flops and pass prune(..., "
                          "keep_flops=) the fraction of the dense FLOPs to keep"),
                         (dict(method="falcon++", extra_args=["--nnz=10"], gradient_source="python"),
                          "extra_args give --nnz 10, an absolute budget: prune walks its budgets down along the stages' "
                          "schedule, which it cannot do with --nnz; drop --nnz and pass prune(..., keep_nnz=) the "
                          "fraction of the weights to keep"),
                         (dict(method="mp --keep-flops 50"),
                          "method 'mp --keep-flops 50' gives --keep-flops 50: outside the valid range (0, 1]; give "
                          "the fraction to keep, e.g. --keep-flops 0.3")):
            with self.subTest(**kw):
                with self.assertRaises(ValueError) as cm:
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, n_samples=8, cli=cli, **kw)
                self.assertEqual(said, str(cm.exception))
        # the CLI's grammar for a number (Numbers.isDecimal): --flops nan, inf or 1_000 name a costs file, no budget that
        # prune's keep_flops would clash with; and a budget flag's value is not read as a flag of its own
        for kw, budgets in ((dict(extra_args=["--flops", "1_000"]), ["--keep-flops", "0.3", "--flops", "1_000"]),
                            (dict(method="mp --flops=nan"), ["--keep-flops", "0.3", "--flops=nan"]),
                            (dict(method="mp --keep-flops --flops"), None)):
            with self.subTest(**kw):
                kw = {"method": "mp", **kw}
                if budgets is None:
                    # "--keep-flops --flops": one option whose value is no number, left to the CLI to refuse
                    with self.assertRaisesRegex(ft.FalconError, r"falcon exited with 1"):
                        ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, n_samples=8, cli=cli, **kw)
                    continue
                with self.assertRaisesRegex(ft.FalconError, r"falcon exited with 1"):
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, n_samples=8, cli=cli, **kw)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(budgets, [a for i, a in enumerate(args) if a.startswith(("--keep-", "--flops")) or
                                           i > 0 and args[i - 1].startswith(("--keep-", "--flops"))])
        # keep_flops=0.3 beside --flops on a staged run: the refusal no longer advises keep_flops=None, refused in turn
        with self.assertRaises(ValueError) as cm:
            ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=0.3, n_samples=8, stages=2, cli=cli,
                     method="mp --flops 100")
        self.assertNotIn("keep_flops=None", str(cm.exception))

    def test_two_words_giving_one_budget_are_told_to_keep_one_word_not_to_pass_prunes_keyword(self):
        # --keep-nnz 0.5 and --sparsity 0.7 in extra_args were told "drop --sparsity and pass prune(..., keep_nnz=0.3)":
        # --keep-nnz 0.5 stayed, and keep_nnz=0.3 beside it was refused in turn ("drop --keep-nnz and pass ...")
        import torch
        from torch import nn
        ran = os.path.join(tempfile.mkdtemp(), "ran")
        self.addCleanup(shutil.rmtree, os.path.dirname(ran))
        cli = ft.FalconCLI(command=[sys.executable, "-c", f"open({ran!r}, 'w').close()"])
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        for kw, said in ((dict(extra_args=["--keep-nnz", "0.5", "--sparsity", "0.7"]),
                          "extra_args give --sparsity 0.7, and --keep-nnz 0.5 in extra_args: both words give the NNZ "
                          "budget, which the CLI takes once; keep one of them and drop the other"),
                         (dict(method="mp --sparsity 0.7", extra_args=["--keep-nnz", "0.3"]),
                          "extra_args give --keep-nnz 0.3, and --sparsity 0.7 in the method: both words give the NNZ "
                          "budget, which the CLI takes once; keep one of them and drop the other"),
                         (dict(method="mp --keep-flops 0.5", extra_args=["--flops", "10"]),
                          "extra_args give --flops 10, and --keep-flops 0.5 in the method: both words give the FLOP "
                          "budget, which the CLI takes once; keep one of them and drop the other"),
                         (dict(method="mp --keep-flops 0.5", extra_args=["--flops", "10"], stages=2),
                          "extra_args give --flops 10, and --keep-flops 0.5 in the method: both words give the FLOP "
                          "budget, which the CLI takes once, and prune cannot walk an absolute --flops down the stages' "
                          "schedule; drop --flops")):
            with self.subTest(**kw):
                with self.assertRaises(ValueError) as cm:
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, n_samples=8, cli=cli, **kw)
                self.assertEqual(said, str(cm.exception))
                self.assertNotIn("pass prune(", str(cm.exception))
        self.assertFalse(os.path.exists(ran), "the CLI ran (the probe or the run) before the refusal")

    def test_a_budget_word_with_a_huge_exponent_is_refused_by_its_range_not_a_decimal_overflow(self):
        # 1 - S in decimal ran before the range check: --sparsity 1e1000000 (past the decimal context's Emax) raised
        # decimal.Overflow, an ArithmeticError saying "[<class 'decimal.Overflow'>]", beside keep_nnz= too
        import torch
        from torch import nn
        ran = os.path.join(tempfile.mkdtemp(), "ran")
        self.addCleanup(shutil.rmtree, os.path.dirname(ran))
        cli = ft.FalconCLI(command=[sys.executable, "-c", f"open({ran!r}, 'w').close()"])
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        for kw, said in ((dict(extra_args=["--sparsity", "1e1000000"]),
                          "extra_args give --sparsity 1e1000000: outside the valid range [0, 1); give the fraction to "
                          "remove, e.g. --sparsity 0.7"),
                         (dict(extra_args=["--sparsity", "1e1000000"], keep_nnz=0.5),
                          "extra_args give --sparsity 1e1000000: outside the valid range [0, 1); give the fraction to "
                          "remove, e.g. --sparsity 0.7"),
                         (dict(method="mp --sparsity=-1e1000000"),
                          "method 'mp --sparsity=-1e1000000' gives --sparsity -1e1000000: outside the valid range "
                          "[0, 1); give the fraction to remove, e.g. --sparsity 0.7")):
            with self.subTest(**kw):
                with self.assertRaises(ValueError) as cm:
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, keep_flops=None, n_samples=8, cli=cli, **kw)
                self.assertEqual(said, str(cm.exception))
        self.assertFalse(os.path.exists(ran), "the CLI ran (the probe or the run) before the refusal")

    def test_a_thread_count_in_extra_args_overrides_the_falcon_clis_own(self):
        # FalconCLI(threads=2) put its --threads 2 before extra_args' --threads 1, and the CLI refused the pair: prune
        # reported "the falcon CLI cannot run method 'mp' with --threads 1: ... should be specified only once"
        import json
        import torch
        from torch import nn
        batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
        for kw, threads in ((dict(extra_args=["--threads", "1"]), ["--threads", "1"]),
                            (dict(extra_args=["--threads=1"]), ["--threads=1"]),
                            (dict(method="mp --threads 3"), ["--threads", "3"]),
                            (dict(), ["--threads", "2"])):
            with self.subTest(**kw):
                cli, args_file = self._recording_stand_in(threads=2)
                with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\): falcon: internal"):
                    ft.prune(nn.Sequential(nn.Linear(4, 3)), batches, n_samples=8, cli=cli, **{"method": "mp", **kw})
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(threads, [a for i, a in enumerate(args) if a.startswith("--threads") or
                                           i > 0 and args[i - 1] == "--threads"])

    def test_the_readme_says_what_threads_none_gives_as_the_refusal_does(self):
        # the refusal learnt that omitting threads is one thread on the java backend; python/README.md still said "every
        # processor" a few words after the java backend's sentence
        with self.assertRaises(ValueError) as cm:
            ft.FalconCLI(command=[sys.executable, "-c", "pass"], threads=0)
        default = re.search(r"omit it \(None\) for the CLI's default: (.*)$", str(cm.exception))
        self.assertIsNotNone(default, str(cm.exception))
        readme = re.sub(r"\s+", " ", (Path(__file__).resolve().parents[1] / "README.md").read_text())
        said = re.search(r"`threads=None`, the default, gives no `--threads`[^:]*: ([^)]*)\)", readme)
        self.assertIsNotNone(said, "python/README.md's sentence on threads=None")
        self.assertEqual(default.group(1), said.group(1))

    def test_a_thread_count_that_is_not_a_whole_number_above_0_is_refused_when_the_falcon_cli_is_made(self):
        # FalconCLI(threads=0) was taken as no count at all: no --threads reached the CLI, which ran on every processor,
        # where the CLI refuses --threads 0 and the Java API create(0)
        for threads in (0, -1, 2.5, 2.0, "2", True):
            with self.subTest(threads=threads):
                with self.assertRaises(ValueError) as cm:
                    ft.FalconCLI(command=[sys.executable, "-c", "pass"], threads=threads)
                self.assertEqual(f"FalconCLI(threads=...): is {threads!r}, it must be a whole number of threads, at least 1 "
                                 "(the CLI's --threads); omit it (None) for the CLI's default: every processor, one thread on the java backend", str(cm.exception))
        import json
        import numpy as np
        cli, args_file = self._recording_stand_in(threads=np.int64(3))
        with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\)"):
            cli.prune(None, "w.npy", "layers.json", os.path.join(os.path.dirname(args_file), "out.npy"),
                      os.path.join(os.path.dirname(args_file), "report.json"), method="magnitude", keep_flops=0.5)
        with open(args_file) as f:
            args = json.load(f)
        self.assertEqual("3", args[args.index("--threads") + 1])

    def test_the_falcon_clis_thread_count_is_not_given_to_a_run_on_the_java_backend(self):
        # FalconCLI(threads=2).prune(..., extra=["--device", "java"]) added --threads 2, and the CLI refused the run:
        # "--threads: option: is not read by the java backend ...; drop it", an option the caller never gave
        import json
        for method, extra, threads in (("mp", ["--device", "java"], []),
                                       ("mp", ["--device=java"], []),
                                       ("mp", ["--backend", "JAVA"], []),
                                       ("mp --device java", [], []),
                                       ("mp", ["--device", "java", "--threads", "1"], ["--threads", "1"]),
                                       ("mp", ["--device", "cpu"], ["--threads", "2"]),
                                       ("mp", [], ["--threads", "2"])):
            with self.subTest(method=method, extra=extra):
                cli, args_file = self._recording_stand_in(threads=2)
                d = os.path.dirname(args_file)
                with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\)"):
                    cli.prune(None, "w.npy", "layers.json", os.path.join(d, "out.npy"), os.path.join(d, "report.json"),
                              method=method, keep_flops=0.5, extra=extra)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(threads, [a for i, a in enumerate(args) if a.startswith("--threads") or
                                           i > 0 and args[i - 1] == "--threads"])

    def test_the_falcon_clis_thread_count_is_not_given_to_a_run_that_the_java_property_puts_on_the_java_backend(self):
        # with FALCON_JAVA_OPTS=-Dfalcon.backend=java (which the CLI's help names: "default: -Dfalcon.backend, else
        # auto") FalconCLI(threads=2) still added --threads 2, which the CLI refuses on java as it does for --device
        # java ("drop it"), an option the caller never gave (supports() probes through prune, and cached every method
        # as one this CLI does not run).
        # The JVM reads JAVA_TOOL_OPTIONS first, then JDK_JAVA_OPTIONS, then the launcher's FALCON_JAVA_OPTS: the last
        # -Dfalcon.backend wins, and a --device or --backend of the run's words wins over any.
        import json
        from unittest import mock
        for env, extra, threads in (({"FALCON_JAVA_OPTS": "-Dfalcon.backend=java"}, [], []),
                                    ({"FALCON_JAVA_OPTS": "-Xmx1g '-Dfalcon.backend=JAVA'"}, [], []),
                                    ({"JAVA_TOOL_OPTIONS": "-Dfalcon.backend=java"}, [], []),
                                    ({"JDK_JAVA_OPTIONS": "-Dfalcon.backend=java"}, [], []),
                                    ({"JAVA_TOOL_OPTIONS": "-Dfalcon.backend=cpu",
                                      "FALCON_JAVA_OPTS": "-Dfalcon.backend=java"}, [], []),
                                    ({"JAVA_TOOL_OPTIONS": "-Dfalcon.backend=java",
                                      "FALCON_JAVA_OPTS": "-Dfalcon.backend=cpu"}, [], ["--threads", "2"]),
                                    ({"FALCON_JAVA_OPTS": "-Dfalcon.backend=java -Dfalcon.backend=auto"}, [],
                                     ["--threads", "2"]),
                                    ({"FALCON_JAVA_OPTS": "-Dfalcon.backend=java"}, ["--device", "cpu"],
                                     ["--threads", "2"]),
                                    ({"FALCON_JAVA_OPTS": "-Dfalcon.backend=cpu"}, [], ["--threads", "2"])):
            with self.subTest(env=env, extra=extra):
                cli, args_file = self._recording_stand_in(threads=2)
                d = os.path.dirname(args_file)
                clean = {k: v for k, v in os.environ.items()
                         if k not in ("FALCON_JAVA_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")}
                with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
                    with self.assertRaisesRegex(ft.FalconError, r"^falcon exited with 1 \(internal error\)"):
                        cli.prune(None, "w.npy", "layers.json", os.path.join(d, "out.npy"),
                                  os.path.join(d, "report.json"), method="mp --backsolve", keep_flops=0.5, extra=extra)
                with open(args_file) as f:
                    args = json.load(f)
                self.assertEqual(threads, [a for i, a in enumerate(args) if a.startswith("--threads") or
                                           i > 0 and args[i - 1] == "--threads"])

    def test_the_real_launcher_with_a_bad_java_home_makes_supports_raise(self):
        # the launcher checks JAVA_HOME before it looks at the jar, so this needs no build
        from unittest import mock
        launcher = Path(__file__).resolve().parents[2] / "falcon"
        with mock.patch.dict(os.environ, {"JAVA_HOME": "/nonexistent"}):
            cli = ft.FalconCLI(command=[str(launcher)])
            with self.assertRaisesRegex(ft.FalconError, r"exited with 2 \(the CLI did not start; the launcher says "
                                                        r"why\): falcon: JAVA_HOME is '/nonexistent'"):
                cli.supports("mp")


if __name__ == "__main__":
    unittest.main()
