"""One registry's HTTP side: the scheme (and the insecure fallback), authentication through the
registry's challenge, retries of idempotent requests, and every failure as one line.

Contract of `Transport.request(method, target, repo=, what=, scopes=, ok=)`:
- `target` is a path under the registry (`/v2/...`) or a URL the registry gave (a Location).
- HTTPS always; with `insecure` (docker's insecure-registries, skopeo's --tls-verify=false)
  certificates are not checked, and when the first contact over HTTPS fails (no TLS there,
  typically) the registry is spoken to in plain HTTP from then on.
- A 401 is answered once per request: `Basic` → the credentials (looked up with
  auth.find_credentials when none were given, only now); `Bearer` → a token from the realm for
  `scopes` (cached per scope set, fetched again when the registry refuses it).
- With `retry`, a request that got no answer or a 5xx/408/429 is sent again, at most `retries`
  times with exponential backoff (never at the first contact: a wrong name or port fails at
  once).
- A status in `ok` returns the response (the caller closes it); any other status is a
  RegistryError of one line: registry, repository, operation, status and the registry's own
  error code and message. No answer is a RegistryError "cannot reach REGISTRY (why)".
"""
from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import requests
from urllib3.exceptions import InsecureRequestWarning

from bootstrap.errors import RegistryError
from bootstrap.registry.auth import LOGIN_HINT, Credentials, find_credentials
from bootstrap.registry.reference import api_host
from bootstrap.registry.tokens import Challenge, fetch_token, merge_scopes, parse_challenge

Log = Callable[[str], None]
DEFAULT_CHUNK = 16 << 20
INSECURE_HINT = "the registry seems to speak plain HTTP: give --insecure-registry"
_TIMEOUT = (30.0, 300.0)  # (connect, read) seconds: a registry may take long to commit a big blob


class NoAnswer(RegistryError):
    """No answer came (connection refused, name not resolved, TLS failure, reset, timeout)."""


def _quiet(line: str) -> None:
    pass


def pull_scopes(repo: str) -> tuple[str, ...]:
    """The token scopes reading `repo` needs."""
    return (f"repository:{repo}:pull",)


def push_scopes(repo: str, mount_from: str = "") -> tuple[str, ...]:
    """The token scopes writing `repo` needs (and reading `mount_from`, for a mount)."""
    return (f"repository:{repo}:pull,push",) + ((f"repository:{mount_from}:pull",) if mount_from else ())


def transient(status: int) -> bool:
    """Whether an HTTP status is worth sending the request again for."""
    return status >= 500 or status in (408, 429)


class Transport:
    """See the module docstring. `session` may be given (tests give one with a failing adapter);
    `log` gets debug lines; `backoff` is the first retry's wait in seconds."""

    def __init__(self, registry: str, *, insecure: bool = False, credentials: Credentials | None = None,
                 retries: int = 4, chunk_size: int = DEFAULT_CHUNK, session: requests.Session | None = None,
                 log: Log = _quiet, backoff: float = 0.5) -> None:
        if chunk_size < 1 or retries < 0:
            raise ValueError("chunk_size must be positive and retries not negative")
        self.registry, self.host = registry, api_host(registry)
        self.insecure, self.retries, self.chunk_size, self.backoff = insecure, retries, chunk_size, backoff
        self.log = log
        if session is None:
            session = requests.Session()  # trust_env stays on: *_proxy variables apply
            session.headers["User-Agent"] = "rootfs-bootstrap"
        self.session = session
        self.sleep: Callable[[float], None] = time.sleep
        self._scheme = "https"
        self._reached = False  # once the registry answered, the scheme is settled and retries allowed
        self._credentials = credentials
        self._looked_up = credentials is not None
        self._basic = False  # the registry asked for Basic: send it with every request
        self._tokens: dict[tuple[str, ...], str] = {}
        # upload.py: whether a small blob goes in one POST (a registry that opens a session
        # instead, as distribution 2.8 does, drops the body: after the first, never again)
        self.single_post = True

    def credentials(self) -> Credentials | None:
        """The login for this registry: the one given, else the auth files' (looked up once)."""
        if not self._looked_up:
            self._credentials = find_credentials(self.registry, log=self.log)
            self._looked_up = True
        return self._credentials

    def url(self, target: str) -> str:
        """An absolute URL for a path under the registry (a URL stays as it is)."""
        return target if "://" in target else f"{self._scheme}://{self.host}{target}"

    def ours(self, url: str) -> bool:
        """Whether `url` is on this registry's API host."""
        return url.split("://", 1)[-1].split("/", 1)[0] == self.host

    def request(self, method: str, target: str, *, repo: str, what: str, scopes: Sequence[str],
                ok: Collection[int], retry: bool = False, headers: Mapping[str, str] | None = None,
                params: Mapping[str, str] | None = None, data: bytes | None = None,
                stream: bool = False) -> requests.Response:
        """See the module docstring."""
        authenticated, attempt = False, 0
        while True:
            url = self.url(target)
            sent = dict(headers or {})
            if self.ours(url):  # a Location elsewhere (a storage host) never gets our credentials
                sent.update(self._authorization(scopes))
            try:
                response = self.send(method, url, headers=sent, params=params, data=data, stream=stream)
            except NoAnswer as exc:
                if not (retry and self._reached and attempt < self.retries):
                    raise
                attempt = self._wait(attempt, f"{what}: {exc.message}")
                continue
            status = response.status_code
            if status == 401 and not authenticated:
                challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
                response.close()
                self._authenticate(challenge, scopes, repo, what)
                authenticated = True
                continue
            if retry and transient(status) and attempt < self.retries:
                response.close()
                attempt = self._wait(attempt, f"{what}: HTTP {status}")
                continue
            if status in ok:
                return response
            raise self.failure(response, what, repo)

    def _wait(self, attempt: int, why: str) -> int:
        delay = self.backoff * (2 ** attempt)
        self.log(f"registry: {why}; trying again in {delay:.1f}s")
        self.sleep(delay)
        return attempt + 1

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP request, no authentication handling; the insecure fallback to plain HTTP
        happens here. No answer raises NoAnswer."""
        ours = url.startswith(f"https://{self.host}/")
        try:
            with warnings.catch_warnings():
                if self.insecure:  # asked for: certificates are not checked, no need to warn each time
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                response = self.session.request(method, url, verify=not self.insecure, timeout=_TIMEOUT, **kwargs)
        except requests.exceptions.ConnectionError as exc:  # SSLError among them
            # as docker does for an insecure registry: whatever stopped HTTPS at the first
            # contact, plain HTTP is tried (a refused connection then fails the same way)
            if ours and self.insecure and not self._reached:
                self.log(f"registry: HTTPS to {self.host} failed ({_reason(exc)}): using plain HTTP")
                self._scheme = "http"
                return self.send(method, "http://" + url.removeprefix("https://"), **kwargs)
            raise self._unreachable(url, exc) from None
        except requests.RequestException as exc:
            raise self._unreachable(url, exc) from None
        if url.startswith(f"{self._scheme}://{self.host}/"):
            self._reached = True
        return response

    def _unreachable(self, url: str, exc: requests.RequestException) -> NoAnswer:
        reason = _reason(exc)
        name = self.registry if f"://{self.host}/" in url else url.split("?", 1)[0]
        if isinstance(exc, requests.exceptions.SSLError):
            if "wrong version number" in reason or "record layer" in reason or "http request" in reason:
                return NoAnswer(f"cannot reach {name} over HTTPS ({reason})", hint=INSECURE_HINT)
            return NoAnswer(f"cannot reach {name}: its TLS certificate does not verify ({reason})",
                               hint="install its CA certificate, or give --insecure-registry to skip the check")
        return NoAnswer(f"cannot reach {name} ({reason})",
                           hint="check the registry's name and port, and the network")

    def _authorization(self, scopes: Sequence[str]) -> dict[str, str]:
        token = self._tokens.get(merge_scopes(scopes))
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        creds = self._credentials if self._basic else None
        if creds is not None:
            pair = f"{creds.username}:{creds.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def _authenticate(self, challenge: Challenge | None, scopes: Sequence[str], repo: str, what: str) -> None:
        """Make the next try carry what `challenge` asks for; or raise when nothing could."""
        if challenge is None:
            raise RegistryError(f"registry {self.registry} refused {what} in {repo} (401) and said no way to log in")
        if challenge.scheme == "basic":
            creds = self.credentials()
            if creds is None or not (creds.username or creds.password):
                raise self._needs_login(repo, 401)
            if self._basic:  # they were sent already: refused
                raise self._refused(repo, 401, creds)
            self._basic = True
        elif challenge.scheme == "bearer":
            self._tokens.pop(merge_scopes(scopes), None)
            token = fetch_token(self._token_http, challenge, scopes, self.credentials(), f"{self.registry}/{repo}")
            self._tokens[merge_scopes(scopes)] = token
        else:
            raise RegistryError(f"registry {self.registry} asks for {challenge.scheme} authentication, which this "
                                "client does not speak (Basic and Bearer only)")

    def _token_http(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return self.send(method, url, **kwargs)

    def _needs_login(self, repo: str, status: int) -> RegistryError:
        return RegistryError(f"registry {self.registry} needs credentials for {repo} ({status})", hint=LOGIN_HINT)

    def _refused(self, repo: str, status: int, creds: Credentials) -> RegistryError:
        return RegistryError(f"registry {self.registry} refused the credentials for {repo} ({status}; from "
                             f"{creds.source or 'the caller'})", hint=LOGIN_HINT)

    def failure(self, response: requests.Response, what: str, repo: str) -> RegistryError:
        """The one-line error of an unexpected answer (the response is closed)."""
        status, said = response.status_code, registry_said(response)
        response.close()
        if status == 401:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
            scope_error = challenge is not None and challenge.params.get("error") == "insufficient_scope"
            creds = self._credentials
            if creds is not None and not scope_error:
                return self._refused(repo, status, creds)
            if creds is None:
                return self._needs_login(repo, status)
        hint = "the login may lack the right for this repository" if status in (401, 403) else None
        answer = f"{status} {said}".strip()
        return RegistryError(f"registry {self.registry}: {what} in {repo} failed ({answer})", hint=hint)


def registry_said(response: requests.Response) -> str:
    """The registry's own words on an error: the first `errors` entry's code, message and
    detail (cut short), else the HTTP reason; one line."""
    body: Any = None
    if response.request is None or response.request.method != "HEAD":
        try:
            body = json.loads(response.content[:65536] or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        text = ": ".join(str(first[k]) for k in ("code", "message") if first.get(k))
        if first.get("detail"):
            detail = first["detail"]
            detail = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
            text += f" ({detail[:200]})"
        if len(errors) > 1:
            text += f" and {len(errors) - 1} more"
    else:
        text = response.reason or ""
    return " ".join(text.split())


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, short: 'connection refused', 'name not resolved'."""
    text = str(exc)
    lowered = text.lower()
    for needle, short in (("connection refused", "connection refused"),
                          ("name or service not known", "name not resolved"),
                          ("temporary failure in name resolution", "name not resolved"),
                          ("nodename nor servname", "name not resolved"),
                          ("no route to host", "no route to host"),
                          ("timed out", "timed out"), ("connection reset", "connection reset"),
                          ("wrong version number", "TLS: wrong version number"),
                          ("certificate verify failed", "certificate verify failed")):
        if needle in lowered:
            return short
    return " ".join(text.split())[:200]
