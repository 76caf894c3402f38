"""The fetcher tells a host that never answered (Unreachable: its name does not resolve, it
refuses, TLS fails) from one that answered badly (a plain FetchError), naming the host and
the reason; and the shared words of the index phase (adapters.mirrors): the layout a mirror
must have, from the repository's `mirror_layout` and `mirror_via` (config)."""
from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.adapters.mirrors import layout_of, mirror_hint
from bootstrap.errors import FetchError, Unreachable
from bootstrap.fetch import Fetcher
from bootstrap.types import Repository
from tests.server import Server, free_port


def _get(url: str, tmp_path: Path) -> bytes | None:
    return Fetcher(tmp_path / "cache", retries=0).try_get_bytes(url)


@pytest.mark.parametrize("host,reason", [("nosuch.invalid", "name resolution failed"),
                                         ("refused", "connection refused")])
def test_a_host_that_never_answers_is_unreachable(host: str, reason: str, tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}" if host == "refused" else host  # a port free now, not at collection
    url = f"http://{host}/dists/bookworm/InRelease"
    with pytest.raises(Unreachable) as err:
        _get(url, tmp_path)
    assert (err.value.host, err.value.reason, err.value.url) == (host, reason, url)
    assert err.value.message.startswith(f"cannot fetch {url}: ")


def test_a_failed_handshake_is_unreachable_by_tls(tmp_path: Path) -> None:
    with Server(tmp_path) as server:
        host = server.url.removeprefix("http://")
        with pytest.raises(Unreachable) as err:
            _get(f"https://{host}/x", tmp_path)
    assert err.value.host == host and err.value.reason.startswith("TLS: ") and len(err.value.reason) > 5


class _Broken(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(403)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def forbidding() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_host_that_answers_is_not_unreachable(forbidding: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as err:
        _get(f"{forbidding}/x", tmp_path)
    assert not isinstance(err.value, Unreachable) and "HTTP 403" in err.value.message


def _repo(url: str, layout: str, via: str = "--mirror URL or $VENDOR_MIRROR") -> Repository:
    return Repository("main", "x", url, options=(("mirror_layout", layout), ("mirror_via", via)))


def test_the_layout_is_the_url_below_the_mirror_root() -> None:
    repo = _repo("http://m.example/alpine/v3.16/main", "URL/v3.16/main")
    assert layout_of(repo, "http://m.example/alpine/v3.16/main/x86_64/APKINDEX.tar.gz") == \
        "URL/v3.16/main/x86_64/APKINDEX.tar.gz"
    assert layout_of(repo, "http://m.example/alpine/v3.16/releases/x86/latest-releases.yaml") == \
        "URL/v3.16/releases/x86/latest-releases.yaml"
    assert layout_of(repo, "http://other.example/x") == ""
    assert layout_of(_repo("http://m.example/debian", "URL"), "http://m.example/debian/dists/sid/InRelease") == \
        "URL/dists/sid/InRelease"
    assert mirror_hint(repo, "http://m.example/alpine/v3.16/main/x86_64/APKINDEX.tar.gz") == (
        "give another mirror with --mirror URL or $VENDOR_MIRROR, laid out as URL/v3.16/main/x86_64/APKINDEX.tar.gz")


def test_a_repository_on_a_fixed_host_hints_at_its_url() -> None:
    repo = Repository("private", "x", "http://fixed.example/repo/")
    assert mirror_hint(repo, "http://fixed.example/repo/x") == "check the repository's URL and the network"
