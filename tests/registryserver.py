"""Debian's own registry (docker-registry, distribution 2.8) for the tests, on 127.0.0.1.

`Registry(directory, htpasswd=(user, password), token=TokenAuth(...))` is a context manager:
it writes the registry's config under `directory` (filesystem storage there too), starts
`docker-registry serve` on a free port of 127.0.0.1 under `timeout 900` (so it dies even when
the test process is killed), waits until `/v2/` answers (any status: with auth it is 401) and
stops it on exit. `host` is `127.0.0.1:PORT`, `url` its plain-HTTP base.

`TokenServer` is the token server of `auth: token` (the distribution token spec): on
127.0.0.1, in a thread, issuing RS256 JWTs the registry verifies through their x5c chain.
"""
from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGISTRY = "/usr/bin/docker-registry"
START_TIMEOUT = 30.0  # seconds to wait for /v2/ before giving up


@dataclass(frozen=True)
class TokenAuth:
    """The registry's `auth: token` settings: the token server's URL, the service name tokens
    are issued for, their issuer and the certificate bundle their signatures chain to."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


def free_port() -> int:
    """A port nobody listens on at 127.0.0.1 now (the registry takes it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd line, made by Apache's htpasswd (what distribution reads)."""
    done = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True,
                          timeout=60)
    return done.stdout.strip() + "\n"


class Registry:
    """See the module docstring."""

    def __init__(self, directory: Path, *, htpasswd: tuple[str, str] | None = None,
                 token: TokenAuth | None = None) -> None:
        self.directory = directory
        self.htpasswd, self.token = htpasswd, token
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.directory / 'storage'}",
                 "  delete:", "    enabled: true",
                 "http:", f"  addr: 127.0.0.1:{self.port}", "  secret: rootfs-bootstrap-tests"]
        if self.htpasswd is not None:
            users = self.directory / "htpasswd"
            users.write_text(htpasswd_line(*self.htpasswd))
            lines += ["auth:", "  htpasswd:", "    realm: rootfs-bootstrap-tests", f"    path: {users}"]
        elif self.token is not None:
            lines += ["auth:", "  token:", f"    realm: {self.token.realm}", f"    service: {self.token.service}",
                      f"    issuer: {self.token.issuer}", f"    rootcertbundle: {self.token.rootcertbundle}"]
        config = self.directory / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def __enter__(self) -> Registry:
        for _ in range(3):  # a free port can be taken between asking and binding: try another
            self.port = free_port()
            if self._start(self._config()):
                return self
        raise RuntimeError(f"docker-registry did not start: {self._log()}")

    def _start(self, config: Path) -> bool:
        # REGISTRY_* variables override the registry's config (REGISTRY_AUTH_FILE would become
        # auth.file): the tests set some for the client, the registry must not see them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        log = open(self.directory / "registry.log", "wb")
        with log:
            self.process = subprocess.Popen(["timeout", "900", REGISTRY, "serve", str(config)], env=env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                requests.get(f"{self.url}/v2/", timeout=2).close()
                return True
            except requests.ConnectionError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"docker-registry did not answer within {START_TIMEOUT}s: {self._log()}")

    def _log(self) -> str:
        path = self.directory / "registry.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def __exit__(self, *exc: object) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # timeout leads its own session and group, with the registry in it: signal them all
        self._signal(process, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal(process, signal.SIGKILL)
            process.wait(timeout=10)

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], number: int) -> None:
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            pass


class TokenServer:
    """A distribution token server on 127.0.0.1: checks Basic credentials (or an OAuth2 refresh
    token), grants what is asked, as RS256 JWTs whose header carries the certificate (x5c)."""

    service, issuer = "rootfs-bootstrap-registry", "rootfs-bootstrap-token-issuer"

    def __init__(self, directory: Path, users: Mapping[str, str], refresh: Mapping[str, str]) -> None:
        self.users, self.refresh = users, refresh
        self.asked: list[tuple[str, tuple[str, ...]]] = []  # (grant, scopes) of each token issued
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        directory.mkdir(parents=True, exist_ok=True)
        self.bundle = directory / "token-cert.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                user = server.basic_user(self.headers.get("Authorization", ""))
                server.answer(self, user, "basic", tuple(query.get("scope", [])), "token")

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
                user = server.refresh.get(form.get("refresh_token", [""])[0]) \
                    if form.get("grant_type") == ["refresh_token"] else None
                server.answer(self, user, "refresh_token", tuple(form.get("scope", [""])[0].split()), "access_token")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def auth(self) -> TokenAuth:
        """The registry's settings for this server."""
        return TokenAuth(self.realm, self.service, self.issuer, self.bundle)

    def basic_user(self, header: str) -> str | None:
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None

    def answer(self, handler: http.server.BaseHTTPRequestHandler, user: str | None, grant: str,
               scopes: tuple[str, ...], field: str) -> None:
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
        status = 401
        if user is not None:
            self.asked.append((grant, scopes))
            status, body = 200, json.dumps({field: self.jwt(user, scopes), "expires_in": 600}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def jwt(self, user: str, scopes: tuple[str, ...]) -> str:
        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + 600, "nbf": now - 60,
                  "iat": now, "jti": f"{user}-{len(self.asked)}", "access": access}
        signing = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{part(signature)}"

    def __enter__(self) -> TokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
