"""Running the tool as an unprivileged user (uid 65534) from the tests, which run as root.

The test's interpreter lives under /root (mode 0700), out of that user's reach, so the tool runs
from a copy of the source tree with Debian's /usr/bin/python3 and a virtual environment holding
the project's dependencies (read from setup.cfg, so it follows them), both world-readable under
/var/cache/rootfs-bootstrap-tests. `workdir()` is a directory the user may write.
"""
from __future__ import annotations

import configparser
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE = Path("/var/cache/rootfs-bootstrap-tests")
VENV = BASE / "venv-unprivileged"
NOBODY = 65534


def _requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    lines = parser.get("options", "install_requires").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def venv() -> Path:
    """The interpreter of the venv, (re)made when the project's dependencies changed."""
    wanted = _requirements()
    stamp = hashlib.sha256("\n".join(wanted).encode()).hexdigest()
    python, marker = VENV / "bin" / "python", VENV / ".requirements"
    if not python.exists() or not marker.exists() or marker.read_text() != stamp:
        shutil.rmtree(VENV, ignore_errors=True)
        BASE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True, capture_output=True)
        marker.write_text(stamp)
    os.chmod(BASE, 0o755)
    return python


def workdir() -> Path:
    """A fresh directory under BASE (the caller removes it)."""
    BASE.mkdir(parents=True, exist_ok=True)
    os.chmod(BASE, 0o755)
    return Path(tempfile.mkdtemp(prefix="unprivileged-", dir=BASE))


def source_tree(work: Path) -> Path:
    """A copy of what the tool needs to run (its package and data) in `work`."""
    tree = work / "src"
    for part in ("bootstrap", "repos.d", "profiles", "keys"):
        shutil.copytree(REPO / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def give(work: Path) -> None:
    """Everything under `work` to the unprivileged user."""
    for path in (work, *work.rglob("*")):
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


def run(args: list[str], work: Path, tree: Path, env: dict[str, str] | None = None,
        timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """`rootfs-bootstrap ARGS` as uid/gid 65534 with no supplementary groups."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", str(venv()), "-m", "bootstrap",
         *args], cwd=tree, capture_output=True, text=True, timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HOME": str(work), "PYTHONPATH": str(tree), **(env or {})})
