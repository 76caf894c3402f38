"""The registry's authentication challenge and bearer tokens (the distribution token spec and
its OAuth2 form).

Contract:
- `parse_challenge(header)`: the first challenge of a `WWW-Authenticate` header as a scheme
  (lowercase: basic, bearer) and its parameters (realm, service, scope, error...); None when
  the header is absent or unreadable.
- `fetch_token(http, challenge, scopes, credentials, what)`: a token for every scope in
  `scopes` and the challenge's own: with an identity token, an OAuth2 `grant_type=refresh_token`
  POST; else a GET with the scopes as `scope=` parameters, basic-authenticated when there are
  credentials, anonymous otherwise. The token server's refusal is a RegistryError of one line
  naming it, the registry and the repository.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from bootstrap.errors import RegistryError
from bootstrap.registry.auth import LOGIN_HINT, Credentials

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')
CLIENT_ID = "rootfs-bootstrap"

# (method, url, keyword arguments) → response; the client's transport, so the token server is
# reached with the same TLS settings and connection errors read the same.
Http = Callable[..., requests.Response]


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge."""

    scheme: str
    params: Mapping[str, str]

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the registry asked for (space-separated in one `scope` parameter)."""
        return tuple(self.params.get("scope", "").split())


def parse_challenge(header: str | None) -> Challenge | None:
    """See the module docstring."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if not scheme.isalpha():
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        found = _PARAM.match(rest, pos)
        if found is None or found.end() == pos:
            break  # the start of a second challenge, or noise: the first one is what we use
        value = found.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[found.group(1).lower()] = value
        pos = found.end()
    return Challenge(scheme.lower(), params)


def merge_scopes(*groups: Sequence[str]) -> tuple[str, ...]:
    """The scopes of all groups, each resource once with the union of its actions, sorted (the
    cache key of a token)."""
    actions: dict[str, set[str]] = {}
    for group in groups:
        for scope in group:
            resource, sep, acts = scope.rpartition(":")
            if not sep or not resource:
                actions.setdefault(scope, set())
                continue
            actions.setdefault(resource, set()).update(a for a in acts.split(",") if a)
    return tuple(sorted(f"{r}:{','.join(sorted(a))}" if a else r for r, a in actions.items()))


def fetch_token(http: Http, challenge: Challenge, scopes: Sequence[str], credentials: Credentials | None,
                what: str) -> str:
    """See the module docstring; `what` names the registry and repository for messages."""
    realm = challenge.params.get("realm", "")
    if not realm.startswith(("https://", "http://")):
        raise RegistryError(f"{what}: the registry's bearer challenge names no usable token server ({realm!r})")
    service = challenge.params.get("service", "")
    wanted = merge_scopes(scopes, challenge.scopes)
    if credentials is not None and credentials.identity_token:
        form = {"grant_type": "refresh_token", "refresh_token": credentials.identity_token,
                "client_id": CLIENT_ID, "scope": " ".join(wanted)}
        if service:
            form["service"] = service
        response = http("POST", realm, data=form)
    else:
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in wanted]
        auth = (credentials.username, credentials.password) if credentials is not None else None
        response = http("GET", realm, params=params, auth=auth)
    with response:
        if response.status_code in (401, 403):
            if credentials is None:
                raise RegistryError(f"{what} needs credentials: the token server {realm} refused an anonymous "
                                    f"token ({response.status_code})", hint=LOGIN_HINT)
            raise RegistryError(f"the token server {realm} refused the credentials for {what} "
                                f"({response.status_code}; from {credentials.source or 'the caller'})",
                                hint=LOGIN_HINT)
        if response.status_code != 200:
            raise RegistryError(f"the token server {realm} failed for {what} (HTTP {response.status_code})")
        return _token_of(response, realm, what)


def _token_of(response: requests.Response, realm: str, what: str) -> str:
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryError(f"the token server {realm} answered no token for {what}")
    return token
