"""The apt adapter's Preloader: in order, as packages arrive, and stopped on release."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bootstrap.adapters.apt.adapter import AptAdapter, Preloader
from bootstrap.types import Package


def _packages(count: int) -> list[Package]:
    return [Package(name=f"p{i}", version="1", arch="all", location="", checksums=(), size=1,
                    installed_size=1) for i in range(count)]


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """load_deb replaced by a slow fake that records which packages it started."""
    started: list[str] = []
    lock = threading.Lock()

    def fake_load(path: Path, name: str) -> str:
        with lock:
            started.append(name)
        time.sleep(0.2)
        return f"loaded {name}"

    monkeypatch.setattr("bootstrap.adapters.apt.payload.load_deb", fake_load)
    return started


def test_loads_start_in_order_as_packages_arrive(loads: list[str]) -> None:
    preloader = Preloader(_packages(3))
    preloader.ready(1, Path("/c/p1"))  # p0 not here yet: nothing may start
    time.sleep(0.05)
    assert loads == []
    preloader.ready(0, Path("/c/p0"))
    preloader.ready(2, Path("/c/p2"))
    taken: list[object] = [preloader.take(Path(f"/c/p{i}")) for i in range(3)]  # the fake loads are strings
    assert taken == ["loaded p0", "loaded p1", "loaded p2"]
    assert preloader.take(Path("/c/unknown")) is None  # not preloaded: the caller streams it


def test_release_cancels_what_has_not_started(loads: list[str]) -> None:
    adapter = AptAdapter()
    packages = _packages(12)
    ready = adapter.preload(packages)
    preloader = adapter._preloader
    assert preloader is not None and ready is not None
    for i in range(len(packages)):
        ready(i, Path(f"/c/p{i}"))
    adapter.release()
    assert adapter._preloader is None
    preloader._pool.shutdown(wait=True)  # whatever was not cancelled has run by now
    # Only the loads already running when release came (one per worker) ever started;
    # without the cancellation all twelve would have.
    assert 1 <= len(loads) <= preloader._pool._max_workers < len(packages)
    adapter.release()  # twice is harmless
