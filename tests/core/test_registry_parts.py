"""bootstrap.registry's pure parts: references, the auth files (podman's order, key forms,
credential helpers), challenges and scopes."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from bootstrap.errors import RegistryError, UsageError
from bootstrap.registry import (
    Reference,
    auth_files,
    find_credentials,
    parse_reference,
    sha256_digest,
)
from bootstrap.registry.tokens import merge_scopes, parse_challenge

EPOCH = 1700000000
FILES = {"etc/hostname": b"tiny\n", "usr/share/doc/tiny/README": b"a tiny image\n" * 40}


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5000/base/debian:bookworm", Reference("127.0.0.1:5000", "base/debian", "bookworm")),
    ("registry.example.com/a/b/c", Reference("registry.example.com", "a/b/c", "latest")),
    ("localhost/x@sha256:" + "a" * 64, Reference("localhost", "x", "", "sha256:" + "a" * 64)),
    ("host.io/repo:tag@sha256:" + "b" * 64, Reference("host.io", "repo", "tag", "sha256:" + "b" * 64)),
    ("debian:12", Reference("docker.io", "library/debian", "12")),
    ("debian", Reference("docker.io", "library/debian", "latest")),
    ("someone/tool:v1.2_rc-3", Reference("docker.io", "someone/tool", "v1.2_rc-3")),
    ("index.docker.io/library/alpine:3.20", Reference("docker.io", "library/alpine", "3.20")),
    ("[::1]:5000/x/y:1", Reference("[::1]:5000", "x/y", "1")),
    ("host:5000/a__b/c-d.e:1", Reference("host:5000", "a__b/c-d.e", "1")),
])
def test_parse_reference(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


def test_reference_api_host_and_text() -> None:
    assert parse_reference("debian:12").api_host == "registry-1.docker.io"
    assert parse_reference("127.0.0.1:5000/base/debian").api_host == "127.0.0.1:5000"
    digest = "sha256:" + "c" * 64
    assert str(parse_reference(f"h.io/r:t@{digest}")) == f"h.io/r:t@{digest}"
    assert parse_reference(f"h.io/r@{digest}").reference == digest


@pytest.mark.parametrize("text", ["", "Base/Debian:1", "host.io/repo:", "host.io/repo:-bad", "host.io/re po",
                                  "host.io/repo@sha256:abc", "host.io/repo@md5:" + "a" * 32, "host.io//x",
                                  "ho_st.io:5000/x", "x/" + "a" * 256])
def test_parse_reference_refuses_in_one_line(text: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_reference(text)
    assert "\n" not in refused.value.message


def _home(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A fake home with every auth file's place, and the environment pointing at them."""
    places = {"runtime": tmp / "run" / "containers" / "auth.json",
              "config": tmp / "config" / "containers" / "auth.json",
              "docker": tmp / "docker" / "config.json", "legacy": tmp / "home" / ".dockercfg"}
    for path in places.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    for name in ("REGISTRY_AUTH_FILE",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp / "config"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp / "docker"))
    return places


def _login(user: str, password: str = "pw") -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_auth_files_are_read_in_podman_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    places = _home(tmp_path, monkeypatch)
    assert auth_files() == [places["runtime"], places["config"], places["docker"], places["legacy"]]
    host = "reg.example:5000"
    places["legacy"].write_text(json.dumps({f"https://{host}/v1/": _login("legacy")}))
    assert _user(host) == "legacy"
    places["docker"].write_text(json.dumps({"auths": {f"http://{host}/v1/": _login("docker")}}))
    assert _user(host) == "docker"
    places["config"].write_text(json.dumps({"auths": {f"https://{host}": {"username": "config", "password": "x"}}}))
    assert _user(host) == "config"
    places["runtime"].write_text(json.dumps({"auths": {host: _login("runtime"), "other.example": _login("no")}}))
    found = find_credentials(host)
    assert found is not None and (found.username, found.password) == ("runtime", "pw")
    assert "pw" not in repr(found)
    alone = tmp_path / "alone.json"
    alone.write_text(json.dumps({"auths": {"other.example": _login("alone")}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(alone))
    assert auth_files() == [alone]  # as podman's --authfile: that file and no other
    assert find_credentials(host) is None and _user("other.example") == "alone"


def _user(host: str) -> str | None:
    found = find_credentials(host)
    return found.username if found is not None else None


def test_auth_entries_hub_names_tokens_and_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    places = _home(tmp_path, monkeypatch)
    places["docker"].write_text(json.dumps({
        "auths": {"https://index.docker.io/v1/": {**_login("hubuser"), "identitytoken": "REFRESH"},
                  "helped.example": {}, "stored.example": {}},
        "credHelpers": {"helped.example": "fake", "absent.example": "not-installed"},
        "credsStore": "fake"}))
    hub = find_credentials("docker.io")
    assert hub is not None and (hub.username, hub.identity_token) == ("hubuser", "REFRESH")
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread host\nif [ "$host" = nothing.example ]; then\n'
                      '  echo "credentials not found in native keychain"; exit 1; fi\n'
                      'printf \'{"ServerURL":"%s","Username":"from-helper","Secret":"%s-secret"}\' "$host" "$host"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    helped = find_credentials("helped.example")
    assert helped is not None and (helped.username, helped.password) == ("from-helper", "helped.example-secret")
    stored = find_credentials("stored.example")  # docker's empty marker entry, then credsStore
    assert stored is not None and stored.password == "stored.example-secret"
    assert find_credentials("nothing.example") is None
    lines: list[str] = []
    assert find_credentials("absent.example", log=lines.append) is None
    assert any("docker-credential-not-installed is not on PATH" in line for line in lines)


def test_a_malformed_auth_file_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    places = _home(tmp_path, monkeypatch)
    places["config"].write_text("{not json")
    with pytest.raises(RegistryError, match=str(places["config"])):
        find_credentials("reg.example")
    places["config"].write_text(json.dumps({"auths": {"reg.example": {"auth": "%%%"}}}))
    with pytest.raises(RegistryError, match="is not base64"):
        find_credentials("reg.example")
    places["config"].write_text(json.dumps({"auths": ["reg.example"]}))
    with pytest.raises(RegistryError, match="not an auth file"):
        find_credentials("reg.example")


def test_challenges_and_scopes() -> None:
    challenge = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                                'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"')
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.params["realm"] == "https://auth.example/token"
    assert challenge.params["error"] == "insufficient_scope"
    assert challenge.scopes == ("repository:a/b:pull,push", "repository:c:pull")
    basic = parse_challenge('Basic realm="x \\"y\\""')
    assert basic is not None and (basic.scheme, basic.params["realm"]) == ("basic", 'x "y"')
    assert parse_challenge(None) is None and parse_challenge("") is None
    assert merge_scopes(["repository:a:pull"], ["repository:a:push", "repository:b:pull"]) == \
        ("repository:a:pull,push", "repository:b:pull")
    assert hashlib.sha256(b"").hexdigest() in sha256_digest(b"")
