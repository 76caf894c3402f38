"""HTTP GETs for the fetcher: per-thread sessions, redirects followed by hand, and answers
sorted into the fetcher's three kinds (a file, not found, a failure worth retrying); anything
else is one FetchError line. Used by bootstrap.fetch.fetcher.Fetcher as a base class."""
from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import requests

from bootstrap.errors import FetchError
from bootstrap.fetch.transfer import _NotFound, _range_start, _reason, _retry_after, _State, _Transient, _unreachable

NETWORK_HINT = "check --mirror / network"
REDIRECT_HINT = "the mirror redirects somewhere it should not; check --mirror or pick another mirror"
_REDIRECTS = (301, 302, 303, 307, 308)


class HttpGetter:
    """The HTTP side of the Fetcher: `timeout` per read, at most `max_redirects` redirects."""

    timeout: float
    max_redirects: int = 10
    _local: threading.local
    _log: Callable[[str], None]

    def _session(self) -> requests.Session:
        """This thread's session (requests sessions are not thread-safe; connections are reused)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()  # trust_env stays on: *_proxy variables apply
            session.headers["User-Agent"] = "rootfs-bootstrap"
            session.headers["Accept-Encoding"] = "identity"  # digests are of the file as stored
            self._local.session = session
        return session

    def _response(self, url: str, state: _State) -> requests.Response:
        """An open streaming response for the file (200, or 206 continuing `state`), redirects
        followed; errors sorted into our three kinds."""
        headers: dict[str, str] = {}
        if state.received:
            headers["Range"] = f"bytes={state.received}-"
            if state.validator:
                headers["If-Range"] = state.validator
        response = self._follow(url, headers)
        status = response.status_code
        if status == 416 and state.received:
            response.close()
            state.reset()
            raise _Transient("the server refused to resume (HTTP 416)")
        if status >= 400:
            response.close()
            if status in (404, 410):
                raise _NotFound()
            what = f"HTTP {status} {response.reason or ''}".strip()
            if status >= 500 or status == 429:
                raise _Transient(what, _retry_after(response.headers.get("Retry-After")))
            raise FetchError(f"cannot fetch {url}: {what}", hint=NETWORK_HINT)
        if not 200 <= status < 300:
            response.close()
            raise FetchError(f"cannot fetch {url}: HTTP {status} {response.reason or ''}".strip(),
                             hint=NETWORK_HINT)
        if status == 206:
            start = _range_start(response.headers.get("Content-Range", ""))
            if start != state.received:
                response.close()
                state.reset()
                raise _Transient(f"HTTP 206 with an unusable Content-Range "
                                 f"{response.headers.get('Content-Range', '')!r}")
            state.resumed = True
        else:
            state.restart(response.headers)
        return response

    def _http_head(self, url: str, size: int) -> bytes | None:
        """The first `size` bytes of `url` by one Range request (a server that ignores Range
        answers 200: only `size` bytes of it are read); None when the file is not there. No
        retries: a caller reads many small heads and a failure is the caller's FetchError."""
        try:
            response = self._follow(url, {"Range": f"bytes=0-{size - 1}"})
        except _Transient as exc:
            raise FetchError(f"cannot fetch {url}: {exc}", hint=NETWORK_HINT) from None
        with response:
            if response.status_code in (404, 410):
                return None
            if response.status_code not in (200, 206):
                raise FetchError(f"cannot fetch {url}: HTTP {response.status_code}", hint=NETWORK_HINT)
            out = bytearray()
            for chunk in response.iter_content(1 << 16):
                out += chunk
                if len(out) >= size:
                    break
        return bytes(out[:size])

    def _follow(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET `url`, following redirects to any http(s) URL, at most `max_redirects` of them;
        a loop, or a redirect elsewhere (file://, ftp://), is a FetchError."""
        here, seen = url, {url}
        for _ in range(self.max_redirects + 1):
            try:
                response = self._session().get(here, stream=True, timeout=self.timeout,
                                               headers=headers, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Transient(_reason(exc), unreachable=_unreachable(exc)) from None
            except requests.RequestException as exc:
                raise FetchError(f"cannot fetch {url}: {_reason(exc)}", hint=NETWORK_HINT) from None
            if response.status_code not in _REDIRECTS:
                return response
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise FetchError(f"cannot fetch {url}: HTTP {response.status_code} without a Location",
                                 hint=NETWORK_HINT)
            there = _redirect_target(url, here, location)
            if there in seen:
                raise FetchError(f"cannot fetch {url}: redirect loop (back to {there[:200]} after "
                                 f"{len(seen)} redirects)", hint=REDIRECT_HINT)
            self._log(f"fetch: {here} redirects to {there}")
            seen.add(there)
            here = there
        raise FetchError(f"cannot fetch {url}: more than {self.max_redirects} redirects",
                         hint=REDIRECT_HINT)


def _redirect_target(url: str, here: str, location: str) -> str:
    """Where a redirect from `here` (on the way to `url`) leads; FetchError unless it is an
    http(s) URL."""
    try:
        there = urljoin(here, location)
        scheme = urlsplit(there).scheme.lower()
    except ValueError:
        raise FetchError(f"cannot fetch {url}: redirected to an invalid URL {location[:200]!r}",
                         hint=REDIRECT_HINT) from None
    if scheme not in ("http", "https"):
        raise FetchError(f"cannot fetch {url}: refused a redirect to {there[:200]} "
                         f"(only http and https are followed)", hint=REDIRECT_HINT)
    return there
