"""benchmarks/run.sh's handling of JMH_ARGS, on a copy of the script with a stand-in for java (standard library only)."""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
import unittest
from pathlib import Path

from _git import commit_everything
from _util import process_runs, still_running

ROOT = Path(__file__).resolve().parents[2]

# Records its arguments (one per line, then "--") and writes a one-entry JMH result where -rff asks for it (without
# -rff, as for JMH's lists -l and -lp, it lists the benchmarks and parameters the pattern matches). A pattern
# naming "Failing" fails as JMH 1.37 does: with -foe true an empty result file and exit 1, without it a result file
# that lacks the failed benchmark (here: none) and exit 0. "Partial" has two trials, backendName=cpu and java, of which
# java fails: with -foe true JMH ends and saves neither, without it saves the cpu trial. A pattern with an unclosed
# group (any of the patterns a listing names) is no regex to JMH (a stack trace and exit 1, in any mode); one naming
# "NoSuch" matches nothing; "Slow" names a benchmark of its own (two patterns that list one benchmark are refused).
FAKE_JAVA = """#!/usr/bin/env bash
[ "${1:-}" = -version ] && { echo 'stand-in java' >&2; exit 0; }
printf '%s\\n' "$@" -- >> "$JAVA_ARGS_LOG"
pattern=$4 foe=false out=
case $4 in -l|-lp|-lprof|-lrf) pattern=${5:-} ;; esac
for a in "${@:4}"; do
  if [[ $a == *"("* && $a != *")"* ]]; then bad=$a; break; fi
done
while [ $# -gt 0 ]; do [ "$1" = -rff ] && out=$2; [ "$1" = -foe ] && foe=$2; shift; done
# a benchmark run, not a listing: what changes the tree is a run of hours
[ -n "${MODIFY_DURING_RUN:-}" ] && [ -n "$out" ] && echo changed >> "$MODIFY_DURING_RUN"
# "Slow": the first run measures until it is stopped, as a JMH host JVM with its fork (here a sleep) does, and, like a
# JVM, ends with exit 130 on SIGINT; it writes "HOST_PID FORK_PID" to $SLOW_PIDS once both run
if [[ $pattern == *Slow* && -n $out && ! -e ${SLOW_PIDS:-/nonexistent} ]]; then
  trap 'exit 130' INT
  sleep 60 & echo "$$ $!" > "$SLOW_PIDS.tmp"; mv "$SLOW_PIDS.tmp" "$SLOW_PIDS"
  wait
fi
if [ -n "${bad:-}" ]; then
  echo 'Exception in thread "main" java.util.regex.PatternSyntaxException: Unclosed group near index 5' >&2
  echo "$bad" >&2
  echo '	at java.base/java.util.regex.Pattern.error(Pattern.java:2028)' >&2
  echo '	at org.openjdk.jmh.runner.options.CommandLineOptions.<init>(CommandLineOptions.java:100)' >&2
  exit 1
fi
if [ -z "$out" ]; then
  echo 'Benchmarks: '
  case $pattern in
    *NoSuch*) ;;
    *Failing*) echo 'dev.falcon.bench.FailingBenchmark.fails' ;;
    *Partial*) echo 'dev.falcon.bench.PartialBenchmark.product'; echo '  param "backendName" = {cpu, java}' ;;
    *Slow*) echo 'dev.falcon.bench.SlowBenchmark.measure' ;;
    *) echo 'dev.falcon.bench.GramBenchmark.weightedGram'; echo '  param "n" = {1000}' ;;
  esac
  exit 0
fi
if [[ $pattern == *NoSuch* ]]; then echo 'No matching benchmarks. Miss-spelled regexp?' >&2; exit 1; fi
if [[ $pattern == *Failing* ]]; then
  echo "<failure>: java.lang.IllegalArgumentException: unknown backend"
  if [ "$foe" = true ]; then : > "$out"; echo 'Benchmark had encountered error, and fail on error was requested' >&2; exit 1; fi
  echo '[]' > "$out"; exit 0
fi
if [[ $pattern == *Partial* ]]; then
  echo "<failure>: java.lang.IllegalStateException: layout=panels: the java backend stores X column-major"
  if [ "$foe" = true ]; then : > "$out"; echo 'Benchmark had encountered error, and fail on error was requested' >&2; exit 1; fi
  echo '[{"benchmark": "dev.falcon.bench.PartialBenchmark.product", "mode": "avgt", "params": {"backendName": "cpu"},
    "primaryMetric": {"score": 3.0, "scoreUnit": "ms/op"}}]' > "$out"; exit 0
fi
if [[ $pattern == *Slow* ]]; then
  echo '[{"benchmark": "dev.falcon.bench.SlowBenchmark.measure", "mode": "avgt", "params": {},
    "primaryMetric": {"score": 60000.0, "scoreUnit": "ms/op"}}]' > "$out"; exit 0
fi
echo '[{"benchmark": "dev.falcon.bench.GramBenchmark.weightedGram", "mode": "avgt", "params": {"n": "1000"},
  "primaryMetric": {"score": 15.0, "scoreUnit": "ms/op"}}]' > "$out"
"""

# Records its arguments and "builds" the jar (run.sh's rebuild step); with SLOW_MVN_PIDS, builds until it is stopped (its
# JVM: a sleep), once both are written there as "MVN_PID SLEEP_PID".
FAKE_MVN = """#!/usr/bin/env bash
echo "$@" >> "$MVN_ARGS_LOG"
if [ -n "${SLOW_MVN_PIDS:-}" ]; then
  sleep 60 & echo "$$ $!" > "$SLOW_MVN_PIDS.tmp"; mv "$SLOW_MVN_PIDS.tmp" "$SLOW_MVN_PIDS"
  wait
fi
if [ -n "${MVN_FAILS:-}" ]; then echo "[ERROR] Failed to execute goal on project falcon-benchmarks: Could not resolve dependencies"; exit 1; fi
touch benchmarks/target/benchmarks.jar
"""


# What benchmarks/target/benchmarks.jar is built from (benchmarks/pom.xml's falcon modules and what they build:
# their main sources, the native kernels and their compiler flags), and files beside them that are not
BUILD_INPUTS = ("pom.xml", "benchmarks/pom.xml", "cmake/FalconCompilerFlags.cmake", "native/kernels.h",
                "native/cuda/falcon_cuda.cu", "java/core/pom.xml", "java/cuda/pom.xml",
                "java/core/src/main/java/dev/falcon/solve/FalconSolver.java",
                "java/cpu/src/main/resources/META-INF/services/dev.falcon.backend.BackendProvider",
                "benchmarks/src/main/java/dev/falcon/bench/GramBenchmark.java")
NOT_BUILD_INPUTS = ("java/cli/pom.xml", "java/cli/src/main/java/dev/falcon/cli/Main.java",
                    "java/core/src/test/java/dev/falcon/solve/FalconSolverTest.java",
                    "benchmarks/src/test/java/dev/falcon/bench/BenchTest.java", "native/README.md",
                    "native/build/CMakeCache.txt", "java/cpu/target/classes/Kernels.class")


class RunShTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        bench = self.root / "benchmarks"
        for d in ("java/cpu/target", "native", "cmake", "benchmarks/src", "benchmarks/target", "bin"):
            (self.root / d).mkdir(parents=True)
        for source in (*BUILD_INPUTS, *NOT_BUILD_INPUTS):
            (self.root / source).parent.mkdir(parents=True, exist_ok=True)
            (self.root / source).touch()
        for script in ("run.sh", "script-common.sh"):
            shutil.copy(ROOT / "benchmarks" / script, bench / script)
        shutil.copy(ROOT / "benchmarks" / "bench.py", bench / "bench.py")
        self.jar = bench / "target" / "benchmarks.jar"
        self.jar.touch()
        os.utime(self.jar, (1e9 + 100, 1e9 + 100))  # newer than every source: no build
        for source in (*BUILD_INPUTS, *NOT_BUILD_INPUTS):
            os.utime(self.root / source, (1e9, 1e9))
        for tool, script in (("java", FAKE_JAVA), ("mvn", FAKE_MVN)):
            path = self.root / "bin" / tool
            path.write_text(script)
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.mvn_log = self.root / "mvn-args.txt"
        self.log = self.root / "java-args.txt"

    def tearDown(self):
        self.tmp.cleanup()

    def run_sh(self, jmh_args="", args=("1", "GramBenchmark"), **more_env):
        # without JAVA_HOME (unless a test gives it), so that run.sh takes the stand-in java on PATH
        env = dict({k: v for k, v in os.environ.items() if k != "JAVA_HOME"}, JMH_ARGS=jmh_args, JAVA_ARGS_LOG=str(self.log),
                   MVN_ARGS_LOG=str(self.mvn_log), PATH=f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}")
        env.update(more_env)
        return subprocess.run([str(self.root / "benchmarks" / "run.sh"), *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=120)

    def saved(self):
        results = self.root / "benchmarks" / "results"
        return sorted(results.iterdir()) if results.exists() else []

    def benchmark_runs(self):
        """The java calls that ran benchmarks (those writing a result file), not the listings run.sh checks patterns with."""
        return [c for c in self.java_calls() if "-rff" in c]

    def java_calls(self):
        calls, call = [], []
        for line in self.log.read_text().splitlines():
            if line == "--":
                calls.append(call)
                call = []
            else:
                call.append(line)
        return calls

    def start_run_sh(self, args, **more_env):
        """run.sh started in a session of its own, as from a terminal (Ctrl-C signals its whole process group), its
        output in files (a JVM left running would hold a pipe open)."""
        env = dict({k: v for k, v in os.environ.items() if k != "JAVA_HOME"}, JAVA_ARGS_LOG=str(self.log),
                   MVN_ARGS_LOG=str(self.mvn_log), PATH=f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}", **more_env)
        out, err = open(self.root / "run.out", "w"), open(self.root / "run.err", "w")
        self.addCleanup(out.close)
        self.addCleanup(err.close)
        return subprocess.Popen([str(self.root / "benchmarks" / "run.sh"), *args], cwd=self.root, env=env,
                                stdout=out, stderr=err, start_new_session=True)

    def slow_jmh_started(self, pids_file, what="the stand-in JMH run"):
        """The pids of the stand-in JMH JVM and its fork, once the first benchmark run measures (or of what else writes
        pids_file)."""
        deadline = time.monotonic() + 60
        while not pids_file.exists():
            self.assertLess(time.monotonic(), deadline, f"{what} did not start")
            time.sleep(0.05)
        pids = [int(v) for v in pids_file.read_text().split()]
        # whatever the test fails on, no process of this test outlives it
        self.addCleanup(lambda: [os.kill(pid, signal.SIGKILL) for pid in pids if process_runs(pid)])
        return pids

    def assert_ended(self, pids):
        self.assertEqual(still_running(pids), [], "JMH's JVM or its fork still runs")

    def test_ctrl_c_stops_the_whole_run_at_once_and_saves_nothing(self):
        # the JVM took the Ctrl-C and exited 130, which run.sh counted as one failed JMH run: it went on with the
        # remaining patterns and rounds and saved them as a result with "failed" trials (exit 1)
        pids_file = self.root / "slow-pids.txt"
        p = self.start_run_sh(("2", "SlowBenchmark", "GramBenchmark"), SLOW_PIDS=str(pids_file))
        pids = self.slow_jmh_started(pids_file)
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rc = p.wait(timeout=30)
        err = (self.root / "run.err").read_text()
        self.assertEqual(rc, -signal.SIGINT, err)
        self.assertIn("benchmarks/run.sh: stopped by SIGINT; nothing saved", err)
        self.assertNotIn("failed", err)
        self.assertEqual(len(self.benchmark_runs()), 1, self.benchmark_runs())
        self.assertEqual(self.saved(), [])
        self.assert_ended(pids)

    def test_kill_of_run_sh_alone_ends_its_jmh_jvms_and_saves_nothing(self):
        # `kill PID` ended the script and left the JMH JVM and its fork measuring (for ProductBenchmark, minutes of
        # both cores and a 4 GB X), writing into the temporary folder the script had removed
        pids_file = self.root / "slow-pids.txt"
        p = self.start_run_sh(("2", "SlowBenchmark", "GramBenchmark"), SLOW_PIDS=str(pids_file))
        pids = self.slow_jmh_started(pids_file)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        err = (self.root / "run.err").read_text()
        self.assertEqual(rc, -signal.SIGTERM, err)
        self.assert_ended(pids)
        self.assertIn("benchmarks/run.sh: stopped by SIGTERM; nothing saved", err)
        self.assertEqual(len(self.benchmark_runs()), 1, self.benchmark_runs())
        self.assertEqual(self.saved(), [])

    def test_kill_of_run_sh_during_the_build_ends_maven_and_saves_nothing(self):
        # the build ran in the foreground before any trap: `kill PID` ended the script and left Maven building (minutes
        # of CPU), rewriting benchmarks.jar behind it, where a later run.sh may read it
        os.utime(self.root / "pom.xml", (1e9 + 200, 1e9 + 200))  # the jar is stale: run.sh builds it
        pids_file = self.root / "slow-mvn-pids.txt"
        p = self.start_run_sh(("1", "GramBenchmark"), SLOW_MVN_PIDS=str(pids_file))
        pids = self.slow_jmh_started(pids_file, "the stand-in build")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        err = (self.root / "run.err").read_text()
        self.assertEqual(rc, -signal.SIGTERM, err)
        self.assertEqual(still_running(pids), [], "Maven still builds")
        self.assertIn("benchmarks/run.sh: stopped by SIGTERM; nothing saved", err)
        self.assertFalse(self.log.exists(), "JMH ran after the build was stopped")
        self.assertEqual(self.saved(), [])

    def path_without_java(self):
        """PATH's programs but java, and the stand-in mvn: a machine whose only Java is the one JAVA_HOME names."""
        bin_dir = self.root / "nojava-bin"
        bin_dir.mkdir()
        shutil.copy(self.root / "bin" / "mvn", bin_dir / "mvn")
        for d in os.environ["PATH"].split(os.pathsep):
            if os.path.isdir(d):
                for name in os.listdir(d):
                    if name != "java" and not (bin_dir / name).exists():
                        (bin_dir / name).symlink_to(Path(d) / name)
        return str(bin_dir)

    def test_the_java_is_java_home_s_where_it_is_set(self):
        # run.sh ran PATH's java under any JAVA_HOME (Maven built the jar with JAVA_HOME's JDK); with no java on PATH
        # every PATTERN was refused: "JMH could not list its benchmarks: ... java: command not found"
        jdk = self.root / "jdk" / "bin"
        jdk.mkdir(parents=True)
        shutil.copy(self.root / "bin" / "java", jdk / "java")
        (self.root / "bin" / "java").write_text("#!/bin/sh\necho 'the java on PATH ran' >&2\nexit 97\n")
        r = self.run_sh(JAVA_HOME=str(self.root / "jdk"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.benchmark_runs()), 1)
        self.assertEqual(len(self.saved()), 1)
        self.log.unlink()
        r = self.run_sh(JAVA_HOME=str(self.root / "jdk"), PATH=self.path_without_java())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.benchmark_runs()), 1)

    def test_no_java_is_said_to_be_no_java_not_a_bad_pattern(self):
        for java_home, why in (("/nonexistent", "benchmarks/run.sh: JAVA_HOME is '/nonexistent', which has no bin/java"),
                               (None, "benchmarks/run.sh: no Java: JAVA_HOME is not set and there is no java on PATH")):
            with self.subTest(JAVA_HOME=java_home):
                env = {"PATH": self.path_without_java()} if java_home is None else {"JAVA_HOME": java_home}
                r = self.run_sh(**env)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                [line] = r.stderr.splitlines()
                self.assertIn(why, line)
                self.assertFalse(self.log.exists())
                self.assertEqual(self.saved(), [])
                shutil.rmtree(self.root / "nojava-bin", ignore_errors=True)

    def test_jmh_args_are_split_like_a_shell_with_quotes_and_no_file_name_expansion(self):
        # unquoted, the exclusion regex .*Exact became the name of this file, and the quoted value was cut in two
        (self.root / ".probeExact").touch()
        r = self.run_sh('-e .*Exact   -jvmArgsPrepend "-Dfalcon.note=two words" ')
        self.assertEqual(r.returncode, 0, r.stderr)
        [call] = self.benchmark_runs()
        # the natives go to a cache of this clone's (the forked JVMs inherit it), not ~/.javacpp/cache/benchmarks.jar
        self.assertEqual(call[:4], ["-Dorg.bytedeco.javacpp.cachedir=benchmarks/target/javacpp-cache",
                                    "-jar", "benchmarks/target/benchmarks.jar", "GramBenchmark"])
        self.assertEqual(call[8:], ["-foe", "false", "-e", ".*Exact", "-jvmArgsPrepend", "-Dfalcon.note=two words"])
        [saved] = (self.root / "benchmarks" / "results").glob("*.json")
        result = json.loads(saved.read_text())
        self.assertIn("cpu", result["machine"])
        self.assertEqual([e["round"] for e in result["runs"]], [1])

    def make_git_checkout(self):
        """The copy as a clean checkout: what run.sh builds and writes (target/, the logs, bin/) ignored as in falcon's."""
        return commit_everything(self.root, "target/\nbin/\n*.txt\nresults/\n")

    def saved_machine(self):
        [saved] = (self.root / "benchmarks" / "results").glob("*.json")
        return json.loads(saved.read_text())["machine"]

    def test_an_untracked_source_makes_the_tree_dirty(self):
        # run.sh compiles a new source under benchmarks/src into the jar; --untracked-files=no recorded a clean commit
        head = self.make_git_checkout()
        (self.root / "benchmarks/src/main/java/dev/falcon/bench/Extra.java").write_text("class Extra {}\n")
        r = self.run_sh()
        self.assertEqual(r.returncode, 0, r.stderr)
        machine = self.saved_machine()
        self.assertEqual(machine["git_commit"], head + " (with uncommitted changes)")
        self.assertEqual(machine["git_status"], ["?? benchmarks/src/main/java/dev/falcon/bench/Extra.java"])

    def test_an_earlier_run_s_result_file_is_no_uncommitted_change(self):
        # benchmarks/results/ is tracked in falcon (the saved runs are the record) and a run's file stays untracked
        # until committed: the second run of a session was saved "<sha> (with uncommitted changes)" of the same code
        head = commit_everything(self.root, "target/\nbin/\n*.txt\n")
        self.assertEqual(self.run_sh().returncode, 0)
        [first] = self.saved()
        self.assertEqual(json.loads(first.read_text())["machine"]["git_commit"], head)
        time.sleep(1.1)  # the file name holds the second
        r = self.run_sh()
        self.assertEqual(r.returncode, 0, r.stderr)
        second = [p for p in self.saved() if p != first]
        self.assertEqual(len(second), 1, self.saved())
        machine = json.loads(second[0].read_text())["machine"]
        self.assertEqual(machine["git_commit"], head)
        self.assertNotIn("git_status", machine)
        # a real change next to the result files is still one
        (self.root / "benchmarks/src/Extra.java").write_text("class Extra {}\n")
        time.sleep(1.1)
        r = self.run_sh()
        self.assertEqual(r.returncode, 0, r.stderr)
        [third] = [p for p in self.saved() if p not in (first, second[0])]
        machine = json.loads(third.read_text())["machine"]
        self.assertEqual(machine["git_commit"], head + " (with uncommitted changes)")
        self.assertEqual(machine["git_status"], ["?? benchmarks/src/Extra.java"])

    def test_the_commit_and_date_are_those_of_the_run_s_start(self):
        # taken at the merge, they described the tree as it was hours later: here a tracked file changed during the run
        head = self.make_git_checkout()
        before = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        r = self.run_sh(MODIFY_DURING_RUN=str(self.root / "native" / "kernels.h"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.root / "native" / "kernels.h").read_text(), "changed\n")
        machine = self.saved_machine()
        self.assertEqual(machine["git_commit"], head)
        self.assertNotIn("git_status", machine)
        self.assertGreaterEqual(machine["date"], before)

    def test_an_unbalanced_quote_stops_before_any_benchmark_naming_the_variable(self):
        r = self.run_sh('-jvmArgsPrepend "-Dfalcon.note=two words')
        self.assertEqual(r.returncode, 2)
        self.assertIn("JMH_ARGS has an unbalanced quote", r.stderr)
        self.assertFalse(self.log.exists())
        self.assertFalse((self.root / "benchmarks" / "results").exists())

    def test_a_result_format_or_file_in_jmh_args_is_refused_before_anything_runs(self):
        # run.sh sets -rf json -rff itself: the patterns' check passed, then JMH failed every run on "multiple arguments
        # for option rf", reported as "no benchmark results" once per pattern and round, exit 1. JMH's parser
        # (jopt-simple) reads --rf as -rf: the double-dash spelling went past the check and failed the same way
        for jmh_args in ("-f 1 -rf csv", "-rff out.json", "-rf=csv", "-rff=out.json",
                         "--rf csv", "-f 1 --rff out.json", "--rf=csv", "--rff=out.json"):
            with self.subTest(jmh_args=jmh_args):
                self.log.unlink(missing_ok=True)
                r = self.run_sh(jmh_args, args=("2", "GramBenchmark"))
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                [line] = r.stderr.splitlines()
                self.assertRegex(line, r"^benchmarks/run\.sh: JMH_ARGS has --?rff?\b.*run\.sh sets -rf json -rff itself")
                option = next(w for w in jmh_args.split() if w.lstrip("-").split("=")[0] in ("rf", "rff")).split("=")[0]
                self.assertIn(f"JMH_ARGS has {option}, ", line)
                self.assertFalse(self.log.exists())
                self.assertEqual(self.saved(), [])

    def test_a_run_in_which_every_benchmark_failed_saves_nothing_and_fails(self):
        # JMH 1.37 exits 0 after a failed benchmark unless -foe true: run.sh exited 0 and saved {"runs": []}
        r = self.run_sh(args=("2", "FailingBenchmark"))
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        # -foe false: JMH goes on past a failed trial and run.sh checks its file against the trials listed (with -foe
        # true a failure lost the trials that had succeeded in the same JMH run)
        self.assertEqual([c[c.index("-foe") + 1] for c in self.benchmark_runs()], ["false", "false"])
        self.assertIn("round 1: FailingBenchmark", r.stderr)
        self.assertEqual(self.saved(), [])
        # -foe false asked for: JMH goes on and exits 0, and the merge refuses a result with no benchmark in it
        self.log.unlink()
        r = self.run_sh("-foe false", args=("1", "FailingBenchmark"))
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        [call] = self.benchmark_runs()
        self.assertEqual(call.count("-foe"), 1)
        self.assertIn("no benchmark results", r.stderr)
        self.assertEqual(self.saved(), [])

    def test_a_fail_on_error_option_in_either_spelling_replaces_run_shs_own(self):
        # JMH reads --foe as -foe: run.sh added its own -foe false beside the user's --foe true and JMH failed the run on
        # "Found multiple arguments for option foe"
        for jmh_args in ("-foe true", "--foe true", "-foe=true", "--foe=true"):
            with self.subTest(jmh_args=jmh_args):
                self.log.unlink(missing_ok=True)
                self.run_sh(jmh_args, args=("1", "GramBenchmark"))
                [call] = self.benchmark_runs()
                self.assertEqual([a for a in call if a.lstrip("-").split("=")[0] == "foe"], [jmh_args.split()[0]])
                self.assertNotIn("false", call)

    def test_a_run_in_which_some_benchmarks_failed_saves_the_others_and_fails(self):
        r = self.run_sh(args=("2", "GramBenchmark", "FailingBenchmark"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("2 of 4 JMH runs failed", r.stderr)
        self.assertIn("round 2: FailingBenchmark", r.stderr)
        [saved] = self.saved()
        self.assertEqual([e["round"] for e in json.loads(saved.read_text())["runs"]], [1, 2])

    def test_rounds_with_a_leading_zero_are_decimal_throughout(self):
        # seq and [ -lt ] read 08 as 8, the closing count $((rounds * ...)) as bad octal: "08: value too great for base",
        # and the list of failed trials was lost while the last line still pointed to "the failed trials named above"
        r = self.run_sh(args=("08", "GramBenchmark", "FailingBenchmark"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("value too great for base", r.stderr)
        self.assertIn("8 of 16 JMH runs failed", r.stderr)
        self.assertIn("  round 8: FailingBenchmark", r.stderr)
        [saved] = self.saved()
        self.assertEqual([e["round"] for e in json.loads(saved.read_text())["runs"]], list(range(1, 9)))

    def test_rounds_below_1_are_said_to_be_so(self):
        # -1 was taken for a JMH option: "-1: JMH options go in JMH_ARGS"
        for rounds in ("0", "-1", "-08"):
            with self.subTest(rounds=rounds):
                r = self.run_sh(args=(rounds, "GramBenchmark"))
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertEqual(r.stderr.splitlines(), [f"benchmarks/run.sh: ROUNDS must be at least 1, not {rounds}"])
                self.assertFalse(self.log.exists())

    def test_a_bad_pattern_stops_before_round_1_with_one_line(self):
        # JMH's PatternSyntaxException and ~15 frames came back in every round, after the other patterns had run
        for pattern, why in (("Sort(", "PATTERN 'Sort(' is not a Java regular expression: Unclosed group near index 5"),
                             ("NoSuchBenchmark", "PATTERN 'NoSuchBenchmark' matches no benchmark")):
            with self.subTest(pattern=pattern):
                self.log.unlink(missing_ok=True)
                r = self.run_sh(args=("3", "GramBenchmark", pattern))
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                [line] = r.stderr.splitlines()
                self.assertIn(why, line)
                self.assertEqual(self.benchmark_runs(), [])
                self.assertEqual(self.saved(), [])

    def test_a_parameter_no_matched_benchmark_has_stops_before_round_1_with_one_line(self):
        # JMH ignores -p of a name no benchmark declares: '-p nosuch=1' ran the whole run on the defaults, saved, exit 0
        for jmh_args in ("-p nosuch=1", "-f 1 -p n=1000 -p nosuch=1,2"):
            with self.subTest(JMH_ARGS=jmh_args):
                self.log.unlink(missing_ok=True)
                r = self.run_sh(jmh_args, args=("3", "GramBenchmark", "PartialBenchmark"))
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                [line] = r.stderr.splitlines()
                self.assertIn("JMH_ARGS has -p nosuch", line)
                self.assertIn("backendName, n", line)
                self.assertEqual(self.benchmark_runs(), [])
                self.assertEqual(self.saved(), [])
        # a parameter of one of the patterns' benchmarks is enough: JMH sets it where a benchmark has it
        self.log.unlink(missing_ok=True)
        r = self.run_sh("-p n=1000 -p backendName=cpu", args=("1", "GramBenchmark", "PartialBenchmark"))
        self.assertNotIn("JMH_ARGS has -p", r.stderr)
        self.assertEqual(len(self.benchmark_runs()), 2, r.stderr)

    def test_two_patterns_matching_one_benchmark_stop_before_round_1_with_one_line(self):
        # 'run.sh 2 GramBenchmark Gram' measured weightedGram twice a round; since bench.py refuses two entries of one
        # benchmark and round (a merge mistake), the file the run saved, after its hours, could not be read back
        r = self.run_sh(args=("2", "GramBenchmark", "Gram"))
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        [line] = r.stderr.splitlines()
        self.assertIn("PATTERNs 'GramBenchmark' and 'Gram' both match dev.falcon.bench.GramBenchmark.weightedGram", line)
        self.assertEqual(self.benchmark_runs(), [])
        self.assertEqual(self.saved(), [])

    def test_a_failed_trial_keeps_the_trials_that_succeeded_in_the_same_jmh_run(self):
        # -foe true ended the JMH run at the java trial and JMH saved nothing: the cpu trial, measured, was thrown away
        # with it ("no JMH run succeeded; nothing saved") and the summary named only the pattern
        r = self.run_sh(args=("2", "PartialBenchmark", "GramBenchmark"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("2 of 4 JMH runs failed", r.stderr)
        for round_ in (1, 2):
            self.assertIn(f"  round {round_}: dev.falcon.bench.PartialBenchmark.product {{backendName=java}}\n", r.stderr)
        self.assertNotIn("backendName=cpu}", r.stderr)
        [saved] = self.saved()
        runs = json.loads(saved.read_text())["runs"]
        self.assertEqual(sorted((e["benchmark"].rsplit(".", 2)[-2], e.get("params"), e["round"]) for e in runs),
                         [("GramBenchmark", {"n": "1000"}, 1), ("GramBenchmark", {"n": "1000"}, 2),
                          ("PartialBenchmark", {"backendName": "cpu"}, 1), ("PartialBenchmark", {"backendName": "cpu"}, 2)])
        # asked for, -foe true still ends the JMH run at its first failure: that run is named, nothing of it saved
        self.log.unlink()
        r = self.run_sh("-foe true", args=("1", "PartialBenchmark", "GramBenchmark"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("round 1: PartialBenchmark (exit 1): no benchmark results", r.stderr)
        [_, saved] = self.saved()
        self.assertEqual([e["benchmark"].rsplit(".", 2)[-2] for e in json.loads(saved.read_text())["runs"]], ["GramBenchmark"])

    def test_help_is_run_sh_s_own(self):
        # -h went to JMH, whose help was followed by "bench.py: .../round*.json: cannot read it" and exit 2; --help
        # was "not a recognized option" to JMH
        for flag in ("-h", "--help"):
            with self.subTest(flag=flag):
                r = self.run_sh(args=(flag,))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("benchmarks/run.sh [ROUNDS] [PATTERN...]", r.stdout)
                self.assertIn("JMH_ARGS", r.stdout)
                self.assertEqual(r.stderr, "")
                self.assertFalse(self.log.exists())

    def test_listing_options_go_straight_to_jmh(self):
        # -l and -lp ran once per round as benchmarks, and the merge then found no round file: exit 2
        for args in (("-l",), ("-lp", "GramBenchmark"), ("3", "-lprof")):
            with self.subTest(args=args):
                self.log.unlink(missing_ok=True)
                r = self.run_sh("-p n=1000", args=args)
                self.assertEqual(r.returncode, 0, r.stderr)
                [call] = self.java_calls()
                self.assertEqual(call[3:], [a for a in args if a != "3"] + ["-p", "n=1000"])
                self.assertNotIn("bench.py", r.stderr)
                self.assertEqual(self.saved(), [])

    def test_a_bad_pattern_in_a_listing_is_one_line(self):
        # the listings went to JMH by exec, before the check of the patterns: `run.sh -l '('` printed JMH's stack
        # trace and exited 1, where README and the usage promise one line naming the PATTERN and exit 2
        for args in (("-l", "Sort("), ("-lp", "GramBenchmark", "Sort(")):
            with self.subTest(args=args):
                self.log.unlink(missing_ok=True)
                r = self.run_sh(args=args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertEqual(r.stderr.splitlines(),
                                 ["benchmarks/run.sh: PATTERN 'Sort(' is not a Java regular expression: Unclosed group near index 5"])
                self.assertEqual(self.saved(), [])

    def test_other_jmh_options_as_arguments_are_refused(self):
        # they were taken for patterns: "-f" and "1" each run as a regex of their own
        r = self.run_sh(args=("-f", "1", "GramBenchmark"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("JMH_ARGS", r.stderr)
        self.assertFalse(self.log.exists())

    def test_the_jar_is_rebuilt_after_a_change_to_any_build_input_and_only_then(self):
        # a build output of another module (the CLI's jar, built after the benchmarks) is no reason to rebuild
        (self.root / "java" / "cpu" / "target" / "falcon-cpu.jar").touch()
        self.assertEqual(self.run_sh().returncode, 0)
        self.assertFalse(self.mvn_log.exists(), self.mvn_log.read_text() if self.mvn_log.exists() else "")
        # nor is a change to the CLI, to a test or to a note: all of java/ and benchmarks/src counted
        for source in NOT_BUILD_INPUTS:
            with self.subTest(changed=source):
                os.utime(self.root / source, (1e9 + 200, 1e9 + 200))
                r = self.run_sh()
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertFalse(self.mvn_log.exists(), self.mvn_log.read_text() if self.mvn_log.exists() else "")
                os.utime(self.root / source, (1e9, 1e9))
        # the compiler flags of the native kernels, and the POMs, change what the benchmarks measure
        for source in BUILD_INPUTS:
            with self.subTest(changed=source):
                os.utime(self.jar, (1e9 + 100, 1e9 + 100))
                os.utime(self.root / source, (1e9 + 200, 1e9 + 200))
                self.mvn_log.unlink(missing_ok=True)
                r = self.run_sh()
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("package -pl benchmarks -am", self.mvn_log.read_text())
                os.utime(self.root / source, (1e9, 1e9))

    def test_the_modules_checked_are_those_the_benchmarks_depend_on(self):
        # a falcon module added to benchmarks/pom.xml must join the check, or a change to it would not rebuild
        pom = (ROOT / "benchmarks" / "pom.xml").read_text()
        direct = set(re.findall(r"<artifactId>falcon-(\w+)</artifactId>", pom.split("<dependencies>", 1)[1]))
        modules, todo = set(), set(direct)
        while todo:
            m = todo.pop()
            modules.add(m)
            deps = (ROOT / "java" / m / "pom.xml").read_text().split("<dependencies>", 1)[1]
            todo |= {d for d in re.findall(r"<artifactId>falcon-(\w+)</artifactId>(?!<type>test-jar)", deps)} - modules
        script = (ROOT / "benchmarks" / "run.sh").read_text()
        self.assertEqual(set(re.search(r"^build_modules=\((.*)\)$", script, re.M).group(1).split()), modules)

    def test_falcon_offline_is_on_only_for_1_as_in_the_launcher(self):
        # any value, FALCON_OFFLINE=0 too, built with mvn -o
        for value, offline in (("1", True), ("0", False), ("", False), ("yes", False)):
            with self.subTest(FALCON_OFFLINE=value):
                os.utime(self.jar, (1e9 + 100, 1e9 + 100))
                os.utime(self.root / "pom.xml", (1e9 + 200, 1e9 + 200))
                self.mvn_log.unlink(missing_ok=True)
                r = self.run_sh(FALCON_OFFLINE=value)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual("-o" in self.mvn_log.read_text().split(), offline, self.mvn_log.read_text())

    def test_a_failed_build_of_the_jar_is_said_in_one_line_of_run_shs_own_with_its_own_status(self):
        # Maven's [ERROR] lines alone ended the script with exit 1, the status of a run whose trials failed
        os.utime(self.root / "pom.xml", (1e9 + 200, 1e9 + 200))
        for value, offline in (("1", True), ("", False)):
            with self.subTest(FALCON_OFFLINE=value):
                r = self.run_sh(FALCON_OFFLINE=value, MVN_FAILS="1")
                self.assertEqual(r.returncode, 3, r.stderr)
                said = [line for line in r.stderr.splitlines() if line.startswith("benchmarks/run.sh:")]
                self.assertEqual(len(said), 1, r.stderr)
                self.assertIn("building benchmarks/target/benchmarks.jar failed", said[0])
                self.assertEqual("FALCON_OFFLINE=1" in said[0], offline, said[0])
                self.assertFalse(self.log.exists(), "no benchmark runs without its jar")
                self.assertEqual(self.saved(), [])


class GpuBundleOfflineTest(unittest.TestCase):
    def test_falcon_offline_is_on_only_for_1_as_in_the_launcher(self):
        # scripts/gpu-bundle.sh, which run.sh's usage names beside the launcher, had the same ${FALCON_OFFLINE:+-o}
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            (root / "scripts").mkdir()
            (root / "bin").mkdir()
            shutil.copy(ROOT / "scripts" / "gpu-bundle.sh", root / "scripts" / "gpu-bundle.sh")
            mvn = root / "bin" / "mvn"
            # records the build's arguments and stops the script there: the rest needs a JDK's jlink and the jars
            mvn.write_text('#!/usr/bin/env bash\necho "$@" > "$MVN_ARGS_LOG"\nexit 3\n')
            mvn.chmod(mvn.stat().st_mode | stat.S_IXUSR)
            log = root / "mvn-args.txt"
            for value, offline in (("1", True), ("0", False), ("", False)):
                with self.subTest(FALCON_OFFLINE=value):
                    env = dict(os.environ, FALCON_OFFLINE=value, MVN_ARGS_LOG=str(log), PATH=f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}")
                    r = subprocess.run([str(root / "scripts" / "gpu-bundle.sh")], env=env, capture_output=True, text=True, timeout=60)
                    self.assertEqual(r.returncode, 3, r.stderr)
                    self.assertEqual("-o" in log.read_text().split(), offline, log.read_text())


# Stands in for the JDK's jlink: the runtime it "writes" has a java that answers the kernels check as STAND_IN_KERNELS
# says ("built" or "stub") and records the class it was asked to run.
FAKE_JLINK = """#!/usr/bin/env bash
while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
mkdir -p "$out/bin"
cat > "$out/bin/java" <<'JAVA'
#!/usr/bin/env bash
echo "$*" >> "$JAVA_CALLS_LOG"
if [ "$STAND_IN_KERNELS" = built ]; then echo "kernels: nvcc 13.0, static CUDA runtime, compute 800,900"; exit 0; fi
echo "not built: falcon CUDA kernels were not built (nvcc absent at build time)"; exit 1
JAVA
chmod +x "$out/bin/java"
"""


class GpuBundleTest(unittest.TestCase):
    """scripts/gpu-bundle.sh --no-build on a copy of the repository's layout with empty jars and a stand-in jlink."""

    JARS = ["java/cli/target/falcon.jar", "java/core/target/falcon-core-0.1.0-SNAPSHOT-tests.jar",
            "java/cuda/target/falcon-cuda-0.1.0-SNAPSHOT-tests.jar", "benchmarks/target/falcon-benchmarks-0.1.0-SNAPSHOT.jar",
            "m2/org/junit/platform/junit-platform-console-standalone/1.11.4/junit-platform-console-standalone-1.11.4.jar",
            "m2/org/openjdk/jmh/jmh-core/1.37/jmh-core-1.37.jar", "m2/net/sf/jopt-simple/jopt-simple/5.0.4/jopt-simple-5.0.4.jar",
            "m2/org/apache/commons/commons-math3/3.6.1/commons-math3-3.6.1.jar"]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        (self.root / "scripts").mkdir()
        shutil.copy(ROOT / "scripts" / "gpu-bundle.sh", self.root / "scripts" / "gpu-bundle.sh")
        (self.root / "benchmarks").mkdir()
        shutil.copy(ROOT / "benchmarks" / "script-common.sh", self.root / "benchmarks" / "script-common.sh")
        for jar in self.JARS:
            (self.root / jar).parent.mkdir(parents=True, exist_ok=True)
            (self.root / jar).write_bytes(b"")
        tools = self.root / "tools"
        tools.mkdir()
        (tools / "jlink").write_text(FAKE_JLINK)
        (tools / "jlink").chmod(0o755)
        self.java_calls = self.root / "java-calls.txt"
        self.out = self.root / "bundle"
        self.env = dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", MAVEN_REPO=str(self.root / "m2"),
                        JAVA_CALLS_LOG=str(self.java_calls), TMPDIR=str(self.root))

    def tearDown(self):
        self.tmp.cleanup()

    def bundle(self, *args, kernels="built"):
        return subprocess.run([str(self.root / "scripts" / "gpu-bundle.sh"), *args], env=dict(self.env, STAND_IN_KERNELS=kernels),
                              capture_output=True, text=True, timeout=60)

    def test_out_without_a_value_is_bad_usage(self):
        # under set -u, `--out` alone ended the script with bash's "$2: unbound variable" and exit 1
        r = self.bundle("--out")
        self.assertEqual(2, r.returncode, r.stderr)
        self.assertTrue(r.stderr.startswith("usage: "), r.stderr)
        self.assertNotIn("unbound variable", r.stderr)

    def test_an_option_as_the_out_folder_is_bad_usage_before_any_build(self):
        # `--out -h` took -h as the folder, ran the whole build, then ended in mkdir's "invalid option -- 'h'", exit 1
        mvn_calls = self.root / "mvn-calls.txt"
        (self.root / "tools" / "mvn").write_text(f'#!/usr/bin/env bash\necho "$@" >> {mvn_calls}\nexit 3\n')
        (self.root / "tools" / "mvn").chmod(0o755)
        for args in (("--out", "-h"), ("--out", "--help"), ("--out", "--no-build"), ("--no-build", "--out", "-x")):
            with self.subTest(args=args):
                r = self.bundle(*args)
                self.assertEqual(2, r.returncode, r.stdout + r.stderr)
                self.assertIn(f"--out needs a folder, but '{args[-1]}' is an option", r.stderr)
                self.assertNotIn("building jars", r.stderr)
                self.assertFalse(mvn_calls.exists(), "no build ran")
                self.assertFalse(self.java_calls.exists(), "nothing ran")

    def test_help_prints_the_usage_on_stdout_and_exits_0(self):
        # -h and --help were bad usage: "usage: scripts/gpu-bundle.sh [--no-build] [--out DIR]" on stderr, exit 2,
        # where run.sh, solve.sh and device-figures.sh print their whole usage on stdout with exit 0
        for args in (("-h",), ("--help",), ("--no-build", "--help")):
            with self.subTest(args=args):
                r = self.bundle(*args)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertIn("scripts/gpu-bundle.sh [--no-build] [--out DIR]", r.stdout)
                self.assertIn("--no-build packs the jars already built", r.stdout)
                self.assertNotIn("set -euo pipefail", r.stdout)
                self.assertFalse(self.java_calls.exists(), "nothing ran")
                self.assertFalse(self.out.exists())

    def test_a_bundle_of_real_kernels_is_written_and_names_their_architectures(self):
        r = self.bundle("--no-build", "--out", str(self.out))
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertTrue((self.out / "falcon-gpu.tar.gz").exists())
        self.assertIn("compute 800,900", r.stdout + r.stderr)
        # the check runs the bundle's own runtime on the bundle's falcon.jar, with the class that checks the kernels
        call = self.java_calls.read_text()
        self.assertRegex(call, r"-cp \S*/falcon-gpu/lib/falcon\.jar dev\.falcon\.cuda\.CudaKernels")
        self.assertTrue((ROOT / "java/cuda/src/main/java/dev/falcon/cuda/CudaKernels.java").exists())

    def test_no_build_without_the_jars_names_them_and_the_command_that_builds_them(self):
        # on a clone built as README's first commands build it (no benchmarks module), --no-build ran jlink and ended
        # with a bare "cp: cannot stat '.../benchmarks/target/falcon-benchmarks-0.1.0-SNAPSHOT.jar'", exit 1
        missing = [self.root / self.JARS[4], self.root / "benchmarks/target/falcon-benchmarks-0.1.0-SNAPSHOT.jar"]  # the bundle's order
        for jar in missing:
            jar.unlink()
        r = self.bundle("--no-build", "--out", str(self.out))
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertEqual(1, len(r.stderr.splitlines()), r.stderr)
        self.assertNotIn("cannot stat", r.stderr)
        self.assertIn("--no-build needs the jars a full build makes, and these are not there: "
                      + ", ".join(str(jar) for jar in missing) + ".", r.stderr)
        self.assertIn(f"(cd {self.root} && mvn -B -DskipTests -Dfalcon.python.skip=true package -pl java/cli,java/cuda,benchmarks -am"
                      " && mvn -B dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4)", r.stderr)
        self.assertNotIn(str(self.root / "java/cli/target/falcon.jar"), r.stderr, "a jar that is there is not named")
        self.assertFalse(self.out.exists(), "no bundle folder")
        self.assertFalse(self.java_calls.exists(), "nothing ran: the runtime was not even made")
        self.assertEqual(sorted(p.name for p in self.root.iterdir()), ["benchmarks", "java", "m2", "scripts", "tools"],
                         "no staging folder left behind")

    def test_a_falcon_jar_with_the_stub_kernels_is_refused(self):
        # a build without nvcc (or with -Dfalcon.cuda=OFF) packs the "not built" stub: the bundle was written, exit 0,
        # and every GPU step on the server failed
        r = self.bundle("--no-build", "--out", str(self.out), kernels="stub")
        self.assertEqual(2, r.returncode, r.stdout + r.stderr)
        self.assertIn("falcon CUDA kernels were not built (nvcc absent at build time)", r.stderr)
        self.assertIn(str(self.root / "java/cli/target/falcon.jar"), r.stderr)
        self.assertFalse((self.out / "falcon-gpu.tar.gz").exists())


# Two JMH benchmarks for the bundle's bin/benchmarks to run in real JMH forks: one that runs, one whose trial fails
TINY_BENCHMARK = """package tiny;
import org.openjdk.jmh.annotations.Benchmark;
public class Tiny {
  @Benchmark public int runs() { return 42; }
  @Benchmark public int fails() { throw new IllegalStateException("this trial fails"); }
}
"""
# Stands in for jlink: the runtime's java answers the kernels check as a bundle of real kernels, and is the JDK's java
# for anything else (JMH and its forks)
REAL_JAVA_JLINK = """#!/usr/bin/env bash
while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
mkdir -p "$out/bin"
cat > "$out/bin/java" <<JAVA
#!/usr/bin/env bash
[[ "\\$*" == *dev.falcon.cuda.CudaKernels* ]] && { echo "kernels: compute 800,900"; exit 0; }
exec $(type -P java) "\\$@"
JAVA
chmod +x "$out/bin/java"
"""


class BundleBenchmarksTest(unittest.TestCase):
    """The bundle's bin/benchmarks, from scripts/gpu-bundle.sh --no-build, running real JMH (the jars of the Maven
    repository the build used) on two tiny benchmarks compiled here."""

    def setUp(self):
        m2 = Path(os.environ.get("MAVEN_REPO", Path.home() / ".m2" / "repository"))
        jmh = {"jmh-core": m2 / "org/openjdk/jmh/jmh-core/1.37/jmh-core-1.37.jar",
               "annprocess": m2 / "org/openjdk/jmh/jmh-generator-annprocess/1.37/jmh-generator-annprocess-1.37.jar",
               "jopt": m2 / "net/sf/jopt-simple/jopt-simple/5.0.4/jopt-simple-5.0.4.jar",
               "math3": m2 / "org/apache/commons/commons-math3/3.6.1/commons-math3-3.6.1.jar"}
        missing = [str(jar) for jar in jmh.values() if not jar.exists()]
        if missing:
            self.skipTest(f"JMH's jars are not in the Maven repository (mvn -B package -pl benchmarks -am fetches them): {missing}")
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.root = Path(self.tmp.name)
        (self.root / "scripts").mkdir()
        shutil.copy(ROOT / "scripts" / "gpu-bundle.sh", self.root / "scripts" / "gpu-bundle.sh")
        for jar in GpuBundleTest.JARS:
            (self.root / jar).parent.mkdir(parents=True, exist_ok=True)
            (self.root / jar).write_bytes(b"")
        for name in ("jmh-core", "jopt", "math3"):
            shutil.copy(jmh[name], self.root / "m2" / jmh[name].relative_to(m2))
        src, classes = self.root / "tiny-src", self.root / "tiny-classes"
        (src / "tiny").mkdir(parents=True)
        (src / "tiny" / "Tiny.java").write_text(TINY_BENCHMARK)
        classes.mkdir()
        subprocess.run(["javac", "-processor", "org.openjdk.jmh.generators.BenchmarkProcessor",
                        "-cp", f"{jmh['jmh-core']}:{jmh['annprocess']}", "-d", str(classes), str(src / "tiny" / "Tiny.java")],
                       check=True, capture_output=True, timeout=120)
        shutil.make_archive(str(self.root / "tiny"), "zip", classes)
        shutil.move(self.root / "tiny.zip", self.root / "benchmarks/target/falcon-benchmarks-0.1.0-SNAPSHOT.jar")
        tools = self.root / "tools"
        tools.mkdir()
        (tools / "jlink").write_text(REAL_JAVA_JLINK)
        (tools / "jlink").chmod(0o755)
        env = dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", MAVEN_REPO=str(self.root / "m2"),
                   TMPDIR=str(self.root))
        r = subprocess.run([str(self.root / "scripts" / "gpu-bundle.sh"), "--no-build", "--out", str(self.root)], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(0, r.returncode, r.stderr)
        # unpacked where the path holds a space, as an unpack folder, a FALCON_CACHE or a TMPDIR may
        self.unpacked = self.root / "sp ace"
        self.unpacked.mkdir()
        with tarfile.open(self.root / "falcon-gpu.tar.gz") as bundle:
            bundle.extractall(self.unpacked)

    def benchmarks(self, pattern):
        return subprocess.run([str(self.unpacked / "falcon-gpu" / "bin" / "benchmarks"), pattern, "-f", "1", "-wi", "0",
                               "-i", "1", "-r", "100ms"], capture_output=True, text=True, timeout=120)

    def test_a_bundle_in_a_folder_with_a_space_runs_its_forks(self):
        # the options joined into one -jvmArgsPrepend, which JMH split at spaces: the fork's java took "ace/falcon-gpu/cache"
        # (the cache folder's path, cut at the space) as its main class, and the run still exited 0
        r = self.benchmarks("Tiny.runs$")
        self.assertNotIn("Could not find or load main class", r.stdout + r.stderr)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"Tiny\.runs\s+\S+\s+\d*\s*[0-9.,]+")

    def test_a_failed_trial_gives_exit_status_1(self):
        # JMH exits 0 when a trial fails, so that the other trials run: the failure was seen only by reading the output
        r = self.benchmarks("Tiny.fails$")
        self.assertIn("this trial fails", r.stdout + r.stderr)
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        self.assertIn("benchmarks: a trial failed", r.stderr)


if __name__ == "__main__":
    unittest.main()
