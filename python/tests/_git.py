"""A throwaway git checkout for the tests of scripts that record the commit they measured (standard library only)."""
import subprocess
from pathlib import Path


def commit_everything(root: Path, ignored: str) -> str:
    """Makes root a repository whose one commit holds all its files but those `ignored` (.gitignore's text); its hash."""
    (root / ".gitignore").write_text(ignored)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
