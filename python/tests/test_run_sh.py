"""benchmarks/run.sh's handling of JMH_ARGS, on a copy of the script with a stand-in for java (standard library only)."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Records its arguments (one per line, then "--") and writes a one-entry JMH result where -rff asks for it.
FAKE_JAVA = """#!/usr/bin/env bash
[ "${1:-}" = -version ] && { echo 'stand-in java' >&2; exit 0; }
printf '%s\\n' "$@" -- >> "$JAVA_ARGS_LOG"
while [ $# -gt 0 ]; do [ "$1" = -rff ] && out=$2; shift; done
echo '[{"benchmark": "dev.falcon.bench.GramBenchmark.weightedGram", "mode": "avgt", "params": {"n": "1000"},
  "primaryMetric": {"score": 15.0, "scoreUnit": "ms/op"}}]' > "$out"
"""


class RunShTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        bench = self.root / "benchmarks"
        for d in ("java", "native", "benchmarks/src", "benchmarks/target", "bin"):
            (self.root / d).mkdir(parents=True)
        shutil.copy(ROOT / "benchmarks" / "run.sh", bench / "run.sh")
        shutil.copy(ROOT / "benchmarks" / "bench.py", bench / "bench.py")
        (bench / "target" / "benchmarks.jar").touch()  # newer than every source: no build
        java = self.root / "bin" / "java"
        java.write_text(FAKE_JAVA)
        java.chmod(java.stat().st_mode | stat.S_IXUSR)
        self.log = self.root / "java-args.txt"

    def tearDown(self):
        self.tmp.cleanup()

    def run_sh(self, jmh_args):
        env = dict(os.environ, JMH_ARGS=jmh_args, JAVA_ARGS_LOG=str(self.log),
                   PATH=f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}")
        return subprocess.run([str(self.root / "benchmarks" / "run.sh"), "1", "GramBenchmark"], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=120)

    def java_calls(self):
        calls, call = [], []
        for line in self.log.read_text().splitlines():
            if line == "--":
                calls.append(call)
                call = []
            else:
                call.append(line)
        return calls

    def test_jmh_args_are_split_like_a_shell_with_quotes_and_no_file_name_expansion(self):
        # unquoted, the exclusion regex .*Exact became the name of this file, and the quoted value was cut in two
        (self.root / ".probeExact").touch()
        r = self.run_sh('-e .*Exact   -jvmArgsPrepend "-Dfalcon.note=two words" ')
        self.assertEqual(r.returncode, 0, r.stderr)
        [call] = self.java_calls()
        self.assertEqual(call[:3], ["-jar", "benchmarks/target/benchmarks.jar", "GramBenchmark"])
        self.assertEqual(call[7:], ["-e", ".*Exact", "-jvmArgsPrepend", "-Dfalcon.note=two words"])
        [saved] = (self.root / "benchmarks" / "results").glob("*.json")
        result = json.loads(saved.read_text())
        self.assertIn("cpu", result["machine"])
        self.assertEqual([e["round"] for e in result["runs"]], [1])

    def test_an_unbalanced_quote_stops_before_any_benchmark_naming_the_variable(self):
        r = self.run_sh('-jvmArgsPrepend "-Dfalcon.note=two words')
        self.assertEqual(r.returncode, 2)
        self.assertIn("JMH_ARGS has an unbalanced quote", r.stderr)
        self.assertFalse(self.log.exists())
        self.assertFalse((self.root / "benchmarks" / "results").exists())


if __name__ == "__main__":
    unittest.main()
