"""benchmarks/native/kernel_harness.cpp: the C++ harness whose figures kernels_impl.h and README.md quote must keep
compiling against the kernels it measures, and harness.sh, which runs it (standard library only; needs g++)."""
import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

from _git import commit_everything

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "benchmarks" / "native" / "kernel_harness.cpp"


def have_avx512f():
    try:
        return any(line.startswith("flags") and " avx512f" in line for line in open("/proc/cpuinfo"))
    except OSError:
        return False


class KernelHarnessTest(unittest.TestCase):
    @unittest.skipIf(shutil.which("g++") is None, "g++ not installed")
    def test_the_harness_compiles_against_the_shipped_kernels(self):
        # the instruction set named, not -march=native: the check must not depend on the CPU it runs on
        r = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq",
                            "-mfma", "-mavx2", str(HARNESS)], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-4000:])

    def test_the_harness_includes_the_kernels_by_a_relative_path(self):
        # an absolute path measured another checkout's kernels (or none) without a word
        includes = [line for line in HARNESS.read_text().splitlines() if line.startswith("#include \"")]
        self.assertIn('#include "../../native/cpu/kernels_impl.h"', includes)
        self.assertTrue(all(not line.split('"')[1].startswith("/") for line in includes), includes)


@unittest.skipIf(shutil.which("g++") is None, "g++ not installed")
@unittest.skipUnless(have_avx512f(), "the harness runs AVX-512 kernels and this CPU has no avx512f")
class KernelHarnessArgumentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.bin = Path(cls.tmp.name) / "kernel_harness"
        # -O0: only the argument handling runs here, on no data
        subprocess.run(["g++", "-O0", "-march=native", "-std=c++17", "-pthread", "-o", str(cls.bin), str(HARNESS)],
                       check=True, capture_output=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def harness(self, *args, ceil=None):
        env = {k: v for k, v in os.environ.items() if k != "CEIL"}
        if ceil is not None:
            env["CEIL"] = ceil
        return subprocess.run([str(self.bin), *args], env=env, capture_output=True, text=True, timeout=60)

    def test_the_ceiling_mode_without_its_arguments_prints_its_usage(self):
        # it read argv[1..3] unchecked: CEIL=1 benchmarks/native/harness.sh died of a segmentation fault
        for args in ((), ("512",), ("512", "2000"), ("512", "0", "4"), ("512", "2000", "x")):
            with self.subTest(args=args):
                r = self.harness(*args, ceil="1")
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("usage: CEIL=1", r.stderr)
                self.assertEqual(r.stdout, "")

    def test_the_default_mode_refuses_arguments_it_cannot_measure_with_its_usage(self):
        # atoll/atoi read "abc" as P = 0 and a P below BLOCK left no whole block: five rounds of 0.0 GB/s, exit 0
        # (saved by harness.sh as a run); a BLOCK of 0 divided by zero (SIGFPE, exit 136)
        for args in (("abc",), ("",), ("1000", "2000", "1"), ("4000", "0", "1"), ("4000", "2000x"), ("4000", "2000", "x"),
                     ("4000", "2000", "-1"), ("4000", "2000", "1", "9")):
            with self.subTest(args=args):
                r = self.harness(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("usage: benchmarks/native/harness.sh [P [BLOCK [ROUNDS]]]", r.stderr)
                self.assertEqual(r.stdout, "")

    def test_ceil_0_or_empty_is_the_default_mode(self):
        # any CEIL at all chose the ceiling mode, CEIL=0 too; 0 rounds on a small X: the default mode prints nothing
        for ceil in ("0", ""):
            with self.subTest(CEIL=ceil):
                r = self.harness("4000", "2000", "0", ceil=ceil)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, "")


@unittest.skipUnless(have_avx512f(), "harness.sh stops at once on a CPU without avx512f")
class HarnessShTest(unittest.TestCase):
    @staticmethod
    def harness_tree(d):
        """A checkout holding harness.sh alone, as benchmarks/native/harness.sh under d."""
        native = Path(d) / "benchmarks" / "native"
        native.mkdir(parents=True)
        (Path(d) / "benchmarks" / "results").mkdir()
        shutil.copy(ROOT / "benchmarks" / "native" / "harness.sh", native / "harness.sh")
        return native

    @staticmethod
    def run_with_stand_in_compiler(d, native, harness_exit):
        """harness.sh run with a stand-in g++ whose harness prints one round and exits with harness_exit: the point is
        the script, not the kernels."""
        bin_dir = Path(d) / "bin"
        bin_dir.mkdir()
        gxx = bin_dir / "g++"
        gxx.write_text('#!/usr/bin/env bash\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\n'
                       f'printf \'#!/bin/sh\\necho "round 0: read 1.0"\\nexit {harness_exit}\\n\' > "$out"; chmod +x "$out"\n')
        gxx.chmod(gxx.stat().st_mode | stat.S_IXUSR)
        return subprocess.run([str(native / "harness.sh")], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"))

    def test_a_failed_run_leaves_no_partial_result(self):
        # a harness that failed left benchmarks/results/harness-*.txt.tmp behind
        with tempfile.TemporaryDirectory() as d:
            native = self.harness_tree(d)
            r = self.run_with_stand_in_compiler(d, native, 3)
            self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("round 0: read 1.0", r.stdout)
            self.assertEqual(sorted(p.name for p in (Path(d) / "benchmarks" / "results").iterdir()), [])

    @unittest.skipIf(shutil.which("g++") is None, "g++ not installed")
    def test_bad_arguments_stop_it_with_the_usage_and_save_nothing(self):
        # "harness.sh abc" and "harness.sh 1000 2000 1" saved benchmarks/results/harness-*.txt of 0.0 GB/s, exit 0
        with tempfile.TemporaryDirectory() as d:
            native = self.harness_tree(d)
            shutil.copy(HARNESS, native / "kernel_harness.cpp")
            (Path(d) / "native" / "cpu").mkdir(parents=True)
            for header in (ROOT / "native" / "cpu").glob("*.h"):
                shutil.copy(header, Path(d) / "native" / "cpu" / header.name)
            for args in (("abc",), ("1000", "2000", "1")):
                with self.subTest(args=args):
                    r = subprocess.run([str(native / "harness.sh"), *args], capture_output=True, text=True, timeout=300,
                                       env={k: v for k, v in os.environ.items() if k != "CEIL"})
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    self.assertIn("usage: benchmarks/native/harness.sh [P [BLOCK [ROUNDS]]]", r.stderr)
                    self.assertEqual(sorted(p.name for p in (Path(d) / "benchmarks" / "results").iterdir()), [])

    def test_staged_and_untracked_changes_are_uncommitted(self):
        # `git diff --quiet` saw neither a staged change nor a new file: the result said the commit alone
        for change in ("staged", "untracked"):
            with self.subTest(change=change), tempfile.TemporaryDirectory() as d:
                native = self.harness_tree(d)
                commit_everything(Path(d), "bin/\n")
                (native / "extra.h").write_text("// a header the harness could include\n")
                if change == "staged":
                    subprocess.run(["git", "-C", d, "add", "benchmarks/native/extra.h"], check=True)
                r = self.run_with_stand_in_compiler(d, native, 0)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                [saved] = (Path(d) / "benchmarks" / "results").glob("harness-*.txt")
                self.assertIn(" (uncommitted changes); CEIL=", saved.read_text())


    def test_earlier_result_files_are_no_uncommitted_change(self):
        # benchmarks/results/ is tracked in falcon and a run's file stays untracked until committed: every harness run
        # after another run of the session said "(uncommitted changes)" of the commit it measured
        with tempfile.TemporaryDirectory() as d:
            native = self.harness_tree(d)
            results = Path(d) / "benchmarks" / "results"
            (results / "kept.txt").write_text("committed\n")  # an empty folder is no part of a commit
            commit_everything(Path(d), "bin/\n")
            (results / "harness-20261206-003800-vm.txt").write_text("# an earlier harness run\n")
            (results / "20261206-004614-vm.json").write_text("{}\n")
            r = self.run_with_stand_in_compiler(d, native, 0)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            [saved] = [p for p in results.glob("harness-*.txt") if p.name != "harness-20261206-003800-vm.txt"]
            self.assertRegex(saved.read_text(), r"# commit [0-9a-f]+; CEIL=")

if __name__ == "__main__":
    unittest.main()
