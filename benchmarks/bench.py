#!/usr/bin/env python3
"""Summarise and compare falcon JMH results.

  bench.py summary RESULT.json            GB/s and side-by-side ratios of one saved run
  bench.py compare BASELINE.json NEW.json flags every benchmark more than 10% slower (exit 1), lists
            [--allow-missing]             those in only one of them (NEW, MISSING); a benchmark of the baseline
                                          missing from NEW (not run, failed) also exits 1, unless
                                          --allow-missing says NEW is a partial run on purpose; warns on stderr
                                          where the runs differ in CPU, cores, OpenBLAS core or threads, or commit,
                                          or do not record them (the forks' OpenBLAS core and threads only where
                                          both hold a benchmark whose forks record them: ProductBenchmark)
  bench.py machine                        prints the machine description (CPU, commit, date, ...) as JSON
  bench.py missing-trials LISTING ROUND.json
                                          the trials (benchmark and parameters) that LISTING, JMH's -lp output for
                                          the run's pattern and options, names and ROUND.json has no entry for, one a
                                          line (run.sh names them as failed); exit 1 when ROUND.json holds no result
  bench.py merge [--machine M.json] OUT.json ROUND.json...
                                          wraps JMH round files with the machine description (and each entry's
                                          round, from run.sh's file names roundR-I.json, and the facts its forks
                                          wrote to roundR-I.facts.jsonl as "fork_facts"); refuses (exit 2) round
                                          files without a single benchmark result in them, and results already
                                          saved (with a machine: merge is for the round files of one run on this
                                          machine); --machine: the description saved when the run began, instead
                                          of one taken now
  bench.py -h | --help                    this text

A saved result is {"machine": {...}, "runs": [JMH JSON entries...]}. Several entries for the same
benchmark and parameters (interleaved rounds, A B A B) are reduced to their median, so a noisy
neighbour in one round does not decide a ratio.

Exit codes: 0 done (compare: none more than 10% slower, none missing), 1 compare found a benchmark more than 10%
slower or (without --allow-missing) one of the baseline missing, or missing-trials found no result in ROUND.json,
2 bad arguments or a result file that cannot be used (missing, not JSON, not JMH results, a round that is no whole number
from 1, two entries of one benchmark, parameters, mode and round, or without a single result: JMH's [] when every
benchmark failed; merge takes such round files beside others).
"""
import json, math, os, platform, re, statistics, subprocess, sys, time

THRESHOLD = 0.10
# Relative slack on the threshold: 11 ms against 10 is exactly 10% slower, but 11 / 10 - 1 rounds to 0.10000000000000009
THRESHOLD_ROUNDING = 1e-9


# The whole tree but the benchmarks' own outputs (benchmarks/results/, next to this file; git -C runs in this folder):
# an output is not the code measured. native/harness.sh uses the same pathspec.
RESULTS_PATHSPEC = (":/", ":(exclude)results")


def java_command():
    """The java the ./falcon launcher (so solve.sh's runs) and run.sh start: JAVA_HOME's where it is set, else PATH's.
    PATH's alone was recorded while the runs used JAVA_HOME's (a JDK 25 run saved as 17), or "unavailable" where
    only JAVA_HOME named a Java."""
    java_home = os.environ.get("JAVA_HOME")
    return os.path.join(java_home, "bin", "java") if java_home else "java"


def usable_cores():
    """The CPUs this process, and so the run it describes (JMH's forks, falcon's JVM, the harness), may use: under
    taskset or a cgroup cpuset fewer than the machine has. os.cpu_count() saved a run pinned to 1 core as a 2-core one,
    and compare did not warn against a baseline that had 2."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity call on this platform
        return os.cpu_count()


def machine():
    def read(cmd, with_stderr=False):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if with_stderr else subprocess.PIPE,
                                  text=True, timeout=10).stdout.strip()
        except Exception as e:  # a missing tool only loses one field
            return f"unavailable ({e})"
    cpu = ""
    for line in read(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    family_model = " ".join(line.split(":", 1)[1].strip() for line in read(["lscpu"]).splitlines()
                            if line.startswith(("CPU family:", "Model:")))
    # the figures depend on the code measured and on the kernels OpenBLAS picks (OPENBLAS_CORETYPE overrides its
    # detection), neither of which the rest says
    here = os.path.dirname(os.path.abspath(__file__))
    commit = read(["git", "-C", here, "rev-parse", "HEAD"])
    # untracked files count (not ignored ones): run.sh compiles a new source under benchmarks/src into the jar, and
    # "--untracked-files=no" called such a tree clean; staged changes count too. benchmarks/results/ does not: it holds
    # what run.sh, solve.sh and native/harness.sh write, untracked until committed, so every run after the first of a
    # session was saved "with uncommitted changes" of the very commit it measured (RESULTS_PATHSPEC)
    changes = (read(["git", "-C", here, "status", "--porcelain", "--", *RESULTS_PATHSPEC])
               if commit and not commit.startswith("unavailable") else "")
    if changes:
        commit += " (with uncommitted changes)"
    return {"cpu": cpu, "cpu_family_model": family_model, "cores": usable_cores(), "memory": mem, "kernel": platform.release(),
            "java": read([java_command(), "-version"], with_stderr=True),  # java -version writes to stderr
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset (OpenBLAS detects the core, or falcon corrects it)"),
            "git_commit": commit or "unknown (not a git checkout)",
            **({"git_status": changes.splitlines()[:40]} if changes else {}),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node()}


# Weights of the examples (for the DFO iteration benchmark's bytes: n * p * 4 per pass) and the passes over X
# of one DFO iteration with one step (the benchmark's tear-down line prints the passes actually made).
EXAMPLE_P = {"resnet20": 268336, "mobilenetv1": 4209088, "resnet50": 25502912}
DFO_PASSES = {"dfoIterationBlock": 1, "dfoIterationExact": 2, "nativeStreamingRead": 1}


# how JMH's JSON writes a score that is not a finite number
JMH_NON_FINITE = ("NaN", "Infinity", "-Infinity")


class ResultError(Exception):
    """A result file that cannot be used: one line naming the file, exit 2 (exit 1 means a slower benchmark)."""


# JMH writes [] when every benchmark failed (without -foe true) or none matched: such a file is no result
NO_RESULTS = "no benchmark results"
NO_RESULTS_WHY = "every benchmark failed, or none ran"


def load(path, allow_no_results=False, round_file=False):
    """The result in path as {"machine": ..., "runs": [...]}. A result without a single run is refused unless
    allow_no_results (a round file among others, which merge takes): summarised it printed nothing, and as compare's
    baseline it passed whatever the new run measured. round_file: only JMH's own list of entries will do (merge's
    inputs)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise ResultError(f"{path}: cannot read it ({e.strerror})") from None
    except ValueError as e:  # not JSON, or not text
        raise ResultError(f"{path}: not JSON ({e}); give a file saved by benchmarks/run.sh or JMH's -rf json") from None
    runs = data.get("runs") if isinstance(data, dict) else data
    if isinstance(data, dict) and "runs" not in data and "cases" in data:
        # solve.sh's files lie beside run.sh's in benchmarks/results/
        raise ResultError(f"{path}: a benchmarks/solve.sh result (machine, command, cases), which no bench.py command "
                          f"reads: solve.sh prints its cases as it saves them, and the file's cases hold the figures; "
                          f"give bench.py a file saved by benchmarks/run.sh")
    if not isinstance(runs, list):
        raise ResultError(f'{path}: neither a JMH result list nor {{"machine": ..., "runs": [...]}}')
    if round_file and isinstance(data, dict):
        # merge stamped this machine on another run's entries, and two files' rounds 1, 2, 3 became one run's
        raise ResultError(f"{path}: a result already saved (machine and runs), not a JMH round file: merge is for the "
                          f"round files of one run on this machine, as run.sh writes them; compare saved runs with "
                          f"bench.py compare, or rerun benchmarks/run.sh to measure them together")
    # what summary and compare read beside the scores: a "machine" of another type, or "params": null, was a traceback
    # and exit 1, which compare's caller takes for a slower benchmark
    if isinstance(data, dict) and not isinstance(data.get("machine", {}), dict):
        raise ResultError(f"{path}: machine is not an object (it is {json.dumps(data['machine'])[:60]}); give the "
                          f"machine description as bench.py machine prints it, or remove the field")
    for i, e in enumerate(runs):
        metric = e.get("primaryMetric") if isinstance(e, dict) else None
        if not (isinstance(e, dict) and isinstance(e.get("benchmark"), str) and isinstance(metric, dict)
                and (isinstance(metric.get("score"), (int, float)) or metric.get("score") in JMH_NON_FINITE)
                and known_unit(metric.get("scoreUnit"))):
            raise ResultError(f"{path}: runs[{i}] is not a JMH result entry (it needs benchmark, primaryMetric.score and "
                              f"a time unit in primaryMetric.scoreUnit such as ms/op or ops/s)")
        params = e.get("params", {})
        if not (isinstance(params, dict) and all(isinstance(v, str) for v in params.values())):
            raise ResultError(f"{path}: runs[{i}].params is not an object of strings (it is {json.dumps(params)[:60]}); "
                              f"JMH writes each parameter's value as a string, e.g. {{\"n\": \"32\"}}; without parameters "
                              f"leave the field out")
        for size in sizes_summary_reads(e["benchmark"], params):
            if not params.get(size, "").strip().isdecimal():
                raise ResultError(f"{path}: runs[{i}].params.{size} is not a whole number (it is "
                                  f"{json.dumps(params.get(size))[:60]}); summary's GB/s read it from {e['benchmark']}'s "
                                  f"entry, as JMH writes it (e.g. {{\"{size}\": \"512\"}}): fix the value or remove the entry")
        if not isinstance(e.get("fork_facts", {}), dict):
            raise ResultError(f"{path}: runs[{i}].fork_facts is not an object (it is {json.dumps(e['fork_facts'])[:60]}); "
                              f"bench.py merge writes the facts the forks recorded, e.g. {{\"openblas_core\": \"Haswell\"}}, "
                              f"or remove the field")
        r = e.get("round", 1)
        if not (isinstance(r, int) and not isinstance(r, bool) and r >= 1):
            # "1" never paired with round 1 and left the round by round ratios silently, [1] was a TypeError
            raise ResultError(f"{path}: runs[{i}].round is not a whole number from 1 (it is {json.dumps(r)[:60]}); "
                              f"bench.py merge writes each entry's round as run.sh numbers them, e.g. \"round\": 2; fix "
                              f"the value, or remove the field from every entry (entries then stand for rounds in order)")
        score = float(metric["score"])
        if not math.isfinite(score) or score <= 0:
            # NaN compared "ok" against any baseline, and a zero throughput divided by zero
            raise ResultError(f"{path}: runs[{i}] ({e['benchmark']} {e.get('params', {})}): score {score} {metric['scoreUnit']} "
                              f"is not a positive finite measurement; rerun that benchmark or remove the entry")
    seen = {}
    for i, e in enumerate(runs):
        if "round" not in e:
            continue  # untagged entries stand for their rounds by position (per_round)
        measured = (e["benchmark"], e.get("mode"), tuple(sorted(e.get("params", {}).items())), e["round"])
        if measured in seen:
            # the round by round ratios need one figure per round, which the medians, pooling both, did not show
            raise ResultError(f"{path}: runs[{seen[measured]}] and runs[{i}] are both {e['benchmark']} "
                              f"{e.get('params', {})} ({e.get('mode', 'no mode')}) of round {e['round']}: one run measures "
                              f"each once a round (two runs merged into one?); remove one of them, or keep each run in "
                              f"a file of its own")
        seen[measured] = i
    if not runs and not allow_no_results:
        raise ResultError(f"{path}: {NO_RESULTS} ({NO_RESULTS_WHY})")
    return data if isinstance(data, dict) else {"machine": {}, "runs": data}


def sizes_summary_reads(benchmark, params):
    """The parameters summarise_package reads as whole numbers for its GB/s: a value int() cannot read, or a DFO
    entry without its n, was a traceback and exit 1 there."""
    name = split_name(benchmark)[1]
    if name.startswith(("ProductBenchmark", "DeviceProductBenchmark")) and "n" in params and "p" in params:
        return ("n", "p")
    if name.startswith("DfoIterationBenchmark") and params.get("example", "").strip().lower() in EXAMPLE_P:
        return ("n",)
    return ()


def key(entry):
    params = entry.get("params", {})
    # the full name, package included: a.Bench.x and b.Bench.x were pooled into one median as "Bench.x"
    name = entry["benchmark"]
    if entry.get("mode") == "ss":
        # single shot times one cold call: not comparable with the steady-state modes (thrpt, avgt, sample)
        name += " (ss)"
    return name, tuple(sorted(params.items()))


def medians(result):
    """(median ms per call, entries, "ms/op") per benchmark and parameters: scores are converted before the median,
    since one run may hold several modes (-bm thrpt,avgt: ops/ms next to ms/op)."""
    groups = {}
    for e in result["runs"]:
        groups.setdefault(key(e), []).append(to_ms(e["primaryMetric"]["score"], e["primaryMetric"]["scoreUnit"]))
    return {k: (statistics.median(v), len(v), "ms/op") for k, v in groups.items()}


UNIT_MS = {"ms": 1.0, "s": 1e3, "us": 1e-3, "ns": 1e-6, "min": 6e4}


def known_unit(unit):
    return isinstance(unit, str) and (unit.startswith("ops/") and unit[4:] in UNIT_MS
                                      or unit.endswith("/op") and unit[:-3] in UNIT_MS)


def to_ms(score, unit):
    """Milliseconds per operation, from an average time (ms/op, ...) or a throughput (ops/ms, ... with -bm thrpt)."""
    if unit.startswith("ops/"):
        return UNIT_MS[unit[4:]] / score
    return score * UNIT_MS[unit[:-3]]


# reads of an X of the same shape and contents as the fused kernel's (each benchmark forks with its own X): a streaming
# read (two kinds) and a read of every block twice (a reference the fused kernel has beaten, not a bound)
READS = ("streamingRead", "nativeStreamingRead", "nativeTwoTouchRead")


def per_round(result):
    """{benchmark key: {round: ms per call}}. Files saved by run.sh tag every entry with its round (see merge); in an
    untagged file the k-th entry of a benchmark stands for round k, as ("entry", k). A round's figure is the median
    of its entries, which are of different modes (load refuses two of one mode), as medians pools the modes."""
    rounds = {}
    for e in result["runs"]:
        mine = rounds.setdefault(key(e), {})
        r = e["round"] if "round" in e else ("entry", len(mine) + 1)
        mine.setdefault(r, []).append(to_ms(e["primaryMetric"]["score"], e["primaryMetric"]["scoreUnit"]))
    return {k: {r: statistics.median(v) for r, v in mine.items()} for k, mine in rounds.items()}


def same_rounds(rounds, a, b):
    """(a's ms, b's ms) for every round in which both ran, in round order. Untagged entries pair by position, so
    only when both have as many (one failed round would shift every later pair)."""
    mine, theirs = rounds.get(a, {}), rounds.get(b, {})
    if any(isinstance(r, tuple) for r in (*mine, *theirs)) and len(mine) != len(theirs):
        return []
    return [(mine[r], theirs[r]) for r in sorted(mine.keys() & theirs.keys(), key=lambda r: r[1] if isinstance(r, tuple) else r)]


def split_name(full):
    """("dev.falcon.bench", "ProductBenchmark.streamingRead") from a key's full name (" (ss)" stays with the method)."""
    base, ss = (full[:-len(" (ss)")], " (ss)") if full.endswith(" (ss)") else (full, "")
    parts = base.rsplit(".", 2)
    return (parts[0] if len(parts) == 3 else ""), ".".join(parts[-2:]) + ss


def display_names(names):
    """Class.method where no other package has the same one, the full name where two would read alike."""
    short = {}
    for n in names:
        short.setdefault(split_name(n)[1], set()).add(n)
    return {n: split_name(n)[1] if len(short[split_name(n)[1]]) == 1 else n for n in names}


def summary(path):
    result = load(path)
    print("machine:", json.dumps(result.get("machine", {})))
    for line in fork_facts_summary(result["runs"]):
        print(line)
    med_full, rounds_full = medians(result), per_round(result)
    packages = sorted({split_name(n)[0] for n, _ in med_full})
    for package in packages:
        # ratios pair benchmarks of one package only; within it the names are Class.method, as they always were
        if len(packages) > 1:
            print(f"package {package or '(none)'}:")
        summarise_package({(split_name(n)[1], p): v for (n, p), v in med_full.items() if split_name(n)[0] == package},
                          {(split_name(n)[1], p): v for (n, p), v in rounds_full.items() if split_name(n)[0] == package})


def summarise_package(med, rounds):
    for (name, params), (score, count, unit) in sorted(med.items()):
        p = dict(params)
        line = f"{name:40s} {score:10.3f} {unit:6s} (median of {count}) {p}"
        # DeviceProductBenchmark's GB/s are bytes of X per call too (its javadoc): it got none before
        if name.startswith(("ProductBenchmark", "DeviceProductBenchmark")) and "n" in p and "p" in p:
            gb = int(p["n"]) * int(p["p"]) * 4 / 1e9
            line += f"  {gb / (to_ms(score, unit) / 1e3):6.2f} GB/s of X per call"
        # the example as ExampleModels.get reads it (trimmed, any case): as typed, -p example=ResNet20 lost its GB/s
        example = p.get("example", "").strip().lower()
        if name.startswith("DfoIterationBenchmark") and "example" in p and example not in EXAMPLE_P:
            line += f"  GB/s: example '{p['example']}' is none of {', '.join(EXAMPLE_P)} (its p is unknown)"
        elif name.startswith("DfoIterationBenchmark") and "example" in p:
            passes = DFO_PASSES.get(name.rsplit(".", 1)[-1].removesuffix(" (ss)"), 1)
            gb = passes * int(p["n"]) * EXAMPLE_P[example] * 4 / 1e9
            if name.endswith(".nativeStreamingRead") or p.get("stepDoublings", "0") == "0":
                line += f"  {gb / (to_ms(score, unit) / 1e3):6.2f} GB/s ({passes} pass{'es' if passes > 1 else ''} of X, {gb:.3f} GB)"
            else:
                # each longer step that lowers Q costs one more pass: the passes are the tear-down line's, not in the JSON
                line += "  GB/s: passes per call in the benchmark's tear-down line (stepDoublings > 0)"
        print(line)
    reads = [(dict(p2), s2, u2) for (n2, p2), (s2, _, u2) in sorted(med.items()) if n2 == "DfoIterationBenchmark.nativeStreamingRead"]
    for (name, params), (score, _, unit) in sorted(med.items()):
        # DFO iterations against the streaming read of the same X in the same run: every parameter the two have
        # must agree (X's panels follow blockSize, and with -p stepDoublings=0,4 each read belongs to its own trial)
        if name in ("DfoIterationBenchmark.dfoIterationBlock", "DfoIterationBenchmark.dfoIterationExact"):
            base = dict(params)
            passes = DFO_PASSES[name.rsplit(".", 1)[-1]]
            matches = [(q, s2, u2) for q, s2, u2 in reads if all(q[k] == base[k] for k in q.keys() & base.keys())]
            # several reads left (a parameter the iteration does not have tells them apart): each line names its own
            apart = sorted({k for q, _, _ in matches for k in q if len({m.get(k) for m, _, _ in matches}) > 1})
            for q, s2, u2 in matches:
                ratio = passes * to_ms(s2, u2) / to_ms(score, unit)
                share = (f"{ratio * 100:6.1f}% of the read bandwidth ({passes} pass{'es' if passes > 1 else ''}; "
                         if base.get("stepDoublings", "0") == "0" else "(passes: the tear-down line; ")
                which = "; read " + ", ".join(f"{k} {q.get(k)}" for k in apart) if apart else ""
                print(f"{name.rsplit('.', 1)[-1] + ' vs read':40s} {share}{to_ms(score, unit) / to_ms(s2, u2):.2f}x one read; "
                      f"stepDoublings {base.get('stepDoublings')}{which})")
    for (name, params), (score, _, unit) in sorted(med.items()):
        # a support Gram's update (weights +1/-1) against forming one from as many columns
        if name == "GramBenchmark.weightedGram" and dict(params).get("weights") == "signed":
            base = dict(params)
            for (n2, p2), (s2, _, u2) in med.items():
                q = dict(p2)
                if n2 == name and q.get("weights") == "ones" and all(q.get(k) == base.get(k) for k in ("n", "k", "threads", "backendName")):
                    print(f"{'Gram update (signed) vs formed (ones)':60s} {to_ms(score, unit) / to_ms(s2, u2):6.2f}x the time "
                          f"(n {base['n']}, {base['k']} columns)")
    for (name, params), (score, _, unit) in sorted(med.items()):
        # roughly what the second read costs: the two-touch read against the streaming read
        if name == "ProductBenchmark.nativeTwoTouchRead":
            read = ("ProductBenchmark.nativeStreamingRead", params)
            if read in med:
                s2, _, u2 = med[read]
                by_round = ", ".join(f"{b / a * 100:.1f}%" for a, b in same_rounds(rounds, (name, params), read))
                print(f"{'two-touch read (' + dict(params).get('layout', '') + ') vs nativeStreamingRead':60s} "
                      f"{to_ms(s2, u2) / to_ms(score, unit) * 100:6.1f}% of its bandwidth"
                      + (f"; round by round {by_round}" if by_round else ""))
    for (name, params), (score, _, unit) in sorted(med.items()):
        if name == "ProductBenchmark.fusedBlockProduct":
            base = dict(params)
            for other in ("streamingRead", "nativeStreamingRead", "nativeTwoTouchRead", "twoSgemv", "twoBlasSgemv", "oneSgemv"):
                # the same block size: on panels it is X's layout, and the two-touch read reads block by block
                for (n2, p2), (s2, _, u2) in med.items():
                    q = dict(p2)
                    if n2 != "ProductBenchmark." + other or not all(q.get(k) == base.get(k) for k in ("n", "p", "blockSize", "threads", "backendName")):
                        continue
                    same_layout = q.get("layout") == base.get("layout")
                    # a fused kernel on panels is also compared with two sgemv on column-major X (the layout a
                    # Fortran-order file maps without a copy); reads are compared on the same buffer only
                    is_read = other in READS
                    if not same_layout and (is_read or base.get("layout") != "panels"):
                        continue
                    ratio = to_ms(s2, u2) / to_ms(score, unit)
                    label = f"fused ({base.get('layout', 'column-major')}) vs {other}" + ("" if same_layout else f" ({q.get('layout')})")
                    # a ratio within one round is measured minutes apart, a ratio of medians may pair a quiet round
                    # with a disturbed one: the products' ratios vary with the neighbours as much as the reads'
                    pairs = same_rounds(rounds, (name, params), (n2, p2))
                    if is_read:
                        by_round = ", ".join(f"{b / a * 100:.1f}%" for a, b in pairs) if len(pairs) > 1 else ""
                        # the reads run on the CPU over host memory whatever the backend: against a cuda call (with
                        # its copies) the share means nothing, and DeviceProductBenchmark is where the GPU's is
                        apart = (f" (not comparable: {other} reads host memory on the CPU, the {base.get('backendName')} "
                                 f"call runs on the device with its copies; DeviceProductBenchmark compares device reads)"
                                 if base.get("backendName") not in ("cpu", "java") else "")
                        print(f"{label:60s} {ratio * 100:6.1f}% of the {other} bandwidth (block {base['blockSize']})"
                              + (f"; round by round {by_round}" if by_round else "") + apart)
                    else:
                        by_round = ", ".join(f"{b / a:.2f}x" for a, b in pairs) if len(pairs) > 1 else ""
                        print(f"{label:60s} {ratio:6.2f}x faster (block {base['blockSize']})"
                              + (f"; round by round {by_round}" if by_round else ""))


# what a timing depends on beyond the benchmark's parameters, as the saved machine description records it
MACHINE_FIELDS = (("cpu", "CPU model"), ("cpu_family_model", "CPU family/model"), ("cores", "cores"),
                  ("openblas_coretype", "OPENBLAS_CORETYPE"), ("git_commit", "commit"))


# the benchmark classes whose forks record the OpenBLAS core and thread count they ran (ForkFacts.record in their setup)
FORK_FACT_BENCHMARKS = ("ProductBenchmark",)


def records_fork_facts(full_name):
    """Whether the forks of a benchmark (its full name, as JMH writes it) record their facts."""
    return split_name(full_name)[1].split(".", 1)[0] in FORK_FACT_BENCHMARKS


def fork_fact_values(result, fact, benchmarks):
    """The distinct values of one fork fact (ForkFacts.java) over the entries of those benchmarks that recorded it;
    None where none did."""
    values = {str(e["fork_facts"][fact]) for e in result["runs"]
              if e["benchmark"] in benchmarks and fact in e.get("fork_facts", {})}
    return ", ".join(sorted(values)) if values else None


def comparability_warnings(base, new):
    """One line per thing that differs between the two runs or that either does not record: on VMs whose speed drifts
    by 2x, a 10% threshold only means something on the same CPU, OpenBLAS core and thread count. The forks' facts are
    asked for only of the benchmarks of both runs whose forks record them: asked of every run, they were "unknown in
    both runs" for each without ProductBenchmark, a warning always there and so never read."""
    in_both = {e["benchmark"] for e in base["runs"]} & {e["benchmark"] for e in new["runs"]}
    with_facts = {e["benchmark"] for e in (*base["runs"], *new["runs"]) if "fork_facts" in e}
    recording = {b for b in in_both if records_fork_facts(b) or b in with_facts}

    def describe(result):
        m = result.get("machine", {})
        d = {label: (str(m[field]) if m.get(field) not in (None, "") else None) for field, label in MACHINE_FIELDS}
        if recording:
            d["OpenBLAS core of the forks"] = fork_fact_values(result, "openblas_core", recording)
            d["OpenBLAS threads of the forks"] = fork_fact_values(result, "openblas_threads", recording)
        return d
    a, b = describe(base), describe(new)
    lines = []
    for what in a:
        if a[what] is None or b[what] is None:
            if a[what] is None and b[what] is None:
                lines.append(f"{what} unknown in both runs (not recorded)")
            else:
                lines.append(f"{what} unknown in {'the baseline' if a[what] is None else 'the new run'} (not recorded): "
                             f"baseline {a[what] or 'unknown'}, new {b[what] or 'unknown'}")
        elif a[what] != b[what]:
            lines.append(f"{what} differs: baseline {a[what]}, new {b[what]}")
    return lines


def compare(baseline_path, new_path, allow_missing=False):
    base_result, new_result = load(baseline_path), load(new_path)
    for line in comparability_warnings(base_result, new_result):
        print(f"bench.py compare: warning: {line}", file=sys.stderr)
    base, new = medians(base_result), medians(new_result)
    shown = display_names({n for n, _ in (*base, *new)})
    slower = 0
    for k, (score, _, unit) in sorted(new.items()):
        if k not in base:
            print(f"NEW      {shown[k[0]]} {dict(k[1])}")
            continue
        b = to_ms(base[k][0], base[k][2])
        s = to_ms(score, unit)
        change = s / b - 1
        flag = "SLOWER" if s - b > THRESHOLD * b * (1 + THRESHOLD_ROUNDING) else "ok"
        slower += flag == "SLOWER"
        print(f"{flag:8s} {shown[k[0]]:40s} {b:10.3f} -> {s:10.3f} ms ({change * 100:+.1f}%) {dict(k[1])}")
    missing = sorted(base.keys() - new.keys())
    for k in missing:
        # in the baseline only: not run, failed, or run with other parameters in NEW
        print(f"MISSING  {shown[k[0]]} {dict(k[1])}")
    print(f"{slower} benchmark(s) more than {THRESHOLD * 100:.0f}% slower than the baseline")
    if missing:
        # a guard that passes when a benchmark died (JMH goes on after a failed one) guards nothing
        print(f"{len(missing)} benchmark(s) of the baseline missing from the new run"
              + (" (allowed: --allow-missing)" if allow_missing else "; a partial run on purpose: --allow-missing"))
    return 1 if slower or (missing and not allow_missing) else 0


def fork_facts_path(round_file):
    """The file run.sh names in FALCON_BENCH_FACTS for the JMH run that writes round_file (ForkFacts.java)."""
    return re.sub(r"\.json$", "", round_file) + ".facts.jsonl"


def attach_fork_facts(entries, facts_path):
    """Copies each trial's facts (OpenBLAS core and thread count, ...), which JMH's JSON does not hold, into the entries
    of the same benchmark and parameters, as "fork_facts"."""
    try:
        with open(facts_path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:  # benchmarks that record none, or JMH run without run.sh
        return
    for e in entries:
        for line in lines:
            if line["benchmark"] == e["benchmark"] and line["params"] == e.get("params", {}):
                e["fork_facts"] = line["facts"]


def fork_facts_summary(runs):
    """One line per distinct OpenBLAS core and thread count the forks recorded, and the entries without them."""
    used, unrecorded = {}, 0
    for e in runs:
        f = e.get("fork_facts")
        if f is None:
            unrecorded += records_fork_facts(e["benchmark"])
            continue
        used.setdefault(f"OpenBLAS core {f.get('openblas_core', 'unknown')}, {f.get('openblas_threads', 'unknown')} "
                        f"OpenBLAS thread(s), kernels {f.get('kernels_isa', 'unknown')}", set()).add(e["benchmark"].rsplit(".", 1)[-1])
    lines = [f"forks ran {what}: {', '.join(sorted(names))}" for what, names in sorted(used.items())]
    if unrecorded:
        # files saved before run.sh recorded them: the machine's openblas_coretype is only the environment's request
        lines.append(f"forks' OpenBLAS core and thread count not recorded for {unrecorded} ProductBenchmark entries "
                     f"(saved before run.sh recorded them)")
    return lines


def merge(out, rounds, machine_file=None):
    runs = []
    for r in rounds:
        # run.sh names the files round<R>-<I>.json; the shell lists round10-1 before round2-1, so the round is
        # recorded in each entry and the summary pairs rounds by it, not by position
        tag = re.search(r"round(\d+)-\d+\.json$", os.path.basename(r))
        entries = load(r, allow_no_results=True, round_file=True)["runs"]  # the rounds that failed are run.sh's to report
        attach_fork_facts(entries, fork_facts_path(r))
        for e in entries:
            if tag:
                e["round"] = int(tag.group(1))
            runs.append(e)
    if not runs:
        raise ResultError(f"{NO_RESULTS} in {', '.join(rounds)} ({NO_RESULTS_WHY}): {out} not saved")
    if machine_file:
        # run.sh's description from before the first round: the commit and date the run started at, not the end's
        with open(machine_file) as f:
            described = json.load(f)
    else:
        described = machine()
    with open(out + ".tmp", "w") as f:
        json.dump({"machine": described, "runs": runs}, f, indent=1)
    os.replace(out + ".tmp", out)
    print("saved", out)


def listed_trials(listing):
    """[(benchmark, {param: value})] for every trial JMH's -lp output names: each benchmark with every combination of
    the values listed for its parameters (JMH's -p options applied), as one run of the same options runs them."""
    benchmarks, current = [], None
    for line in listing.splitlines():
        param = re.match(r'\s+param "([^"]+)" = \{(.*)\}\s*$', line)
        if param and current is not None:
            current[1].append((param.group(1), [v.strip() for v in param.group(2).split(",")]))
        elif line.strip() and not line[0].isspace() and not line.startswith("Benchmarks:"):
            current = (line.strip(), [])
            benchmarks.append(current)
    trials = []
    for name, params in benchmarks:
        combos = [{}]
        for pname, values in params:
            combos = [dict(c, **{pname: v}) for c in combos for v in values]
        trials += [(name, c) for c in combos]
    return trials


def missing_trials(listing_path, round_path):
    """The listed trials without an entry in round_path, as "benchmark {p=v, ...}" lines, and whether round_path holds
    any result at all. JMH run with -foe false goes on after a failed trial and leaves it out of its result file: this
    names what failed, where -foe true saved nothing of the trials that had succeeded before it."""
    with open(listing_path) as f:
        expected = listed_trials(f.read())
    try:
        entries = load(round_path, allow_no_results=True)["runs"]
    except ResultError:
        entries = []  # -foe true leaves an empty file: no trial of that run is saved
    done = {(e["benchmark"], tuple(sorted(e.get("params", {}).items()))) for e in entries}
    missing = [f"{name} {{{', '.join(f'{k}={v}' for k, v in params.items())}}}" if params else name
               for name, params in expected if (name, tuple(sorted(params.items()))) not in done]
    return missing, bool(entries)


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "summary":
            summary(argv[2])
        elif argv[1:2] == ["summary"] and len(argv) > 3:
            # the second file was ignored without a word: two runs are compared with compare, not side by side here
            print(f"bench.py: summary takes one result file, not {len(argv) - 2} (two runs: bench.py compare BASELINE NEW)",
                  file=sys.stderr)
            print(__doc__, file=sys.stderr)
            return 2
        elif argv[1:2] == ["compare"] and len([a for a in argv[2:] if a != "--allow-missing"]) == 2:
            files = [a for a in argv[2:] if a != "--allow-missing"]
            return compare(files[0], files[1], "--allow-missing" in argv[2:])
        elif len(argv) >= 6 and argv[1:3] == ["merge", "--machine"]:
            merge(argv[4], argv[5:], argv[3])
        elif len(argv) >= 4 and argv[1] == "merge" and argv[2] != "--machine":
            merge(argv[2], argv[3:])
        elif len(argv) == 4 and argv[1] == "missing-trials":
            missing, any_result = missing_trials(argv[2], argv[3])
            for m in missing:
                print(m)
            return 0 if any_result else 1
        elif argv[1:] == ["machine"]:
            print(json.dumps(machine(), indent=1))
        elif argv[1:] in (["-h"], ["--help"]):
            # a request for the usage, not bad usage: on stdout with exit 0, as run.sh, solve.sh and device-figures.sh
            print(__doc__)
        else:
            # bad usage: the usage goes to stderr, not into the file `bench.py summary X > out.txt` writes
            print(__doc__, file=sys.stderr)
            return 2
    except ResultError as e:
        print(f"bench.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
