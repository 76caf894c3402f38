"""An apt mirror that cannot be reached is named by host and reason, with what to do: the
hint names --mirror URL, the vendor's variable and the layout the mirror must have. Real
failures on 127.0.0.1 and a name that never resolves (`.invalid`, RFC 2606); no retries."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import config
from bootstrap.adapters.apt import AptAdapter
from bootstrap.errors import FetchError, RepositoryNotFound, Unreachable
from bootstrap.fetch import Fetcher
from bootstrap.types import Repository
from tests.server import Server, free_port


def _main(*mirrors: str) -> Repository:
    profile = config.load_profile("debian-bookworm", config.Overrides(mirror=mirrors[0],
                                                                      alternate_mirrors=mirrors[1:]), environ={})
    return profile.repositories[0]


def _load(repo: Repository, tmp_path: Path, log: list[str]) -> None:
    AptAdapter().load(repo, "amd64", Fetcher(tmp_path / "cache", retries=0), log.append)


HINT = ("give another mirror with --mirror URL or $ROOTFS_BOOTSTRAP_DEBIAN_MIRROR, "
        "laid out as URL/dists/bookworm/InRelease")


@pytest.mark.parametrize("host,reason", [("nosuch.invalid", "name resolution failed"),
                                         ("refused", "connection refused")])
def test_an_unreachable_mirror_is_named_with_the_layout(host: str, reason: str, tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}" if host == "refused" else host  # a port free now, not at collection
    log: list[str] = []
    with pytest.raises(Unreachable) as err:
        _load(_main(f"http://{host}/debian"), tmp_path, log)
    assert err.value.message == f"cannot reach {host} ({reason})"
    assert err.value.hint == HINT and err.value.exit_code == 3
    assert not any("trying" in line for line in log)  # no other mirror to try


def test_tls_failure_is_one_line(tmp_path: Path) -> None:
    """An https URL on a plain-http server: the handshake fails, and the error says TLS."""
    with Server(tmp_path) as server:
        host = server.url.removeprefix("http://")
        with pytest.raises(Unreachable) as err:
            _load(_main(f"https://{host}"), tmp_path, [])
    assert err.value.message.startswith(f"cannot reach {host} (TLS: ") and "\n" not in err.value.message


def test_every_mirror_unreachable_names_each(tmp_path: Path) -> None:
    refused = f"127.0.0.1:{free_port()}"
    log: list[str] = []
    with pytest.raises(FetchError) as err:
        _load(_main(f"http://{refused}", "http://nosuch.invalid"), tmp_path, log)
    assert err.value.message == (
        f"repository main: none of 2 mirrors served it: http://{refused} (cannot reach {refused} "
        "(connection refused)); http://nosuch.invalid (cannot reach nosuch.invalid (name resolution failed))")
    assert err.value.hint == HINT
    assert [line.split(" failed ")[0] for line in log if "trying" in line] == [f"main: mirror http://{refused}"]


def test_a_mirror_without_the_suite_says_where_it_should_be(tmp_path: Path) -> None:
    with Server(tmp_path) as server, pytest.raises(RepositoryNotFound) as err:
        _load(_main(server.url), tmp_path, [])
    assert err.value.message == f"no InRelease or Release file at {server.url}/dists/bookworm/"
    assert err.value.hint == f"check the suite name, or {HINT}"
