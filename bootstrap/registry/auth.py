"""Registry credentials from the files `podman login` and `docker login` write, read as podman
and skopeo read them (containers-auth.json(5)), so every tool on a CI runner uses one login.

Contract of `find_credentials(registry, log=...)`:
- The files, in order, the first one that has the registry winning:
  1. `$REGISTRY_AUTH_FILE` when set — and then that file alone, as podman's and skopeo's
     `--authfile` (whose default it is) reads no other; else
     `${XDG_RUNTIME_DIR}/containers/auth.json` (`/run/containers/UID/auth.json` without it);
  2. `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`;
  3. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
  4. `~/.dockercfg` (docker's old format: the `auths` map alone).
- In one file: `credHelpers[registry]` first (run `docker-credential-NAME get` with the host on
  stdin; a helper not on PATH is skipped with a debug line), then an `auths` entry whose key is
  the host or names it as a URL (`https://host`, `http://host/v1/`; docker.io, index.docker.io
  and registry-1.docker.io are one), then the file's `credsStore` helper.
- An entry gives `auth` (base64 `user:password`) or `username` / `password`, and may give an
  `identitytoken` (an OAuth2 refresh token, exchanged for bearer tokens); an entry without any
  (docker's marker for a helper) is passed over.
- None when nothing has the registry. A file that cannot be read or is not the JSON described,
  or a helper that fails, is a RegistryError naming it.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import RegistryError

LOGIN_HINT = "check the login in $REGISTRY_AUTH_FILE / ~/.docker/config.json (podman login / docker login write it)"
_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HELPER_TIMEOUT = 60  # seconds: a helper may ask a keyring, but must not hang a build


@dataclass(frozen=True)
class Credentials:
    """A login for one registry: a user and password, or an identity token (then the user is
    often empty); `source` says where it was found, for messages (never the secret)."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    source: str = ""


@dataclass(frozen=True)
class _AuthFile:
    path: Path
    legacy: bool = False  # ~/.dockercfg: the file is the auths map itself


def auth_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """The files searched, in order (see the module docstring); absent ones included."""
    return [f.path for f in _auth_files(os.environ if env is None else env)]


def _auth_files(env: Mapping[str, str]) -> list[_AuthFile]:
    if env.get("REGISTRY_AUTH_FILE"):
        return [_AuthFile(Path(env["REGISTRY_AUTH_FILE"]))]
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    runtime = env.get("XDG_RUNTIME_DIR")
    primary = Path(runtime) / "containers" / "auth.json" if runtime else \
        Path(f"/run/containers/{os.getuid()}/auth.json")
    config_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    docker = Path(env["DOCKER_CONFIG"]) / "config.json" if env.get("DOCKER_CONFIG") else \
        home / ".docker" / "config.json"
    return [_AuthFile(primary), _AuthFile(config_home / "containers" / "auth.json"), _AuthFile(docker),
            _AuthFile(home / ".dockercfg", legacy=True)]


def _quiet(line: str) -> None:
    pass


def find_credentials(registry: str, *, log: Callable[[str], None] = _quiet,
                     env: Mapping[str, str] | None = None) -> Credentials | None:
    """See the module docstring. `env` stands for os.environ (tests)."""
    for auth_file in _auth_files(os.environ if env is None else env):
        document = _load(auth_file)
        if document is None:
            continue
        found = _in_file(registry, document, auth_file, log)
        if found is not None:
            log(f"registry: credentials for {registry} from {found.source}")
            return found
    log(f"registry: no credentials for {registry} in {', '.join(map(str, auth_files(env)))}")
    return None


def _load(auth_file: _AuthFile) -> dict[str, Any] | None:
    """The file's JSON (a legacy file as {"auths": ...}); None when it does not exist."""
    path = auth_file.path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read the registry auth file {path}: {getattr(exc, 'strerror', None) or exc}",
                            hint=LOGIN_HINT) from None
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise RegistryError(f"the registry auth file {path} is not JSON ({exc})", hint=LOGIN_HINT) from None
    if auth_file.legacy:
        document = {"auths": document}
    if not isinstance(document, dict) or not isinstance(document.get("auths", {}), dict) \
            or not isinstance(document.get("credHelpers", {}), dict):
        raise RegistryError(f"the registry auth file {path} is not an auth file (no \"auths\" object)",
                            hint=LOGIN_HINT)
    return document


def _in_file(registry: str, document: Mapping[str, Any], auth_file: _AuthFile,
             log: Callable[[str], None]) -> Credentials | None:
    helpers: Mapping[str, Any] = document.get("credHelpers", {})
    for name in _names(registry):
        if isinstance(helpers.get(name), str):
            return run_helper(helpers[name], registry, log)
    auths: Mapping[str, Any] = document.get("auths", {})
    for key, entry in _matching(registry, auths):
        found = _entry(entry, auth_file.path, key)
        if found is not None:
            return found
        log(f"registry: {auth_file.path} has an empty entry for {key} (a credential helper's marker)")
    store = document.get("credsStore")
    if isinstance(store, str) and store:
        return run_helper(store, registry, log)
    return None


def _names(registry: str) -> list[str]:
    """The names a registry goes by in auth files, its own first."""
    return [registry, *sorted(_HUB_NAMES - {registry})] if registry in _HUB_NAMES else [registry]


def _matching(registry: str, auths: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The entries for `registry`: exact keys first, then keys naming it as a URL."""
    names = _names(registry)
    for name in names:
        if name in auths:
            yield name, auths[name]
    for key, entry in sorted(auths.items()):
        if key not in names and _host_of_key(key) in names:
            yield key, entry


def _host_of_key(key: str) -> str:
    """`https://host/v1/` → host; a plain key is itself (a namespaced `host/ns` key then never
    equals a host: those name one repository's login, which this client does not look up)."""
    stripped = key.removeprefix("http://").removeprefix("https://")
    return stripped.split("/", 1)[0] if stripped != key else key


def _entry(entry: Any, path: Path, key: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise RegistryError(f"the registry auth file {path}: the entry for {key} is not an object", hint=LOGIN_HINT)
    username, password = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise RegistryError(f"the registry auth file {path}: the \"auth\" of {key} is not base64 user:password",
                                hint=LOGIN_HINT) from None
        if ":" in decoded:
            username, _, password = decoded.partition(":")
            password = password.strip("\x00")  # as containers/image: some writers pad it
    token = entry.get("identitytoken") or ""
    if not (username or password or token):
        return None
    return Credentials(str(username), str(password), str(token), f"{path} ({key})")


def run_helper(name: str, registry: str, log: Callable[[str], None] = _quiet) -> Credentials | None:
    """Credentials from `docker-credential-NAME get` (the host on stdin, JSON out); None when
    the helper is not on PATH or has nothing for the host. A helper that fails otherwise is a
    RegistryError."""
    program = f"docker-credential-{name}"
    found = shutil.which(program)
    if found is None:
        log(f"registry: credential helper {program} is not on PATH: skipped")
        return None
    try:
        done = subprocess.run([found, "get"], input=registry, capture_output=True, text=True,
                              timeout=_HELPER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegistryError(f"credential helper {program} failed for {registry}: {exc}", hint=LOGIN_HINT) from None
    said = (done.stdout.strip() or done.stderr.strip()).splitlines()
    if done.returncode != 0:
        if said and "credentials not found" in said[0].lower():
            log(f"registry: credential helper {program} has nothing for {registry}")
            return None
        raise RegistryError(f"credential helper {program} failed for {registry} (exit {done.returncode}"
                            f"{': ' + said[0] if said else ''})", hint=LOGIN_HINT)
    try:
        answer = json.loads(done.stdout)
        username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    except (ValueError, AttributeError):
        raise RegistryError(f"credential helper {program} gave no JSON for {registry}", hint=LOGIN_HINT) from None
    if username == "<token>":  # the helpers' convention for an identity token
        return Credentials(identity_token=secret, source=f"credential helper {program}")
    return Credentials(username, secret, source=f"credential helper {program}")
