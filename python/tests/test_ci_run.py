""".ci/run installs what a fresh Debian machine lacks: every program the code and its tests run must be in its list of
programs (standard library only: runs without torch too)."""
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CI_RUN = ROOT / ".ci" / "run"

# A program named as the first word of a command: Java's ProcessBuilder("kill", ...) or a list that starts the test JVM
# through another program (List.of("setsid", ..., System.getProperty("java.home"), ...)); Python's
# subprocess.run(["git", ...]) or bench.py's read(["lscpu"]).
JAVA_COMMAND = re.compile(r'new ProcessBuilder\(\s*"([^"]+)"|List\.of\(\s*"([^"]+)"[^;\n]*java\.home')
PYTHON_COMMAND = re.compile(r'(?:subprocess\.\w+|\bread)\(\s*\[\s*"([^"]+)"')


def listed_programs():
    """The programs in .ci/run's tools=( program:package ... ) list: {program: package}."""
    text = CI_RUN.read_text()
    body = re.search(r"^tools=\((.*?)^\)", text, re.S | re.M)
    if body is None:
        raise AssertionError(f"{CI_RUN}: no tools=( ... ) list")
    words = " ".join(line.split("#", 1)[0] for line in body.group(1).splitlines()).split()
    return dict(word.split(":", 1) for word in words)


def programs_run_by_the_sources():
    """{program: [files that run it]} over the Java sources (main and test) and the Python code and tests."""
    found = {}
    sources = [(p, JAVA_COMMAND) for p in ROOT.glob("java/*/src/**/*.java")]
    sources += [(p, PYTHON_COMMAND) for p in ROOT.glob("python/**/*.py")]
    sources += [(p, PYTHON_COMMAND) for p in ROOT.glob("benchmarks/**/*.py")]
    for path, pattern in sources:
        if "target" in path.relative_to(ROOT).parts or "node_modules" in path.relative_to(ROOT).parts:
            continue
        if path == Path(__file__).resolve():
            continue  # dpkg, below, is asked only where it exists
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            name = next(group for group in match.groups() if group)
            if name.startswith(("./", "../")):
                continue  # the repository's own scripts (./falcon), not programs to install
            found.setdefault(Path(name).name, []).append(str(path.relative_to(ROOT)))
    return found


class CiRunInstallsWhatTheTestsRunTest(unittest.TestCase):
    def test_every_program_the_sources_run_is_listed_with_its_package(self):
        # git (test_harness, test_bench) and /usr/bin/kill (MainTest's Ctrl-C tests) were run by the suite but neither
        # checked nor installed: on debian:bookworm they failed with FileNotFoundError / "Cannot run program"
        listed = listed_programs()
        run = programs_run_by_the_sources()
        self.assertIn("kill", run, "the scan finds MainTest's ProcessBuilder(\"kill\", ...)")
        self.assertIn("git", run, "the scan finds test_harness's subprocess.run([\"git\", ...])")
        missing = {name: files for name, files in run.items() if name not in listed}
        self.assertEqual(missing, {}, f"programs the sources run that {CI_RUN} neither checks for nor installs "
                                      "(add PROGRAM:DEBIAN_PACKAGE to its tools list)")

    def test_the_listed_packages_are_the_ones_that_provide_the_programs(self):
        listed = listed_programs()
        self.assertEqual(listed.get("git"), "git")
        self.assertEqual(listed.get("kill"), "procps")
        if shutil.which("dpkg") is None:
            self.skipTest("no dpkg here to ask which package provides each program")
        # dpkg -S knows the path the package installed (/bin/kill on a merged-/usr system) or an alternative's target
        paths = {}
        for program in listed:
            path = shutil.which(program)
            if path is not None:
                paths[program] = {path, str(Path(path).resolve()), "/bin/" + program, "/usr/bin/" + program}
        r = subprocess.run(["dpkg", "-S", *sorted(set().union(*paths.values()))], capture_output=True, text=True, timeout=120)
        owners_of = {}
        for line in r.stdout.splitlines():
            if ": " in line and not line.startswith("diversion"):
                packages, path = line.split(": ", 1)
                for package in packages.split(", "):
                    owners_of.setdefault(path, set()).add(package.split(":")[0])
        for program, candidates in paths.items():
            owners = set().union(*(owners_of.get(c, set()) for c in candidates))
            if not owners:
                continue  # installed outside dpkg: nothing to compare
            # a versioned package (gcc-12, openjdk-17-jre-headless) is what the listed one depends on
            package = listed[program]
            self.assertTrue(any(o == package or o.startswith(package.split("-")[0]) for o in owners),
                            f"{program}: .ci/run names {package}, dpkg says {sorted(owners)}")

    def test_a_missing_program_stops_ci_run_naming_it_and_its_package(self):
        # a fake apt-get that installs nothing: .ci/run must stop before mvn, naming the program
        if shutil.which("bash") is None:
            self.skipTest("no bash")
        with tempfile.TemporaryDirectory() as d:
            bin_dir = Path(d, "bin")
            bin_dir.mkdir()
            listed = listed_programs()
            # every listed program but git, each a symlink to the real one; apt-get and sudo do nothing
            for program in listed:
                real = shutil.which(program)
                if program != "git" and real is not None:
                    (bin_dir / program).symlink_to(real)
            for helper in ("dirname", "id", "sort", "grep", "printf"):
                if not (bin_dir / helper).exists() and shutil.which(helper):
                    (bin_dir / helper).symlink_to(shutil.which(helper))
            for fake in ("apt-get", "sudo"):
                (bin_dir / fake).write_text("#!/bin/sh\nexit 0\n")
                (bin_dir / fake).chmod(0o755)
            bash = shutil.which("bash")
            r = subprocess.run([bash, str(CI_RUN)], env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"installing: .*\bgit\b")
            self.assertTrue(r.stderr.startswith(".ci/run: still not on PATH after installing: "), r.stderr)
            self.assertIn("git (Debian package git)", r.stderr)


if __name__ == "__main__":
    unittest.main()
