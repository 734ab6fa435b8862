"""The ./falcon launcher's handling of FALCON_JAVA_OPTS and FALCON_HEAP (standard library only: runs without torch too)."""
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "falcon"
JAR = ROOT / "java" / "cli" / "target" / "falcon.jar"


class FalconJavaOptsTest(unittest.TestCase):
    def setUp(self):
        if not JAR.is_file():
            self.skipTest(f"{JAR} is not built (mvn package builds it); the launcher would build it here")

    def env_with(self, opts, cwd):
        env = dict(os.environ, FALCON_JAVA_OPTS=opts, FALCON_OFFLINE="1")
        return subprocess.run([str(LAUNCHER), "env"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    def test_words_are_split_like_a_shell_with_quotes_and_no_file_name_expansion(self):
        with tempfile.TemporaryDirectory() as d:
            # unquoted, -Dfalcon.backend=j* expanded to this file's name and so selected the java backend
            Path(d, "-Dfalcon.backend=java").touch()
            r = self.env_with("-Dfalcon.backend=j*", d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("unknown backend 'j*'", r.stdout)
            # a quoted value with a space arrives as one option (it was cut into '-Dfalcon.backend="ja' and 'va"')
            r = self.env_with('  -Xss4m   "-Dfalcon.backend=ja va" ', d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("unknown backend 'ja va'", r.stdout)
            r = self.env_with("-Dfalcon.backend='java'", d)
            self.assertIn("-Dfalcon.backend=java (prune's default while it is set): backend java", r.stdout)

    def test_an_unbalanced_quote_stops_the_launch_naming_the_variable(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.env_with('-Dfalcon.backend="java', d)
            self.assertEqual(r.returncode, 2)
            self.assertIn("FALCON_JAVA_OPTS has an unbalanced quote", r.stderr)


class FalconHeapTest(unittest.TestCase):
    def setUp(self):
        if not JAR.is_file():
            self.skipTest(f"{JAR} is not built (mvn package builds it); the launcher would build it here")

    def env_with_heap(self, heap):
        env = dict(os.environ, FALCON_HEAP=heap, FALCON_OFFLINE="1")
        env.pop("FALCON_JAVA_OPTS", None)
        return subprocess.run([str(LAUNCHER), "env"], env=env, capture_output=True, text=True, timeout=300)

    def test_a_value_that_is_not_a_size_is_refused_naming_the_variable(self):
        # it reached the JVM as -Xmx1.5g: "Invalid maximum heap size", three lines, exit code 1
        for heap in ("abc", "1.5g", "2 g", "-1g"):
            r = self.env_with_heap(heap)
            self.assertEqual(r.returncode, 2, heap + ": " + r.stderr)
            self.assertIn("FALCON_HEAP", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_sizes_set_the_heap_limit(self):
        r = self.env_with_heap("48m")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Java heap max 48.0 MiB", r.stdout)


if __name__ == "__main__":
    unittest.main()
