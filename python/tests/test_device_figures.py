"""scripts/device-figures.sh on a stand-in GPU bundle (standard library only): every step is run and logged with its
status, a failing step does not stop the next, the deadline skips what cannot finish, and the logs reach COPY_TO."""
import os
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
import unittest
from pathlib import Path

from _util import process_runs, still_running

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "device-figures.sh"

# Each stand-in records its arguments; `falcon prune` writes the report it is asked for; STAND_IN_FAIL names a
# launcher that fails; with STAND_IN_CUDA_UNUSABLE, `falcon env` lists cuda as unusable for that reason. A call whose
# command line holds STAND_IN_SLOW runs until it is stopped (its JVM: a sleep), once both are written to STAND_IN_PIDS
# as "LAUNCHER_PID SLEEP_PID", and writes its report only if it is not.
STAND_IN = """#!/usr/bin/env bash
me=$(basename "$0")
echo "$me $*" >> "$STAND_IN_LOG"
[ "${STAND_IN_FAIL:-}" = "$me" ] && { echo "$me failed" >&2; exit 3; }
[ "${STAND_IN_JMH_FAILURE:-}" = "$me" ] && echo "# Warmup Iteration   1: <failure>"
[ "${STAND_IN_ALL_SKIPPED:-}" = "$me" ] && printf '[        64 tests skipped         ]\n[         0 tests successful      ]\n'
[ "$me ${1:-}" = "falcon env" ] && [ -n "${STAND_IN_CUDA_UNUSABLE:-}" ] && \
  printf 'backends (highest priority first):\\n  cuda   priority 300  unusable: %s\\n  cpu    priority 200  usable\\n' "$STAND_IN_CUDA_UNUSABLE"
if [ -n "${STAND_IN_SLOW:-}" ] && [[ "$me $*" == *"$STAND_IN_SLOW"* ]]; then
  sleep 60 & echo "$$ $!" > "$STAND_IN_PIDS.tmp"; mv "$STAND_IN_PIDS.tmp" "$STAND_IN_PIDS"
  wait
fi
while [ $# -gt 0 ]; do [ "$1" = --report ] && echo '{}' > "$2"; shift; done
echo "$me done"
"""


class DeviceFiguresTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        bundle_dir = self.root / "src" / "falcon-gpu" / "bin"
        bundle_dir.mkdir(parents=True)
        for name in ("falcon", "gpu-tests", "benchmarks"):
            path = bundle_dir / name
            path.write_text(STAND_IN)
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.bundle = self.root / "falcon-gpu.tar.gz"
        with tarfile.open(self.bundle, "w:gz") as tar:
            tar.add(self.root / "src" / "falcon-gpu", arcname="falcon-gpu")
        self.out = self.root / "out"
        self.copy_to = self.root / "copy"
        self.copy_to.mkdir()
        self.log = self.root / "calls.txt"
        # the script's own mktemp -d lands here, where a test can see what it leaves
        self.scratch = self.root / "scratch"
        self.scratch.mkdir()

    def tearDown(self):
        self.tmp.cleanup()

    def run_script(self, deadline="600", **env):
        environment = dict(os.environ, STAND_IN_LOG=str(self.log), FIGURES_DEADLINE_S=deadline, TMPDIR=str(self.scratch), **env)
        return subprocess.run(["bash", str(SCRIPT), str(self.bundle), str(self.out), str(self.copy_to)],
                              env=environment, capture_output=True, text=True, timeout=120)

    def summary(self):
        return (self.out / "summary.txt").read_text()

    def test_every_step_runs_and_the_run_succeeds_when_each_does(self):
        r = self.run_script()
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertEqual(9, self.summary().count("rc=0 "))
        self.assertIn("== 0 of 9 steps failed or were skipped", r.stdout)

    def test_a_failed_step_is_logged_with_its_status_and_the_next_still_runs(self):
        r = self.run_script(STAND_IN_FAIL="gpu-tests")
        self.assertEqual(1, r.returncode, r.stderr)
        lines = self.summary().splitlines()
        steps = [line.split()[0] for line in lines]
        self.assertEqual(["machine", "env", "resnet50-n500-cuda", "resnet20-cuda", "mobilenetv1-cuda", "mobilenetv1-cpu",
                          "gpu-tests", "jmh-device", "jmh-cpu"], steps)
        self.assertIn("rc=3", lines[6], "the failing step's status")
        self.assertIn("rc=0", lines[7], "the step after a failure still runs")
        calls = self.log.read_text()
        self.assertIn("falcon prune --device cuda --example resnet50 --n 500", calls)
        self.assertIn("falcon prune --device cpu --example mobilenetv1 --n 128", calls)
        self.assertIn("benchmarks DeviceProductBenchmark", calls)
        self.assertIn("gpu-tests --include-tag gpu", calls)
        self.assertTrue((self.out / "logs" / "report-resnet50-500-cuda.json").exists())
        self.assertIn("gpu-tests failed", (self.out / "logs" / "07-gpu-tests.log").read_text())
        self.assertEqual(self.summary(), (self.copy_to / "summary.txt").read_text())
        with tarfile.open(self.copy_to / "logs.tar.gz") as tar:
            self.assertIn("logs/09-jmh-cpu.log", tar.getnames())

    def test_a_failed_jmh_trial_counts_though_jmh_exits_0(self):
        r = self.run_script(STAND_IN_JMH_FAILURE="benchmarks")
        self.assertEqual(1, r.returncode, r.stderr)
        lines = self.summary().splitlines()
        self.assertRegex(lines[7], r"^jmh-device\s+rc=1 ")
        self.assertRegex(lines[8], r"^jmh-cpu\s+rc=1 ")

    def test_a_test_suite_that_skipped_every_test_counts_though_it_exits_0(self):
        # the GPU tests skip, and the launcher exits 0, where the cuda backend is unusable (a library not found, say)
        r = self.run_script(STAND_IN_ALL_SKIPPED="gpu-tests")
        self.assertEqual(1, r.returncode, r.stderr)
        lines = self.summary().splitlines()
        self.assertRegex(lines[6], r"^gpu-tests\s+rc=1 ")
        self.assertRegex(lines[7], r"^jmh-device\s+rc=0 ")

    CUDA_LIBS = ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcusolver.so.12", "libcusolverMg.so.12",
                 "libcusparse.so.12", "libnvJitLink.so.13"]

    def with_library_tools(self, listing):
        """PATH with a stand-in ldconfig that lists `listing`, and a find that meets a copy of each library elsewhere,
        which the script must not put ahead of the copies the system or the caller chose."""
        tools = self.root / "tools"
        tools.mkdir()
        (self.root / "ldconfig-p.txt").write_text(listing)
        (tools / "ldconfig").write_text(f"#!/usr/bin/env bash\ncat {self.root / 'ldconfig-p.txt'}\n")
        (tools / "find").write_text(f'#!/usr/bin/env bash\necho "$*" >> {self.root / "find-calls.txt"}\n'
                                    'while [ $# -gt 0 ]; do [ "$1" = -name ] && echo "/elsewhere/lib/$2"; shift; done\n')
        for tool in tools.iterdir():
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
        return f"{tools}:{os.environ['PATH']}"

    def test_libraries_ldconfig_lists_are_not_looked_for_again(self):
        # ldconfig -p lists hundreds of libraries on a machine with the CUDA toolkit: past a pipe's 64 KiB, grep -q's
        # early exit kills it with SIGPIPE, and under pipefail a library it listed read as missing
        listing = "".join(f"\t{lib} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/{lib}\n" for lib in self.CUDA_LIBS)
        listing += "".join(f"\tlibother{i}.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libother{i}.so.1\n" for i in range(4000))
        r = self.run_script(PATH=self.with_library_tools(listing), LD_LIBRARY_PATH="/from/the/caller")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn("LD_LIBRARY_PATH=/from/the/caller\n", (self.out / "logs" / "01-machine.log").read_text())

    def test_libraries_on_the_callers_library_path_are_not_looked_for(self):
        chosen = self.root / "cuda-13.1" / "lib64"
        chosen.mkdir(parents=True)
        for lib in self.CUDA_LIBS:
            (chosen / lib).write_text("")
        r = self.run_script(PATH=self.with_library_tools("\tlibc.so.6 (libc6,x86-64) => /lib/libc.so.6\n"),
                            LD_LIBRARY_PATH=f"/nothing/here:{chosen}")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn(f"LD_LIBRARY_PATH=/nothing/here:{chosen}\n", (self.out / "logs" / "01-machine.log").read_text())

    def test_missing_libraries_are_looked_for_in_one_walk_and_put_on_the_library_path(self):
        # each walk of /usr/local, /opt and /usr/lib runs before the first step, untimed, against the deadline
        r = self.run_script(PATH=self.with_library_tools("\tlibc.so.6 (libc6,x86-64) => /lib/libc.so.6\n"),
                            LD_LIBRARY_PATH="/from/the/caller")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        calls = (self.root / "find-calls.txt").read_text().splitlines()
        walks = [c for c in calls if "/usr/local" in c]
        self.assertEqual(1, len(walks), calls)
        for lib in self.CUDA_LIBS:
            self.assertIn(f"-name {lib}", walks[0])
        self.assertIn("LD_LIBRARY_PATH=/elsewhere/lib:/from/the/caller\n", (self.out / "logs" / "01-machine.log").read_text())

    def test_a_step_is_cut_at_the_deadline_and_the_rest_skipped(self):
        # on the clock in a file: the steps before gpu-tests take 1 s each, gpu-tests all it may
        r = self.run_script(deadline="100", PATH=self.with_a_clock_each_step_runs_out(only="gpu-tests"))
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertEqual("", r.stderr)
        lines = self.summary().splitlines()
        self.assertRegex(lines[6], r"^gpu-tests\s+rc=124 .*\(limit 89 s\)", "cut by its time limit, the deadline's")
        for line in lines[7:]:
            self.assertIn("skipped: the deadline is near", line)
        self.assertEqual(9, len(lines))

    def test_the_work_folder_is_removed_after_a_run_and_after_a_failed_one(self):
        # it holds the unpacked bundle, its JavaCPP cache (174 MB) and the pruned weights (100 MB for resnet50): after
        # every run, even one that could not unpack the bundle, it stayed in /tmp
        r = self.run_script()
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertEqual([], list(self.scratch.iterdir()))
        self.assertTrue((self.out / "logs" / "report-resnet50-500-cuda.json").exists(), "the results stay in OUTDIR")
        self.bundle.write_bytes(b"not a tar archive")
        r = self.run_script()
        self.assertNotEqual(0, r.returncode)
        self.assertEqual([], list(self.scratch.iterdir()))

    def test_a_copy_to_folder_that_does_not_exist_is_created(self):
        # cp failed after every step (2 errors a step, nothing copied), and neither the summary nor the status said so
        self.copy_to = self.root / "not" / "yet"
        r = self.run_script()
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertNotIn("cannot create", r.stderr)
        self.assertEqual(self.summary(), (self.copy_to / "summary.txt").read_text())
        self.assertTrue((self.copy_to / "logs.tar.gz").exists())

    def test_a_copy_to_folder_that_cannot_be_made_is_refused_before_any_step(self):
        (self.root / "a-file").write_text("")
        self.copy_to = self.root / "a-file" / "copy"
        r = self.run_script()
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertEqual(1, len(r.stderr.splitlines()), r.stderr)
        self.assertIn(f"COPY_TO folder {self.copy_to}", r.stderr)
        self.assertFalse(self.log.exists(), "no step ran")
        self.assertEqual([], list(self.scratch.iterdir()))

    # The device command that runs the script: a one-shot run killed at 520 s, which must leave the script time to
    # write its digest after its deadline
    DEVICE_COMMAND_LIMIT_S = 520
    DIGEST_S = 30

    def with_a_clock_each_step_runs_out(self, only=""):
        """PATH with a stand-in date that reads a clock in a file, and a stand-in timeout that moves the clock on by the
        whole limit it is given and the 5 s of --kill-after: every step (or only the one whose command line names
        `only`; the others take 1 s) runs as long as it may, in no real time."""
        tools = self.root / "clock-tools"
        tools.mkdir()
        self.clock = self.root / "clock"
        self.clock.write_text("1000000\n")
        (tools / "date").write_text(f'#!/usr/bin/env bash\nnow=$(cat {self.clock})\n'
                                    'case "$1" in +%s) echo "$now" ;; +%s.%N) echo "$now.000000000" ;; *) exit 9 ;; esac\n')
        (tools / "timeout").write_text(f'#!/usr/bin/env bash\nwhile [[ $1 == -* ]]; do shift; done\nlimit=$1; shift\n'
                                       f'[[ "$*" == *"{only}"* ]] || {{ echo $(( $(cat {self.clock}) + 1 )) > {self.clock}; exec "$@"; }}\n'
                                       f'echo $(( $(cat {self.clock}) + limit + 5 )) > {self.clock}\n"$@"\nexit 124\n')
        for tool in tools.iterdir():
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
        return f"{tools}:{os.environ['PATH']}"

    def test_with_the_default_deadline_resnet50_gets_its_time_and_the_run_ends_inside_the_device_command(self):
        # the default of 540 s outlasted the 520-s device command, which then killed the step under way and the digest,
        # and resnet50, the step with a target, came after 640 s of limits and was skipped at the deadline
        environment = dict(os.environ, STAND_IN_LOG=str(self.log), TMPDIR=str(self.scratch), PATH=self.with_a_clock_each_step_runs_out())
        environment.pop("FIGURES_DEADLINE_S", None)
        r = subprocess.run(["bash", str(SCRIPT), str(self.bundle), str(self.out)], env=environment, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        resnet50 = [line for line in self.summary().splitlines() if line.startswith("resnet50-n500-cuda ")]
        self.assertEqual(1, len(resnet50), self.summary())
        self.assertRegex(resnet50[0], r"rc=124 .*\(limit 240 s\)", self.summary())
        self.assertLessEqual(int(self.clock.read_text()) - 1000000, self.DEVICE_COMMAND_LIMIT_S - self.DIGEST_S, self.summary())

    def test_a_deadline_that_is_no_number_of_seconds_is_refused(self):
        r = self.run_script(deadline="8m")
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertIn("FIGURES_DEADLINE_S", r.stderr)
        self.assertFalse(self.log.exists(), "no step ran")

    def test_a_deadline_with_a_leading_zero_is_read_in_base_10(self):
        # bash's arithmetic read 0100 as octal, 64 s, and cut every step that much earlier than asked
        r = self.run_script(deadline="0100", PATH=self.with_a_clock_each_step_runs_out(only="gpu-tests"))
        self.assertEqual("", r.stderr)
        lines = self.summary().splitlines()
        self.assertRegex(lines[6], r"^gpu-tests\s+rc=124 .*\(limit 89 s\)", "the limit of FIGURES_DEADLINE_S=100")

    def test_a_deadline_of_09_is_nine_seconds_not_a_bash_error(self):
        # 08 and 09 stopped the script with "value too great for base" and exit 1; 9 s leaves no step time to start
        r = self.run_script(deadline="09")
        self.assertEqual("", r.stderr)
        lines = self.summary().splitlines()
        self.assertEqual(9, len(lines), self.summary())
        for line in lines:
            self.assertIn("skipped: the deadline is near", line)

    NO_DRIVER = ("0 GPUs because the CUDA driver is missing or too old: libcuda.so.1 not found or older than CUDA 13 "
                 "(cudaGetDeviceCount error 35: CUDA driver version is insufficient for CUDA runtime version)")

    def test_without_a_usable_gpu_the_cuda_steps_are_skipped_with_the_reason(self):
        # they ran and failed with bare codes (rc=1, rc=2), env said rc=0, and the reason was only in the step logs
        r = self.run_script(STAND_IN_CUDA_UNUSABLE=self.NO_DRIVER)
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        summary = self.summary()
        self.assertIn(f"cuda unusable: {self.NO_DRIVER}\n", summary)
        lines = {line.split()[0]: line for line in summary.splitlines()}
        for step in ("resnet50-n500-cuda", "resnet20-cuda", "mobilenetv1-cuda", "gpu-tests", "jmh-device"):
            self.assertRegex(lines[step], rf"^{step}\s+skipped: cuda is unusable \(see above\)$")
        for step in ("machine", "env", "mobilenetv1-cpu", "jmh-cpu"):
            self.assertRegex(lines[step], rf"^{step}\s+rc=0 ")
        calls = self.log.read_text()
        self.assertNotIn("--device cuda", calls)
        self.assertNotIn("gpu-tests", calls)
        self.assertNotIn("DeviceProductBenchmark", calls)
        self.assertIn("== 5 of 9 steps failed or were skipped", r.stdout)

    def test_the_machine_log_says_which_cuda_libraries_were_not_found(self):
        tools = self.root / "tools"
        tools.mkdir()
        (tools / "ldconfig").write_text("#!/usr/bin/env bash\n"
                                        "echo '\tlibcudart.so.13 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudart.so.13'\n")
        (tools / "find").write_text("#!/usr/bin/env bash\n")
        for tool in tools.iterdir():
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
        r = self.run_script(PATH=f"{tools}:{os.environ['PATH']}", LD_LIBRARY_PATH="")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        machine = (self.out / "logs" / "01-machine.log").read_text()
        self.assertIn("libcudart.so.13: \tlibcudart.so.13 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudart.so.13\n", machine)
        for lib in self.CUDA_LIBS[1:]:
            self.assertIn(f"{lib}: not found\n", machine)

    def test_a_bundle_that_is_not_there_is_named_as_given_and_no_folder_is_made(self):
        # readlink -f printed nothing for a path whose folder does not exist: "cannot unpack " named no file; and the
        # refusal came after OUTDIR was made, which it left behind holding only the refusal
        self.bundle = self.root / "no-such-folder" / "falcon-gpu.tar.gz"
        self.copy_to = self.root / "copy-not-yet"
        r = self.run_script()
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertIn(f"no readable bundle at {self.bundle}", r.stderr)
        self.assertIn("scripts/gpu-bundle.sh", r.stderr)
        self.assert_no_folder_made()

    def assert_no_folder_made(self):
        self.assertFalse(self.out.exists(), "OUTDIR was made for a refused run")
        self.assertFalse(self.copy_to.exists(), "COPY_TO was made for a refused run")
        self.assertEqual([], list(self.scratch.iterdir()))
        self.assertFalse(self.log.exists(), "no step ran")

    def run_bare(self, *args):
        """The script run from an empty folder with args alone: what it leaves there, as OUTDIR's default would be."""
        cwd = self.root / "cwd"
        cwd.mkdir(exist_ok=True)
        environment = dict(os.environ, STAND_IN_LOG=str(self.log), TMPDIR=str(self.scratch))
        r = subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, env=environment, capture_output=True, text=True,
                           timeout=60)
        return r, sorted(p.name for p in cwd.iterdir())

    def test_help_prints_the_usage_and_exits_0(self):
        # -h and --help were taken for the bundle: readlink's errors (for --help its whole help text, as a file name to
        # tar), "cannot unpack -h", exit 2, and ./device-figures/ left behind
        for option in ("-h", "--help"):
            with self.subTest(option=option):
                r, left = self.run_bare(option)
                self.assertEqual(0, r.returncode, r.stdout + r.stderr)
                self.assertIn("scripts/device-figures.sh [BUNDLE.tar.gz] [OUTDIR] [COPY_TO]", r.stdout)
                self.assertIn("FIGURES_DEADLINE_S", r.stdout)
                self.assertNotIn("readlink", r.stdout + r.stderr)
                self.assertEqual("", r.stderr)
                self.assertEqual([], left)
        r, left = self.run_bare(str(self.bundle), "--help")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertFalse(self.log.exists(), "no step ran")

    def test_an_unknown_option_is_refused_with_one_line_and_no_folder(self):
        r, left = self.run_bare("--bundle", str(self.bundle))
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertEqual(["device-figures: --bundle: no such option (scripts/device-figures.sh -h: its usage)"],
                         r.stderr.splitlines())
        self.assertEqual([], left)

    def test_more_than_three_arguments_are_refused(self):
        r, left = self.run_bare(str(self.bundle), "out", "copy", "extra")
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertIn("at most 3 arguments", r.stderr)
        self.assertEqual([], left)

    def test_without_a_bundle_built_no_folder_is_left(self):
        # the default bundle, target/falcon-gpu.tar.gz, not built: ./device-figures/ was left behind
        r, left = self.run_bare()
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertIn("no readable bundle at target/falcon-gpu.tar.gz", r.stderr)
        self.assertEqual([], left)
        self.assertEqual([], list(self.scratch.iterdir()))

    def test_an_outdir_that_cannot_be_made_is_refused_before_any_step(self):
        (self.root / "a-file").write_text("")
        self.out = self.root / "a-file" / "out"
        r = self.run_script()
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertEqual([f"device-figures: cannot create or write the OUTDIR folder {self.out} (the second argument): "
                          "name a folder that can be created and written"], r.stderr.splitlines())
        self.assertFalse(self.log.exists(), "no step ran")
        self.assertEqual([], list(self.scratch.iterdir()))

    def start_with_a_slow_cpu_solve(self, signal_to_send, **popen):
        """The script, sent signal_to_send as soon as the mobilenetv1-cpu step's stand-in runs; its exit code and
        standard error, and the pids of that stand-in and its child."""
        pids_file = self.root / "slow-pids.txt"
        err_path = self.root / "figures.err"
        environment = dict(os.environ, STAND_IN_LOG=str(self.log), FIGURES_DEADLINE_S="600", TMPDIR=str(self.scratch),
                           STAND_IN_SLOW="prune --device cpu", STAND_IN_PIDS=str(pids_file))
        with open(err_path, "w") as err:
            p = subprocess.Popen(["bash", str(SCRIPT), str(self.bundle), str(self.out), str(self.copy_to)], env=environment,
                                 stdout=subprocess.DEVNULL, stderr=err, **popen)
            self.addCleanup(lambda: p.poll() is None and p.kill())
            deadline = time.monotonic() + 60
            while not pids_file.exists():
                self.assertLess(time.monotonic(), deadline, "the stand-in cpu solve did not start")
                time.sleep(0.05)
            pids = [int(v) for v in pids_file.read_text().split()]
            # whatever the test fails on, no process of this test outlives it
            self.addCleanup(lambda: [os.kill(pid, signal.SIGKILL) for pid in pids if process_runs(pid)])
            signal_to_send(p)
            rc = p.wait(timeout=20)
        return rc, err_path.read_text(), pids

    def assert_stopped_in_the_cpu_step(self, sig, err, pids):
        self.assertEqual(still_running(pids), [], "the step still runs")
        self.assertFalse((self.out / "logs" / "report-mobilenetv1-128-cpu.json").exists(), "the ended step wrote its report")
        self.assertIn(f"stopped by {sig.name} during the step mobilenetv1-cpu", err)
        summary = self.summary().splitlines()
        self.assertRegex(summary[-1], rf"^mobilenetv1-cpu\s+stopped by {sig.name} after [0-9.]+ s")
        self.assertEqual(6, len(summary), "no later step ran")
        self.assertEqual(self.summary(), (self.copy_to / "summary.txt").read_text())
        self.assertNotIn("gpu-tests", self.log.read_text())
        self.assertEqual([], list(self.scratch.iterdir()), "the unpacked bundle is removed")

    def test_kill_of_the_script_ends_the_step_under_way(self):
        # the script died at once, its EXIT trap removing the unpacked bundle, while the step (timeout, in a process
        # group of its own, and falcon's JVM) ran on to its limit, writing its report into OUTDIR
        rc, err, pids = self.start_with_a_slow_cpu_solve(lambda p: p.send_signal(signal.SIGTERM))
        self.assertEqual(-signal.SIGTERM, rc, err)
        self.assert_stopped_in_the_cpu_step(signal.SIGTERM, err, pids)

    def test_ctrl_c_ends_the_step_under_way_and_the_run(self):
        # as from a terminal, the whole process group gets SIGINT: it reached bash alone, which waited for the step to
        # run to its limit and went on with the next steps, and the run ended with exit 1
        rc, err, pids = self.start_with_a_slow_cpu_solve(lambda p: os.killpg(p.pid, signal.SIGINT), start_new_session=True)
        self.assertEqual(-signal.SIGINT, rc, err)
        self.assert_stopped_in_the_cpu_step(signal.SIGINT, err, pids)

    def test_an_unreadable_bundle_is_refused_before_any_folder_is_made(self):
        self.bundle.write_bytes(b"not a tar archive")
        self.copy_to = self.root / "copy-not-yet"
        r = self.run_script()
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertIn(f"device-figures: cannot unpack {self.bundle}: give the GPU bundle that scripts/gpu-bundle.sh wrote",
                      r.stderr)
        self.assert_no_folder_made()


if __name__ == "__main__":
    unittest.main()
