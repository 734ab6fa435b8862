"""benchmarks/bench.py (no torch needed; run here because run_tests.sh is the repository's Python runner):
units, throughput results and compare's flags on small synthetic JMH files."""
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / "benchmarks"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
import bench  # noqa: E402


def entry(name, score, unit="ms/op", mode="avgt", **params):
    p = {"backendName": "cpu", "layout": "panels", "n": "512", "p": "2000000", "threads": "2"}
    p.update({k: str(v) for k, v in params.items()})
    return {"benchmark": "dev.falcon.bench." + name, "mode": mode, "params": p,
            "primaryMetric": {"score": score, "scoreUnit": unit}}


class BenchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def save(self, name, runs):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            json.dump({"machine": {}, "runs": runs}, f)
        return path

    def save_round(self, name, runs):
        """A round file as JMH writes it for run.sh (-rf json): the entries alone, which merge takes."""
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            json.dump(runs, f)
        return path

    def run_bench(self, fn, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = fn(*args)
        return rc, out.getvalue()

    def test_time_units(self):
        self.assertAlmostEqual(bench.to_ms(0.105, "s/op"), 105.0)
        self.assertAlmostEqual(bench.to_ms(11500.0, "us/op"), 11.5)
        base = self.save("base.json", [entry("SortBenchmark.sort", 10.0), entry("GramBenchmark.weightedGram", 5.0)])
        new = self.save("new.json", [entry("SortBenchmark.sort", 11500.0, "us/op"), entry("GramBenchmark.weightedGram", 0.0052, "s/op")])
        rc, out = self.run_bench(bench.compare, base, new)
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"SLOWER +SortBenchmark.sort +10.000 -> +11.500 ms \(\+15.0%\)")
        self.assertRegex(out, r"ok +GramBenchmark.weightedGram +5.000 -> +5.200 ms \(\+4.0%\)")

    def test_throughput_results(self):
        # JMH_ARGS="-bm thrpt": a score in ops per time unit; slower is a LOWER score. 10 ops/s = 100 ms/op.
        self.assertAlmostEqual(bench.to_ms(10.0, "ops/s"), 100.0)
        self.assertAlmostEqual(bench.to_ms(0.01, "ops/ms"), 100.0)
        base = self.save("base.json", [entry("ProductBenchmark.streamingRead", 10.0, "ops/s", "thrpt"),
                                       entry("SortBenchmark.sort", 10.0, "ops/s", "thrpt")])
        new = self.save("new.json", [entry("ProductBenchmark.streamingRead", 8.0, "ops/s", "thrpt"),
                                     entry("SortBenchmark.sort", 12.5, "ops/s", "thrpt")])
        rc, out = self.run_bench(bench.compare, base, new)
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"SLOWER +ProductBenchmark.streamingRead +100.000 -> +125.000 ms \(\+25.0%\)")
        self.assertRegex(out, r"ok +SortBenchmark.sort +100.000 -> +80.000 ms \(-20.0%\)")
        # GB/s of X: 512 x 2,000,000 x 4 bytes = 4.096 GB in 0.1 s
        rc, out = self.run_bench(bench.summary, base)
        self.assertIn("40.96 GB/s of X per call", out)

    def test_exactly_ten_percent_slower_is_not_flagged(self):
        # "more than 10% slower": 10 -> 11 ms is exactly 10% (11 / 10 - 1 is 0.10000000000000009 in floating point)
        base = self.save("base.json", [entry("SortBenchmark.sort", 10.0), entry("GramBenchmark.weightedGram", 10.0),
                                       entry("ProductBenchmark.streamingRead", 10.0, "ops/s", "thrpt")])
        new = self.save("new.json", [entry("SortBenchmark.sort", 11.0), entry("GramBenchmark.weightedGram", 11.001),
                                     entry("ProductBenchmark.streamingRead", 10.0 / 1.1, "ops/s", "thrpt")])
        rc, out = self.run_bench(bench.compare, base, new)
        self.assertRegex(out, r"ok +SortBenchmark.sort +10.000 -> +11.000 ms \(\+10.0%\)")
        self.assertRegex(out, r"ok +ProductBenchmark.streamingRead +100.000 -> +110.000 ms \(\+10.0%\)")
        self.assertRegex(out, r"SLOWER +GramBenchmark.weightedGram")
        self.assertIn("1 benchmark(s) more than 10% slower", out)
        self.assertEqual(rc, 1)

    def bench_command(self, *args):
        return subprocess.run([sys.executable, str(BENCH_DIR / "bench.py"), *args], capture_output=True, text=True, timeout=60)

    def test_unusable_result_files_exit_2_with_one_line_naming_the_file(self):
        # exit 1 is compare's "slower than the baseline": a CI job must be able to tell a broken input from a regression
        good = self.save("good.json", [entry("SortBenchmark.sort", 10.0)])
        truncated = os.path.join(self.tmp.name, "truncated.json")
        with open(truncated, "w") as f:
            f.write('{"machine": {}, "runs": [')
        not_jmh = self.save("not-jmh.json", [{"benchmark": "dev.falcon.bench.SortBenchmark.sort", "score": 10.0}])
        missing = os.path.join(self.tmp.name, "missing.json")
        for bad in (truncated, not_jmh, missing):
            for args in (("compare", good, bad), ("compare", bad, good), ("summary", bad)):
                with self.subTest(file=os.path.basename(bad), command=args[0]):
                    r = self.bench_command(*args)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertNotIn("Traceback", r.stderr)
                    self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                    self.assertIn(bad, r.stderr)
        merged = os.path.join(self.tmp.name, "merged.json")
        r = self.bench_command("merge", merged, self.save_round("round1-1.json", [entry("SortBenchmark.sort", 10.0)]), truncated)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(truncated, r.stderr)
        self.assertFalse(os.path.exists(merged))
        self.assertEqual(self.bench_command("compare", good, good).returncode, 0)

    def test_a_machine_or_params_of_another_type_is_refused_naming_the_file_and_field(self):
        # compare read "machine": "vm-1" with m.get, summary "params": null with params.items(): a traceback and exit 1,
        # compare's code for a slower benchmark, so a CI step took the broken file for a regression
        good = self.save("good.json", [entry("SortBenchmark.sort", 10.0)])
        str_machine = os.path.join(self.tmp.name, "str-machine.json")
        with open(str_machine, "w") as f:
            json.dump({"machine": "vm-1", "runs": [entry("SortBenchmark.sort", 10.0)]}, f)
        null_params = self.save("null-params.json", [dict(entry("SortBenchmark.sort", 10.0), params=None)])
        int_params = self.save("int-params.json", [dict(entry("SortBenchmark.sort", 10.0), params={"n": 32})])
        str_facts = self.save("str-facts.json", [dict(entry("SortBenchmark.sort", 10.0), fork_facts="Haswell")])
        for bad, field in ((str_machine, "machine"), (null_params, "runs[0].params"), (int_params, "runs[0].params"),
                           (str_facts, "runs[0].fork_facts")):
            for args in (("compare", good, bad), ("compare", bad, good), ("summary", bad)):
                with self.subTest(file=os.path.basename(bad), command=args[0]):
                    r = self.bench_command(*args)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    [line] = r.stderr.splitlines()
                    self.assertTrue(line.startswith(f"bench.py: {bad}: {field} "), line)

    def test_a_size_summary_reads_that_is_no_whole_number_or_missing_is_refused_naming_the_field(self):
        # summary's GB/s read int(n) and int(p) of a ProductBenchmark entry and int(n) of a DfoIterationBenchmark one:
        # "n": "1k" was a ValueError traceback, a DFO entry without n a KeyError, both exit 1 (compare's "slower")
        good = self.save("good.json", [entry("SortBenchmark.sort", 10.0)])
        product_n = self.save("product-n.json", [entry("ProductBenchmark.streamingRead", 10.0, n="1k")])
        product_p = self.save("product-p.json", [entry("ProductBenchmark.streamingRead", 10.0, p="2e6")])
        dfo = {"example": "resnet20"}
        dfo_without_n = self.save("dfo-without-n.json", [dict(entry("DfoIterationBenchmark.dfoIterationBlock", 10.0), params=dfo)])
        for bad, field in ((product_n, "runs[0].params.n"), (product_p, "runs[0].params.p"),
                           (dfo_without_n, "runs[0].params.n")):
            for args in (("compare", good, bad), ("summary", bad)):
                with self.subTest(file=os.path.basename(bad), command=args[0]):
                    r = self.bench_command(*args)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    [line] = r.stderr.splitlines()
                    self.assertTrue(line.startswith(f"bench.py: {bad}: {field} "), line)
        # an example summary names as unknown reads no n, and a SortBenchmark's n is no size summary reads
        fine = self.save("fine.json", [dict(entry("DfoIterationBenchmark.dfoIterationBlock", 10.0), params={"example": "vgg"}),
                                       entry("SortBenchmark.sort", 10.0, n="many")])
        r = self.bench_command("summary", fine)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_result_without_a_benchmark_is_refused_by_summary_and_compare(self):
        # [] (JMH's file when every trial failed) summarised as "machine: {}", exit 0; as compare's baseline it listed
        # every benchmark NEW, "0 benchmark(s) more than 10% slower", exit 0: a CI guard passed whatever NEW measured
        good = self.save("good.json", [entry("SortBenchmark.sort", 10.0)])
        jmh_empty = os.path.join(self.tmp.name, "jmh-empty.json")
        with open(jmh_empty, "w") as f:
            f.write("[]")
        saved_empty = self.save("saved-empty.json", [])
        for empty in (jmh_empty, saved_empty):
            for args in (("summary", empty), ("compare", empty, good), ("compare", good, empty),
                         ("compare", good, empty, "--allow-missing")):
                with self.subTest(file=os.path.basename(empty), args=args[0] + " " + " ".join(map(os.path.basename, args[1:]))):
                    r = self.bench_command(*args)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    self.assertEqual(r.stderr.strip().splitlines(),
                                     [f"bench.py: {empty}: no benchmark results (every benchmark failed, or none ran)"])

    def test_summary_of_two_files_is_refused(self):
        # summary A.json B.json summarised A and said nothing of B
        a = self.save("a.json", [entry("SortBenchmark.sort", 10.0)])
        b = self.save("b.json", [entry("GramBenchmark.weightedGram", 5.0)])
        r = self.bench_command("summary", a, b)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("bench.py summary RESULT.json", r.stderr)
        self.assertNotIn("SortBenchmark", r.stdout)
        self.assertIn("summary takes one result file", r.stderr)
        self.assertEqual(self.bench_command("summary", a).returncode, 0)

    def test_bad_usage_prints_the_usage_on_stderr(self):
        # it went to stdout: `bench.py summary X > out.txt` with a wrong argument left the usage in out.txt
        a = self.save("a.json", [entry("SortBenchmark.sort", 10.0)])
        for args in ((), ("summary",), ("compare", a), ("summary", a, a), ("sumary", a)):
            with self.subTest(args=args):
                r = self.bench_command(*args)
                self.assertEqual((r.returncode, r.stdout), (2, ""))
                self.assertIn("bench.py summary RESULT.json", r.stderr)

    def test_help_prints_the_usage_on_stdout_and_exits_0(self):
        # -h and --help fell to bad usage: the usage on stderr and exit 2, where run.sh, solve.sh and
        # device-figures.sh print theirs on stdout with exit 0
        for flag in ("-h", "--help"):
            with self.subTest(flag=flag):
                r = self.bench_command(flag)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertIn("bench.py summary RESULT.json", r.stdout)
                self.assertIn("bench.py -h | --help", r.stdout)

    def test_a_solve_sh_result_is_named_as_such(self):
        # "neither a JMH result list nor {"machine": ..., "runs": [...]}": true, but it did not say whose file it was
        solve = os.path.join(self.tmp.name, "solve-20261206-003913-vm.json")
        with open(solve, "w") as f:
            json.dump({"machine": {}, "command": "falcon prune --example E --n N --method falcon --keep-flops 0.3",
                       "cases": [{"example": "resnet20", "n": 1000, "solve_seconds": 3.2}]}, f)
        good = self.save("good.json", [entry("SortBenchmark.sort", 10.0)])
        for args in (("summary", solve), ("compare", good, solve)):
            with self.subTest(command=args[0]):
                r = self.bench_command(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                [line] = r.stderr.splitlines()
                self.assertTrue(line.startswith(f"bench.py: {solve}: a benchmarks/solve.sh result"), line)
                self.assertIn("no bench.py command reads", line)

    def test_merge_refuses_round_files_without_a_result(self):
        # JMH writes [] when every benchmark failed: the merge saved {"runs": []} and exited 0
        empty = [os.path.join(self.tmp.name, f"round{r}-1.json") for r in (1, 2)]
        for path in empty:
            with open(path, "w") as f:
                f.write("[]")
        merged = os.path.join(self.tmp.name, "merged.json")
        r = self.bench_command("merge", merged, *empty)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no benchmark results", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertFalse(os.path.exists(merged))
        self.assertFalse(os.path.exists(merged + ".tmp"))
        # one round with a result is a result (the rounds that failed are run.sh's to report)
        good = self.save_round("round3-1.json", [entry("SortBenchmark.sort", 10.0)])
        self.assertEqual(self.bench_command("merge", merged, *empty, good).returncode, 0)
        self.assertEqual(len(json.load(open(merged))["runs"]), 1)

    def test_merge_keeps_the_openblas_core_and_threads_the_forks_recorded(self):
        # the OpenBLAS core and thread count were in JMH's stdout only ("# cpu: OpenBLAS ... (core X)"), never saved
        round_file = self.save_round("round1-1.json", [entry("ProductBenchmark.streamingRead", 50.0, threads=1),
                                                       entry("ProductBenchmark.streamingRead", 30.0, threads=2),
                                                       entry("SortBenchmark.sort", 10.0)])
        facts = {"openblas_core": "Cooperlake", "openblas_threads": 1, "kernels_isa": "avx512"}
        with open(bench.fork_facts_path(round_file), "w") as f:
            # ForkFacts.java's line: the benchmark's name and parameters as JMH writes them
            f.write(json.dumps({"benchmark": "dev.falcon.bench.ProductBenchmark.streamingRead",
                                "params": entry("x", 0, threads=1)["params"], "facts": facts}) + "\n")
        merged = os.path.join(self.tmp.name, "merged.json")
        self.assertEqual(self.bench_command("merge", merged, round_file).returncode, 0)
        runs = json.load(open(merged))["runs"]
        self.assertEqual([e.get("fork_facts") for e in runs], [facts, None, None])
        rc, out = self.run_bench(bench.summary, merged)
        self.assertIn("forks ran OpenBLAS core Cooperlake, 1 OpenBLAS thread(s), kernels avx512: streamingRead", out)
        self.assertIn("not recorded for 1 ProductBenchmark entries", out)

    def test_merge_refuses_results_already_saved_naming_the_file(self):
        # merge took two saved runs of two VMs, stamped this machine on both and saved their rounds 1-3 as one run's:
        # summary pooled both VMs in its medians and showed only the first file's rounds, exit 0
        round_file = self.save_round("round1-1.json", [entry("SortBenchmark.sort", 10.0)])
        saved = self.save("20261204-030756-vm.json", [dict(entry("SortBenchmark.sort", 12.0), round=1)])
        merged = os.path.join(self.tmp.name, "merged.json")
        for inputs in ((saved,), (round_file, saved)):
            with self.subTest(inputs=[os.path.basename(i) for i in inputs]):
                r = self.bench_command("merge", merged, *inputs)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                [line] = r.stderr.splitlines()
                self.assertIn(saved, line)
                self.assertIn("already saved", line)
                self.assertIn("round files of one run", line)
                self.assertFalse(os.path.exists(merged))

    def test_two_entries_of_one_benchmark_in_one_round_are_refused_naming_both(self):
        # per_round kept the first of them and dropped the other without a word, while the medians pooled both
        read, fused = "ProductBenchmark.nativeStreamingRead", "ProductBenchmark.fusedBlockProduct"
        twice = self.save("twice.json", [dict(entry(read, 50.0, blockSize=2000), round=1),
                                         dict(entry(fused, 100.0, blockSize=2000), round=1),
                                         dict(entry(read, 90.0, blockSize=2000), round=1)])
        for args in (("summary", twice), ("compare", twice, twice)):
            with self.subTest(command=args[0]):
                r = self.bench_command(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                [line] = r.stderr.splitlines()
                self.assertIn(f"{twice}: runs[0] and runs[2]", line)
                self.assertIn("round 1", line)
        # two modes of one round (-bm thrpt,avgt) are two measurements: the round's figure is their median, as the
        # medians pool the modes, not the first of them
        modes = self.save("modes.json", [dict(entry(read, 50.0, blockSize=2000), round=1),
                                         dict(entry(read, 1 / 70.0, "ops/ms", "thrpt", blockSize=2000), round=1),
                                         dict(entry(fused, 100.0, blockSize=2000), round=1),
                                         dict(entry(read, 90.0, blockSize=2000), round=2),
                                         dict(entry(fused, 100.0, blockSize=2000), round=2)])
        _, out = self.run_bench(bench.summary, modes)
        self.assertRegex(out, r"fused \(panels\) vs nativeStreamingRead .*; round by round 60.0%, 90.0%\n")

    def test_a_round_that_is_no_whole_number_from_1_is_refused_naming_the_entry(self):
        # "1" dropped the entry from the round by round ratios (exit 0), [1] was a TypeError traceback (exit 1)
        for bad in ("1", [1], True, 0, 1.5, None):
            with self.subTest(round=bad):
                path = self.save("bad-round.json", [dict(entry("SortBenchmark.sort", 10.0), round=1),
                                                    dict(entry("SortBenchmark.sort", 11.0), round=bad)])
                for args in (("summary", path), ("compare", path, path)):
                    r = self.bench_command(*args)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    [line] = r.stderr.splitlines()
                    self.assertIn(f"{path}: runs[1].round is not a whole number from 1", line)

    def test_scores_that_are_no_measurement_are_refused(self):
        # a NaN score printed "ok ... nan ms" and passed compare; a zero throughput ended in ZeroDivisionError
        good = self.save("good.json", [entry("SortBenchmark.sort", 10.0)])
        # JMH itself writes NaN as the string "NaN"
        for score, unit in ((float("nan"), "ms/op"), ("NaN", "ms/op"), (float("inf"), "ms/op"), ("Infinity", "ops/s"),
                            (0.0, "ops/s"), (0.0, "ms/op"), (-1.0, "ms/op")):
            bad = self.save("bad.json", [entry("SortBenchmark.sort", score, unit)])
            for args in (("compare", good, bad), ("compare", bad, good), ("summary", bad)):
                with self.subTest(score=score, unit=unit, command=args[0]):
                    r = self.bench_command(*args)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                    self.assertIn(bad, r.stderr)
                    self.assertIn("SortBenchmark.sort", r.stderr)

    def test_modes_of_one_run_are_not_mixed_in_a_median(self):
        # JMH_ARGS="-bm all": every benchmark once per mode; 100 ms per call is 0.01 ops/ms in thrpt. Single shot (ss)
        # times one cold call: a measurement of its own, not a fourth sample of the steady state.
        runs = [entry("SortBenchmark.sort", 0.01, "ops/ms", "thrpt"), entry("SortBenchmark.sort", 100.0, "ms/op", "avgt"),
                entry("SortBenchmark.sort", 110.0, "ms/op", "sample"), entry("SortBenchmark.sort", 900.0, "ms/op", "ss")]
        base = self.save("base.json", [entry("SortBenchmark.sort", 100.0)])
        new = self.save("new.json", runs)
        rc, out = self.run_bench(bench.compare, base, new)
        self.assertRegex(out, r"ok +SortBenchmark.sort +100.000 -> +100.000 ms \(\+0.0%\)")
        self.assertRegex(out, r"NEW +SortBenchmark.sort \(ss\)")
        self.assertEqual(rc, 0)
        _, out = self.run_bench(bench.summary, new)
        self.assertRegex(out, r"SortBenchmark.sort +100.000 ms/op +\(median of 3\)")
        exact = self.save("exact.json", [entry("DfoIterationBenchmark.dfoIterationExact", 200.0, "ms/op", "ss",
                                               example="mobilenetv1", n=128, stepDoublings=0)])
        _, out = self.run_bench(bench.summary, exact)
        self.assertRegex(out, r"DfoIterationBenchmark.dfoIterationExact \(ss\) .*\(2 passes of X")

    def test_compare_lists_benchmarks_missing_on_either_side(self):
        base = self.save("base.json", [entry("ProductBenchmark.streamingRead", 100.0), entry("SortBenchmark.sort", 10.0),
                                       entry("GramBenchmark.weightedGram", 5.0)])
        # GramBenchmark did not run (or failed) in the new run; streamingRead ran with another n
        new = self.save("new.json", [entry("ProductBenchmark.streamingRead", 100.0, n=1024), entry("SortBenchmark.sort", 10.0)])
        rc, out = self.run_bench(bench.compare, base, new)
        # a benchmark that died is no pass: exit 1, as for a slower one, unless the partial run is on purpose
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"NEW +ProductBenchmark.streamingRead .*'n': '1024'")
        self.assertRegex(out, r"MISSING +ProductBenchmark.streamingRead .*'n': '512'")
        self.assertRegex(out, r"MISSING +GramBenchmark.weightedGram")
        self.assertRegex(out, r"ok +SortBenchmark.sort")
        self.assertIn("2 benchmark(s) of the baseline missing from the new run", out)
        self.assertEqual(self.bench_command("compare", base, new).returncode, 1)
        allowed = self.bench_command("compare", "--allow-missing", base, new)
        self.assertEqual(allowed.returncode, 0, allowed.stdout + allowed.stderr)
        self.assertIn("(allowed: --allow-missing)", allowed.stdout)
        # only new benchmarks: nothing missing, exit 0
        self.assertEqual(self.bench_command("compare", new, self.save("more.json", [entry("ProductBenchmark.streamingRead", 100.0, n=1024),
                                                                                     entry("SortBenchmark.sort", 10.0),
                                                                                     entry("GramBenchmark.weightedGram", 5.0)])).returncode, 0)

    def test_round_by_round_only_when_every_round_has_both(self):
        read, touch = "ProductBenchmark.nativeStreamingRead", "ProductBenchmark.nativeTwoTouchRead"
        three = self.save("three.json", [entry(read, 50.0), entry(touch, 100.0), entry(read, 80.0), entry(touch, 100.0),
                                         entry(read, 90.0), entry(touch, 100.0)])
        _, out = self.run_bench(bench.summary, three)
        self.assertRegex(out, r"two-touch read \(panels\) vs nativeStreamingRead +80.0% of its bandwidth; "
                              r"round by round 50.0%, 80.0%, 90.0%")
        # the read failed in round 2: pairing by position would report round 3's read against round 2's two-touch
        gap = self.save("gap.json", [entry(read, 50.0), entry(touch, 100.0), entry(touch, 200.0),
                                     entry(read, 90.0), entry(touch, 100.0)])
        _, out = self.run_bench(bench.summary, gap)
        self.assertRegex(out, r"two-touch read \(panels\) vs nativeStreamingRead +70.0% of its bandwidth\n")

    def test_dfo_iterations_pair_with_the_read_of_the_same_parameters(self):
        # the pairing looked at example, n, threads and backendName only: with -p stepDoublings=0,4 every iteration
        # was printed twice, against each read, with two different percentages
        c = dict(example="mobilenetv1", n=128, keepFlops=0.3, blockSize=2000)
        runs = [entry("DfoIterationBenchmark.nativeStreamingRead", 30.0, stepDoublings=0, **c),
                entry("DfoIterationBenchmark.nativeStreamingRead", 45.0, stepDoublings=4, **c),
                entry("DfoIterationBenchmark.dfoIterationBlock", 80.0, stepDoublings=0, **c),
                entry("DfoIterationBenchmark.dfoIterationBlock", 120.0, stepDoublings=4, **c),
                entry("DfoIterationBenchmark.nativeStreamingRead", 20.0, **dict(c, blockSize=4000, stepDoublings=0)),
                entry("DfoIterationBenchmark.dfoIterationExact", 100.0, **dict(c, blockSize=4000, stepDoublings=0))]
        _, out = self.run_bench(bench.summary, self.save("dfo.json", runs))
        lines = [line for line in out.splitlines() if " vs read " in line]
        self.assertEqual(len(lines), 3, out)
        self.assertRegex(lines[0], r"^dfoIterationBlock vs read +37.5% of the read bandwidth \(1 pass; 2.67x one read; stepDoublings 0\)$")
        self.assertRegex(lines[1], r"^dfoIterationBlock vs read +\(passes: the tear-down line; 2.67x one read; stepDoublings 4\)$")
        self.assertRegex(lines[2], r"^dfoIterationExact vs read +40.0% of the read bandwidth \(2 passes; 5.00x one read; stepDoublings 0\)$")

    def test_dfo_gb_per_s_take_the_example_in_any_case_as_the_benchmark_does(self):
        # ExampleModels.get lower-cases the name, so -p example=ResNet20 runs; summary looked it up as typed and printed
        # no GB/s for it, without a word
        c = dict(n=32, keepFlops=0.3, blockSize=2000, stepDoublings=0)
        path = self.save("dfo.json", [entry("DfoIterationBenchmark.dfoIterationBlock", 100.0, example="ResNet20", **c),
                                      entry("DfoIterationBenchmark.dfoIterationExact", 100.0, example=" RESNET20", **c),
                                      entry("DfoIterationBenchmark.nativeStreamingRead", 10.0, example="vgg16", **c)])
        _, out = self.run_bench(bench.summary, path)
        block, exact, read = [line for line in out.splitlines() if line.startswith("DfoIterationBenchmark.")]
        # 32 x 268336 x 4 bytes = 0.0343 GB per pass
        self.assertTrue(block.endswith("  0.34 GB/s (1 pass of X, 0.034 GB)"), block)
        self.assertTrue(exact.endswith("  0.69 GB/s (2 passes of X, 0.069 GB)"), exact)
        self.assertIn("GB/s: example 'vgg16' is none of resnet20, mobilenetv1, resnet50 (its p is unknown)", read)

    def test_a_dfo_iteration_that_matches_several_reads_names_the_read_of_each_line(self):
        # a read with a parameter the iteration lacks (here: from another version of the benchmark) cannot be told
        # apart by the iteration's parameters: both lines stay, each saying which read it used
        runs = [entry("DfoIterationBenchmark.nativeStreamingRead", 30.0, example="resnet20", n=128, reader="avx"),
                entry("DfoIterationBenchmark.nativeStreamingRead", 60.0, example="resnet20", n=128, reader="scalar"),
                entry("DfoIterationBenchmark.dfoIterationBlock", 60.0, example="resnet20", n=128, stepDoublings=0)]
        _, out = self.run_bench(bench.summary, self.save("dfo.json", runs))
        lines = [line for line in out.splitlines() if " vs read " in line]
        self.assertEqual(len(lines), 2, out)
        self.assertRegex(lines[0], r"50.0% of the read bandwidth .*; read reader avx\)$")
        self.assertRegex(lines[1], r"100.0% of the read bandwidth .*; read reader scalar\)$")

    def merged(self, rounds):
        """A file as run.sh saves it: JMH's round files round<R>-<I>.json, merged in the shell's (lexical) order."""
        files = []
        for r, runs in rounds.items():
            path = os.path.join(self.tmp.name, f"round{r}-1.json")
            with open(path, "w") as f:
                json.dump(runs, f)
            files.append(path)
        out = os.path.join(self.tmp.name, "merged.json")
        with contextlib.redirect_stdout(io.StringIO()):
            bench.merge(out, sorted(files))
        return out

    def test_round_by_round_pairs_the_same_round(self):
        read, touch, fused = "ProductBenchmark.nativeStreamingRead", "ProductBenchmark.nativeTwoTouchRead", "ProductBenchmark.fusedBlockProduct"

        def entry(name, score):
            return globals()["entry"](name, score, blockSize=2000)
        # the read failed in round 2 and the two-touch read in round 3: both have two entries, but only round 1 pairs
        gaps = self.merged({1: [entry(read, 50.0), entry(touch, 100.0), entry(fused, 100.0)],
                            2: [entry(touch, 200.0), entry(fused, 100.0)],
                            3: [entry(read, 90.0), entry(fused, 100.0)]})
        _, out = self.run_bench(bench.summary, gaps)
        self.assertRegex(out, r"two-touch read \(panels\) vs nativeStreamingRead +46.7% of its bandwidth; round by round 50.0%\n")
        self.assertRegex(out, r"fused \(panels\) vs nativeStreamingRead .*; round by round 50.0%, 90.0%\n")
        # eleven rounds: the shell lists round10-1.json and round11-1.json before round2-1.json
        eleven = self.merged({r: [entry(read, float(r)), entry(fused, 100.0)] for r in range(1, 12)})
        _, out = self.run_bench(bench.summary, eleven)
        self.assertIn("round by round " + ", ".join(f"{r}.0%" for r in range(1, 12)) + "\n", out)

    def test_the_two_pass_products_are_compared_round_by_round_too(self):
        # the README promises every ratio round by round; twoSgemv and twoBlasSgemv had the ratio of the medians only
        fused, two, blas = "ProductBenchmark.fusedBlockProduct", "ProductBenchmark.twoSgemv", "ProductBenchmark.twoBlasSgemv"

        def entry(name, score, layout="panels"):
            return globals()["entry"](name, score, blockSize=2000, layout=layout)
        path = self.merged({r: [entry(fused, 100.0), entry(two, 100.0 * r), entry(blas, 150.0 * r, "column-major")]
                            for r in (1, 2, 3)})
        _, out = self.run_bench(bench.summary, path)
        self.assertRegex(out, r"fused \(panels\) vs twoSgemv +2.00x faster \(block 2000\); round by round 1.00x, 2.00x, 3.00x\n")
        self.assertRegex(out, r"fused \(panels\) vs twoBlasSgemv \(column-major\) +3.00x faster \(block 2000\); "
                              r"round by round 1.50x, 3.00x, 4.50x\n")

    def test_benchmarks_of_two_packages_with_one_class_name_are_kept_apart(self):
        # keyed by Class.method, a.Bench.x and b.Bench.x were one median: 100 and 300 -> 200 on both sides, "ok"
        def run(a, b):
            return [dict(entry("x", a), benchmark="a.Bench.x"), dict(entry("x", b), benchmark="b.Bench.x")]
        base, new = self.save("base.json", run(100.0, 300.0)), self.save("new.json", run(300.0, 100.0))
        self.assertEqual(len(bench.medians(bench.load(base))), 2)
        rc, out = self.run_bench(bench.compare, base, new)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"SLOWER +a\.Bench\.x +100\.000 -> +300\.000 ms")
        self.assertRegex(out, r"ok +b\.Bench\.x +300\.000 -> +100\.000 ms")

    def test_compare_warns_where_the_two_runs_differ_in_what_the_timings_depend_on(self):
        # a Zen 4 baseline against a Zen 5 run, or Cooperlake against Haswell, was compared without a word
        machine = {"cpu": "AMD EPYC", "cpu_family_model": "25 17", "cores": 2, "openblas_coretype": "unset",
                   "git_commit": "aaa"}
        runs = [dict(entry("ProductBenchmark.streamingRead", 10.0), fork_facts={"openblas_core": "Cooperlake",
                                                                             "openblas_threads": 2})]
        base = os.path.join(self.tmp.name, "base.json")
        with open(base, "w") as f:
            json.dump({"machine": machine, "runs": runs}, f)
        same = self.bench_command("compare", base, base)
        self.assertEqual((same.returncode, same.stderr), (0, ""))
        other = os.path.join(self.tmp.name, "new.json")
        with open(other, "w") as f:
            json.dump({"machine": dict(machine, cpu_family_model="26 2", git_commit="bbb"),
                       "runs": [dict(runs[0], fork_facts={"openblas_core": "Haswell"})]}, f)
        r = self.bench_command("compare", base, other)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            "bench.py compare: warning: CPU family/model differs: baseline 25 17, new 26 2",
            "bench.py compare: warning: commit differs: baseline aaa, new bbb",
            "bench.py compare: warning: OpenBLAS core of the forks differs: baseline Cooperlake, new Haswell",
            "bench.py compare: warning: OpenBLAS threads of the forks unknown in the new run (not recorded): baseline 2, "
            "new unknown"])
        self.assertNotIn("warning", r.stdout)

    def test_the_forks_openblas_facts_are_asked_for_only_where_a_compared_benchmark_records_them(self):
        # only ProductBenchmark's forks record them (ForkFacts.record): every Gram, DFO or Sort run, however new, warned
        # "OpenBLAS core of the forks unknown in both runs (not recorded)", so nobody read the warning when it was real
        machine = {"cpu": "AMD EPYC", "cpu_family_model": "25 17", "cores": 2, "openblas_coretype": "unset",
                   "git_commit": "aaa"}

        def saved(name, runs):
            path = os.path.join(self.tmp.name, name)
            with open(path, "w") as f:
                json.dump({"machine": machine, "runs": runs}, f)
            return path
        gram = saved("gram.json", [entry("GramBenchmark.weightedGram", 5.0, weights="signed"),
                                   entry("SortBenchmark.sort", 10.0)])
        r = self.bench_command("compare", gram, gram)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        # a ProductBenchmark in both runs whose forks did not record them (saved before run.sh recorded them): said
        old_product = saved("old-product.json", [entry("GramBenchmark.weightedGram", 5.0, weights="signed"),
                                                 entry("ProductBenchmark.streamingRead", 10.0)])
        r = self.bench_command("compare", old_product, old_product)
        self.assertEqual(r.stderr.splitlines(), [
            "bench.py compare: warning: OpenBLAS core of the forks unknown in both runs (not recorded)",
            "bench.py compare: warning: OpenBLAS threads of the forks unknown in both runs (not recorded)"])
        # a ProductBenchmark in one run only is not compared: nothing to say about its facts
        r = self.bench_command("compare", gram, old_product, "--allow-missing")
        self.assertEqual((r.returncode, r.stderr), (0, ""), r.stdout)

    def test_device_products_get_gb_per_s_and_cuda_reads_are_not_compared_silently(self):
        # DeviceProductBenchmark got no GB/s; a cuda fused product was given as a % of a CPU read of host memory
        path = self.save("gpu.json", [entry("DeviceProductBenchmark.deviceRead", 1.0, kernel="warp"),
                                      entry("ProductBenchmark.fusedBlockProduct", 10.0, backendName="cuda", layout="column-major", blockSize=2000),
                                      entry("ProductBenchmark.streamingRead", 5.0, backendName="cuda", layout="column-major", blockSize=2000)])
        rc, out = self.run_bench(bench.summary, path)
        self.assertRegex(out, r"DeviceProductBenchmark.deviceRead .* 4096.00 GB/s of X per call")
        self.assertRegex(out, r"fused \(column-major\) vs streamingRead +50.0% of the streamingRead bandwidth \(block 2000\) "
                              r"\(not comparable: streamingRead reads host memory on the CPU, the cuda call")


class MissingTrialsTest(unittest.TestCase):
    LISTING = """Benchmarks: 
dev.falcon.bench.ProductBenchmark.fusedBlockProduct
  param "layout" = {panels, column-major}
  param "backendName" = {cpu, java}
dev.falcon.bench.SortBenchmark.sortValues
"""

    def test_every_listed_combination_without_an_entry_is_named(self):
        # run.sh's -foe true lost every trial of a JMH run after one failed; with -foe false the failed ones are
        # those the listing names and the result file lacks
        with tempfile.TemporaryDirectory() as d:
            listing, result = os.path.join(d, "trials.txt"), os.path.join(d, "round1-1.json")
            with open(listing, "w") as f:
                f.write(self.LISTING)
            with open(result, "w") as f:
                metric = {"score": 3.0, "scoreUnit": "ms/op"}
                json.dump([{"benchmark": "dev.falcon.bench.ProductBenchmark.fusedBlockProduct", "mode": "avgt",
                            "params": {"layout": layout, "backendName": "cpu"}, "primaryMetric": metric}
                           for layout in ("panels", "column-major")]
                          + [{"benchmark": "dev.falcon.bench.SortBenchmark.sortValues", "mode": "avgt", "primaryMetric": metric}], f)
            self.assertEqual(bench.missing_trials(listing, result),
                             (["dev.falcon.bench.ProductBenchmark.fusedBlockProduct {layout=panels, backendName=java}",
                               "dev.falcon.bench.ProductBenchmark.fusedBlockProduct {layout=column-major, backendName=java}"],
                              True))
            # what JMH leaves after -foe true: an empty file, no result at all
            open(result, "w").close()
            missing, any_result = bench.missing_trials(listing, result)
            self.assertEqual((len(missing), any_result), (5, False))


class MachineDescriptionTest(unittest.TestCase):
    def test_the_saved_description_names_the_code_and_the_openblas_core_override(self):
        # the figures depend on the commit measured and on OPENBLAS_CORETYPE; the saved files said neither
        old = os.environ.get("OPENBLAS_CORETYPE")
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
        try:
            m = bench.machine()
        finally:
            if old is None:
                del os.environ["OPENBLAS_CORETYPE"]
            else:
                os.environ["OPENBLAS_CORETYPE"] = old
        self.assertEqual(m["openblas_coretype"], "SkylakeX")
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        if head:
            self.assertTrue(m["git_commit"].startswith(head), m["git_commit"])
        self.assertIn("cpu_family_model", m)


    @unittest.skipUnless(hasattr(os, "sched_setaffinity") and shutil.which("taskset"), "needs Linux CPU affinity and taskset")
    def test_cores_are_those_the_process_may_use(self):
        # os.cpu_count(): under taskset -c 0 a 2-core machine's run was saved with cores 2, as run.sh and solve.sh save it
        first_cpu = min(os.sched_getaffinity(0))
        r = subprocess.run(["taskset", "-c", str(first_cpu), sys.executable, str(BENCH_DIR / "bench.py"), "machine"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["cores"], 1)
        self.assertEqual(bench.machine()["cores"], len(os.sched_getaffinity(0)))


class DocumentedBenchmarkOptionsTest(unittest.TestCase):
    def test_every_documented_jmh_param_exists(self):
        # JMH silently ignores "-p NAME=..." when no benchmark has NAME: "-p backend=cuda" ran the cpu default on a GPU
        sources = (BENCH_DIR / "src").rglob("*.java")
        params = {m.group(1) for f in sources for m in re.finditer(r"@Param\([^)]*\)\s*public\s+\w+\s+(\w+);", f.read_text())}
        self.assertIn("backendName", params)
        docs = [REPO / "README.md", REPO / "native" / "README.md", REPO / "python" / "README.md", BENCH_DIR / "pom.xml",
                *BENCH_DIR.glob("*.sh"), *BENCH_DIR.glob("*.py"), *(REPO / "scripts").glob("*.sh")]
        unknown = [f"{doc.relative_to(REPO)}: -p {m.group(1)}=" for doc in docs if doc.exists()
                   for m in re.finditer(r"(?<![\w-])-p (\w+)=", doc.read_text())
                   if m.group(1) not in params]
        self.assertEqual(unknown, [], f"JMH parameters: {sorted(params)}")
