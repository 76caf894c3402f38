"""Mode extract as an unprivileged user (uid 65534): the tar still carries the packages' owners
and setuid bits, taken from the manifest since the disk holds the user's own uid.

The test's interpreter lives under /root (mode 0700), out of the user's reach, so the tool runs
from a copy of the source tree with Debian's python3 and a virtual environment holding the
dependencies, both made world-readable under /var/cache.
"""
from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import nobody
from tests.apt.test_debian_real import CACHE, _mirror_reachable

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory uid 65534 can reach: pytest's tmp_path sits under a 0700 /tmp/pytest-of-root."""
    path = nobody.workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_extract_as_nobody_keeps_owners_and_setuid(work: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to switch to uid 65534 with setpriv")
    if not Path("/usr/bin/python3").exists():
        pytest.skip("needs Debian's /usr/bin/python3 (python3-venv)")
    if _mirror_reachable() is None:
        pytest.skip("the host's Debian mirror (from its apt sources) is not reachable")
    tree = nobody.source_tree(work)
    cache = work / "cache"
    if CACHE.is_dir():
        shutil.copytree(CACHE, cache)
    cache.mkdir(exist_ok=True)
    out = work / "out"
    out.mkdir()
    nobody.give(work)
    done = nobody.run(["debian-bookworm", "--variant", "minbase", "--mode", "extract", "--cache-dir", str(cache),
                       "-o", str(out / "x.tar.gz")], work, tree)
    assert done.returncode == 0, done.stderr
    assert "mode extract" in done.stderr or "extract" in done.stderr
    with tarfile.open(out / "x.tar.gz") as tar:
        members = tar.getmembers()
    # The building user's own id never leaks into the image: owners come from the packages.
    assert [m.name for m in members if m.uid == 65534 or m.gid == 65534] == []
    owners = {m.name: m for m in members}
    assert owners["./usr/bin/passwd"].mode & 0o4000 and owners["./usr/bin/passwd"].uid == 0
    # No scripts run in mode extract, so /etc/passwd (made by base-passwd's postinst) is absent.
    assert owners["./etc"].uid == 0 and owners["./usr/share/base-passwd/passwd.master"].uid == 0
    assert "./etc/passwd" not in owners
