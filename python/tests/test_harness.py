"""benchmarks/native/kernel_harness.cpp: the C++ harness whose figures kernels_impl.h and README.md quote must keep
compiling against the kernels it measures (standard library only; needs g++)."""
import shutil
import subprocess
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "benchmarks" / "native" / "kernel_harness.cpp"


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


if __name__ == "__main__":
    unittest.main()
