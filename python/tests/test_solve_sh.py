"""benchmarks/solve.sh on a copy of the script with a stand-in for ./falcon (standard library only)."""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from _git import commit_everything
from _util import process_runs, still_running

ROOT = Path(__file__).resolve().parents[2]

# Like the launcher, builds its jar on first use (here: 5 s of sleep, and a build tool's memory is not the solve's);
# a prune then writes a report at once.
FAKE_FALCON = """#!/usr/bin/env bash
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -f "$here/falcon.jar" ]; then sleep 5; touch "$here/falcon.jar"; fi
# env: the memory line of falcon env, with the heap the JVM would take (the last -Xmx: FALCON_JAVA_OPTS' after FALCON_HEAP)
if [ "${1:-}" = env ]; then
  heap=${FALCON_HEAP:-2g}
  for o in ${FALCON_JAVA_OPTS:-}; do case $o in -Xmx*) heap=${o#-Xmx} ;; esac; done
  echo "memory: total 8.0 GiB, available 6.0 GiB, Java heap max $heap (stand-in), javacpp maxBytes unlimited (0)"
fi
[ "${1:-}" = prune ] || exit 0
[ -n "${MODIFY_DURING_RUN:-}" ] && echo changed >> "$MODIFY_DURING_RUN"
# SLOW_PIDS: the solve runs until it is stopped (its JVM: a sleep), once both are written there as "FALCON_PID SLEEP_PID"
if [ -n "${SLOW_PIDS:-}" ]; then
  sleep 60 & echo "$$ $!" > "$SLOW_PIDS.tmp"; mv "$SLOW_PIDS.tmp" "$SLOW_PIDS"
  wait
fi
while [ $# -gt 0 ]; do [ "$1" = --report ] && report=$2; shift; done
echo '{"budgets": {"dense": {"nnz": 1000}}, "memory": {"peak_rss_bytes": 4000000}, "versions": {"java": "99.0.1 (Stand-in VM)"},
  "timings_seconds": {"solve": 0.1, "total": 0.2}, "objective": {"solver": {}},
  "backend": {"description": "stand-in"}}' > "$report"
"""


class SolveShTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        (self.root / "benchmarks").mkdir()
        for script in ("solve.sh", "script-common.sh"):
            shutil.copy(ROOT / "benchmarks" / script, self.root / "benchmarks" / script)
        shutil.copy(ROOT / "benchmarks" / "bench.py", self.root / "benchmarks" / "bench.py")
        falcon = self.root / "falcon"
        falcon.write_text(FAKE_FALCON)
        falcon.chmod(falcon.stat().st_mode | stat.S_IXUSR)

    def tearDown(self):
        self.tmp.cleanup()

    def solve_sh(self, *cases, **env):
        return subprocess.run([str(self.root / "benchmarks" / "solve.sh"), *cases], cwd=self.root, capture_output=True,
                              text=True, timeout=120, env=dict(os.environ, **env))

    def start_slow_solve(self, signal_to_send, **popen):
        """solve.sh with one solve that runs until stopped, sent signal_to_send as soon as the solve runs; its exit code
        and standard error, and the pids of the stand-in falcon and its child."""
        (self.root / "falcon.jar").touch()  # no first-use build
        pids_file = self.root / "slow-pids.txt"
        err_path = self.root / "solve.err"
        with open(err_path, "w") as err:
            p = subprocess.Popen([str(self.root / "benchmarks" / "solve.sh"), "resnet20:10"], cwd=self.root,
                                 stdout=subprocess.DEVNULL, stderr=err, env=dict(os.environ, SLOW_PIDS=str(pids_file)),
                                 **popen)
            deadline = time.monotonic() + 60
            while not pids_file.exists():
                self.assertLess(time.monotonic(), deadline, "the stand-in solve did not start")
                time.sleep(0.05)
            pids = [int(v) for v in pids_file.read_text().split()]
            # whatever the test fails on, no process of this test outlives it
            self.addCleanup(lambda: [os.kill(pid, signal.SIGKILL) for pid in pids if process_runs(pid)])
            signal_to_send(p)
            rc = p.wait(timeout=30)
        return rc, err_path.read_text(), pids

    def test_kill_of_solve_sh_ends_its_solve_and_saves_nothing(self):
        # `kill PID` ended the script alone: the solve (for mobilenetv1:128 minutes of both cores and 2.7 GB) went on,
        # orphaned, writing its report and /usr/bin/time's file into the temporary folder the EXIT trap had removed
        rc, err, pids = self.start_slow_solve(lambda p: p.send_signal(signal.SIGTERM))
        self.assertEqual(rc, -signal.SIGTERM, err)
        self.assertEqual(still_running(pids), [], "the solve still runs")
        self.assertIn("benchmarks/solve.sh: stopped by SIGTERM; nothing saved", err)
        self.assertFalse((self.root / "benchmarks" / "results").exists())

    def test_ctrl_c_ends_the_solve_and_saves_nothing(self):
        # as from a terminal: the whole process group gets SIGINT
        rc, err, pids = self.start_slow_solve(lambda p: os.killpg(p.pid, signal.SIGINT), start_new_session=True)
        self.assertEqual(rc, -signal.SIGINT, err)
        self.assertEqual(still_running(pids), [], "the solve still runs")
        self.assertIn("benchmarks/solve.sh: stopped by SIGINT; nothing saved", err)
        self.assertFalse((self.root / "benchmarks" / "results").exists())

    def test_help_is_solve_sh_s_own(self):
        # -h went to falcon as the example: "Expected parameter for option '--example' but found '-h'", exit 2
        for flag in ("-h", "--help"):
            with self.subTest(flag=flag):
                r = self.solve_sh(flag)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("benchmarks/solve.sh [EXAMPLE:N ...]", r.stdout)
                self.assertIn("FALCON_HEAP", r.stdout)
                self.assertEqual(r.stderr, "")
                self.assertFalse((self.root / "falcon.jar").exists(), "falcon ran")

    def test_help_s_heap_per_weight_is_the_memory_plan_s(self):
        # the help said "about 64 bytes per weight live, about 270 MB for mobilenetv1's p = 4.2M" after MemoryPlan's
        # SOLVER_HEAP_PER_WEIGHT had been raised to 72, because 64 fell short of mobilenetv1's measured peak
        usage = " ".join(self.solve_sh("-h").stdout.split())
        help_match = re.search(r"about (\d+) bytes per weight live, about (\d+) MB for mobilenetv1's p = 4\.2M", usage)
        self.assertIsNotNone(help_match, usage)
        plan = (ROOT / "java/cli/src/main/java/dev/falcon/cli/MemoryPlan.java").read_text()
        per_weight = int(re.search(r"static final long SOLVER_HEAP_PER_WEIGHT = (\d+);", plan).group(1))
        self.assertEqual(int(help_match.group(1)), per_weight)
        examples = (ROOT / "java/core/src/main/java/dev/falcon/examples/ExampleModels.java").read_text()
        p = int(re.search(r"\{@code mobilenetv1\}: .*?p = ([\d,]+)", examples).group(1).replace(",", ""))
        # "about": within 5% of p times the bytes per weight
        self.assertAlmostEqual(int(help_match.group(2)), per_weight * p / 1e6, delta=0.05 * per_weight * p / 1e6)

    def test_help_from_inside_benchmarks(self):
        # usage read "$0" after the script's cd to the repo root: ./solve.sh -h from benchmarks/ was "sed: can't read
        # ./solve.sh", exit 2
        r = subprocess.run(["./solve.sh", "-h"], cwd=self.root / "benchmarks", capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("benchmarks/solve.sh [EXAMPLE:N ...]", r.stdout)

    def test_an_example_in_any_case_and_a_zero_padded_n_run_as_falcon_takes_them(self):
        # falcon's --example takes ResNet20; the up-front check refused it as "not EXAMPLE:N"
        r = self.solve_sh("ResNet20:0100")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("--example resnet20 --n 0100", r.stderr)

    def test_an_example_in_another_case_gets_its_targets_and_is_saved_in_lower_case(self):
        # the targets were looked up by the name as typed: ResNet20:1000 printed and saved no target, and was saved as
        # example "ResNet20", another case than resnet20:1000 to anything keyed by it
        r = self.solve_sh("ResNet20:1000", "MobileNetV1:128")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        cases = json.loads(saved.read_text())["cases"]
        self.assertEqual([(c["example"], c["n"], c["target_solve_seconds"], c["target_rss_over_x"]) for c in cases],
                         [("resnet20", 1000, 10.0, None), ("mobilenetv1", 128, 30.0, 1.3)])
        lines = [line for line in r.stdout.splitlines() if " n=" in line]
        self.assertIn("(target <= 10 s)", lines[0])
        self.assertIn("(target <= 30 s)", lines[1])

    def test_a_case_that_is_not_example_colon_n_is_refused_before_anything_runs(self):
        # resnet20 ran as --n resnet20 ("'resnet20' is not a number"), and resnet20:64:1 was timed and saved as n = 1,
        # each after falcon env (and, with a bad case after good ones, after their solves)
        for case, why in (("resnet20", "benchmarks/solve.sh: case 'resnet20' needs :N, the number of samples (e.g. resnet20:1000)"),
                          ("resnet20:64:1", "benchmarks/solve.sh: case 'resnet20:64:1' is not EXAMPLE:N (e.g. resnet20:1000; "
                                            "benchmarks/solve.sh -h: its usage)"),
                          ("resnet20:", "benchmarks/solve.sh: case 'resnet20:' needs :N, the number of samples (e.g. resnet20:1000)"),
                          ("resnet20:0", "benchmarks/solve.sh: case 'resnet20:0': N, the number of samples, must be at least 1"),
                          ("-x", "benchmarks/solve.sh: -x: no such option (benchmarks/solve.sh -h: its usage)"),
                          # an unknown example was refused by falcon after the earlier cases' solves, and N read by $((...))
                          # wrapped: 2^63 as negative ("at least 1"), 10^20 passed to falcon
                          ("resnet21:10", "benchmarks/solve.sh: case 'resnet21:10': unknown example 'resnet21'; choose one "
                                          "of resnet20, mobilenetv1, resnet50"),
                          ("resnet20:9223372036854775808", "benchmarks/solve.sh: case 'resnet20:9223372036854775808': N, "
                                                           "the number of samples, must be at most 2147483647 (falcon's --n "
                                                           "is an int)"),
                          ("resnet20:99999999999999999999", "benchmarks/solve.sh: case 'resnet20:99999999999999999999': N, "
                                                            "the number of samples, must be at most 2147483647 (falcon's "
                                                            "--n is an int)"),
                          ("resnet20:2147483648", "benchmarks/solve.sh: case 'resnet20:2147483648': N, the number of "
                                                  "samples, must be at most 2147483647 (falcon's --n is an int)")):
            with self.subTest(case=case):
                r = self.solve_sh("resnet20:10", case)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertEqual(r.stderr.splitlines(), [why])
                self.assertFalse((self.root / "falcon.jar").exists(), "falcon ran")
                self.assertFalse((self.root / "benchmarks" / "results").exists())

    def test_the_launcher_s_first_use_build_is_not_timed(self):
        r = self.solve_sh("resnet20:10")
        self.assertEqual(r.returncode, 0, r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        [case] = json.loads(saved.read_text())["cases"]
        # the wall time was the build's 5 s plus the solve's
        self.assertLess(case["wall_seconds"], 4.0)

    def test_a_temporary_folder_with_a_space_in_its_path(self):
        # the cases were recorded space-separated: after every solve had run, "too many values to unpack", nothing saved
        tmpdir = self.root / "tmp dir"
        tmpdir.mkdir()
        r = self.solve_sh("resnet20:10", "resnet20:20", TMPDIR=str(tmpdir))
        self.assertEqual(r.returncode, 0, r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        self.assertEqual([c["n"] for c in json.loads(saved.read_text())["cases"]], [10, 20])

    def test_the_commit_is_the_one_the_runs_started_at(self):
        # bench.machine() ran after the last solve: a tracked file changed during the runs made them "uncommitted"
        head = commit_everything(self.root, "falcon.jar\nresults/\n")
        r = self.solve_sh("resnet20:10", MODIFY_DURING_RUN=str(self.root / ".gitignore"))
        self.assertEqual(r.returncode, 0, r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        self.assertEqual(json.loads(saved.read_text())["machine"]["git_commit"], head)


    def test_an_earlier_solve_s_result_file_is_no_uncommitted_change(self):
        # benchmarks/results/ is tracked in falcon and a solve's file stays untracked until committed: the second and
        # third solve.sh runs of 2026-12-06 were saved "<sha> (with uncommitted changes)" of the code the first measured
        head = commit_everything(self.root, "falcon.jar\n")
        results = self.root / "benchmarks" / "results"
        results.mkdir()
        (results / "solve-20261206-003827-vm.json").write_text("{}\n")
        (results / "harness-20261206-003800-vm.txt").write_text("# an earlier harness run\n")
        r = self.solve_sh("resnet20:10")
        self.assertEqual(r.returncode, 0, r.stderr)
        [saved] = [p for p in results.glob("solve-*.json") if p.name != "solve-20261206-003827-vm.json"]
        machine = json.loads(saved.read_text())["machine"]
        self.assertEqual(machine["git_commit"], head)
        self.assertNotIn("git_status", machine)

    def test_targets_only_for_the_cases_they_were_set_for(self):
        # the targets were keyed by example alone: resnet20:64 printed "(target <= 10 s)" and saved
        # target_solve_seconds 10, mobilenetv1 at any n printed RSS/X "(target <= 1.3)"
        r = self.solve_sh("resnet20:64", "mobilenetv1:64", "resnet20:1000", "mobilenetv1:128")
        self.assertEqual(r.returncode, 0, r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        cases = json.loads(saved.read_text())["cases"]
        self.assertEqual([(c["example"], c["n"], c["target_solve_seconds"]) for c in cases],
                         [("resnet20", 64, None), ("mobilenetv1", 64, None), ("resnet20", 1000, 10.0), ("mobilenetv1", 128, 30.0)])
        self.assertEqual([c["target_rss_over_x"] for c in cases], [None, None, None, 1.3])
        lines = [line for line in r.stdout.splitlines() if " n=" in line]
        self.assertEqual(len(lines), 4, r.stdout)
        self.assertNotIn("target", lines[0])
        self.assertNotIn("target", lines[1])
        self.assertIn("(target <= 10 s)", lines[2])
        self.assertNotIn("(target <= 1.3)", lines[2])
        self.assertIn("(target <= 30 s)", lines[3])
        self.assertIn("(target <= 1.3)", lines[3])

    def test_the_java_recorded_is_the_one_the_launcher_runs(self):
        # machine.java was PATH's `java -version` (a JDK 17) while the launcher ran JAVA_HOME's (a JDK 25), and with
        # no java on PATH it was "unavailable ([Errno 2] No such file or directory: 'java')"
        jdk = self.root / "jdk" / "bin"
        jdk.mkdir(parents=True)
        (jdk / "java").write_text('#!/bin/sh\necho \'openjdk version "99.0.1" (the JAVA_HOME stand-in)\' >&2\n')
        (jdk / "java").chmod(0o755)
        path_bin = self.root / "path-bin"
        path_bin.mkdir()
        (path_bin / "java").write_text('#!/bin/sh\necho \'openjdk version "11.0.1" (the PATH stand-in)\' >&2\n')
        (path_bin / "java").chmod(0o755)
        r = self.solve_sh("resnet20:10", "resnet20:20", JAVA_HOME=str(self.root / "jdk"),
                          PATH=f"{path_bin}{os.pathsep}{os.environ['PATH']}")
        self.assertEqual(r.returncode, 0, r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        result = json.loads(saved.read_text())
        self.assertEqual(result["machine"]["java"], 'openjdk version "99.0.1" (the JAVA_HOME stand-in)')
        # each solve's own JVM, from its report
        self.assertEqual([c.get("java") for c in result["cases"]], ["99.0.1 (Stand-in VM)"] * 2)


    def test_the_heap_recorded_is_the_one_the_jvm_took_and_falcon_java_opts_is_recorded(self):
        # FALCON_JAVA_OPTS=-Xmx300m ran the JVM with a 300 MB heap and solve.sh printed and saved FALCON_HEAP's 2g,
        # FALCON_JAVA_OPTS itself nowhere
        r = self.solve_sh("resnet20:10", FALCON_JAVA_OPTS="-Dfalcon.backend=cpu -Xmx300m")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(FALCON_HEAP=2g FALCON_JAVA_OPTS=-Dfalcon.backend=cpu -Xmx300m: Java heap max 300m (stand-in))",
                      r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        [case] = json.loads(saved.read_text())["cases"]
        self.assertEqual((case["falcon_heap"], case.get("java_heap_max"), case.get("falcon_java_opts")),
                         ("2g", "300m (stand-in)", "-Dfalcon.backend=cpu -Xmx300m"))

    def test_without_falcon_java_opts_the_heap_is_falcon_heap_s(self):
        r = self.solve_sh("resnet20:10", FALCON_HEAP="3g", FALCON_JAVA_OPTS="")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(FALCON_HEAP=3g: Java heap max 3g (stand-in))", r.stderr)
        [saved] = (self.root / "benchmarks" / "results").glob("solve-*.json")
        [case] = json.loads(saved.read_text())["cases"]
        self.assertEqual((case["falcon_heap"], case.get("java_heap_max"), case.get("falcon_java_opts")),
                         ("3g", "3g (stand-in)", ""))


if __name__ == "__main__":
    unittest.main()
