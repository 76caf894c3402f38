"""Shared test plumbing.

In CI (CI=true) a skipped test fails the run: there, every tool and the Debian mirror must be
present, so a skip would hide a missing install step.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.yum.yumrepo import Vault

REALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """../shared/realdata, or a clean skip where that folder is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} is absent (real fixture data lives beside the repository)")
    return REALDATA


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and session.exitstatus == 0 and reporter is not None:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; in CI nothing may be skipped", red=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    """The vault-shaped signed yum mirror on 127.0.0.1 (tests/yumrepo.py), built once."""
    from tests.yum.yumrepo import vault_mirror

    yield from vault_mirror(tmp_path_factory.mktemp("vault"))


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """An empty directory to unpack into (the tests' target root)."""
    path = tmp_path / "root"
    path.mkdir()
    return path
