"""Debian's own registry (docker-registry, distribution 2.8) for the tests, on 127.0.0.1.

`Registry(directory, htpasswd=(user, password), token=TokenAuth(...))` is a context manager:
it writes the registry's config under `directory` (filesystem storage there too), starts
`docker-registry serve` on a free port of 127.0.0.1 under `timeout 900` (so it dies even when
the test process is killed), waits until `/v2/` answers (any status: with auth it is 401) and
stops it on exit. `host` is `127.0.0.1:PORT`, `url` its plain-HTTP base.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

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
