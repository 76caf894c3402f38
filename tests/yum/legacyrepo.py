"""CentOS 3.9-shaped yum trees from before repodata/, made with the real tools: `setup` and
`bash` built by rpmbuild and signed by rpmsign (yumrepo's helpers), then one tree per kind of
metadata, each under its own mirror root `TOP/KIND/` so `--mirror URL/KIND` picks it:

- `repodata`: createrepo_c, as today (the reference);
- `headers`: yum 2.0's headers/ written by Debian's python3-rpm (writehdrs.py: `hdr.unload()`,
  gzip; bash's raw, as some trees had them), packages under RedHat/RPMS/;
- `hdlist`: RedHat/base/hdlist, the same headers back to back with anaconda's tags added
  (FILENAME, FILESIZE, CDNUM, MATCHER), written here with the project's own header reader;
- `missing`: headers/ whose header.info names a bash .rpm the tree lacks;
- `badhdr`: headers/ whose bash .hdr is another build's header of the same NEVRA;
- `listing`: RPMS/ alone, served as http.server's HTML index, with HTTP Range answered (206)
  and every ranged request recorded.
"""
from __future__ import annotations

import http.server
import re
import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bootstrap.adapters.yum.header import HEADER_MAGIC, read_rpm
from tests.yum.yumrepo import SETUP, _build, _key, _need_tools, _run, _sign

KINDS = ("repodata", "headers", "hdlist", "hdlist2", "missing", "badhdr", "listing")
WRITEHDRS = Path(__file__).with_name("writehdrs.py")
BASH = """Epoch: 1
Requires: setup
Requires: /etc/group
%description
a shell (a script standing in for one)
%install
mkdir -p %{buildroot}/bin
printf '#!/bin/sh\\necho bash\\n' > %{buildroot}/bin/bash
chmod 0755 %{buildroot}/bin/bash
ln -s bash %{buildroot}/bin/sh
%files
/bin/bash
/bin/sh
"""
# Another build of bash 1:2.05b-1 whose header differs (one provide more).
OTHER_BASH = BASH.replace("Requires: setup\n", "Requires: setup\nProvides: another-bash\n")


@dataclass(frozen=True)
class Legacy:
    """The trees' server: `url(kind)` is the --mirror of one kind; `key` signed every package."""

    base: str
    top: Path
    key: Path
    ranged: list[str]

    def url(self, kind: str) -> str:
        return f"{self.base}/{kind}"


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """http.server's static files and listings, and `Range: bytes=A-B` as 206 (each recorded)."""

    ranged: list[str]

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        m = re.fullmatch(r"bytes=([0-9]+)-([0-9]+)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if m is None or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        start, end = int(m[1]), min(int(m[2]), len(data) - 1)
        self.ranged.append(self.path)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start:end + 1])


@contextmanager
def _serve(top: Path) -> Iterator[tuple[str, list[str]]]:
    """(URL, the ranged requests) of a _RangeHandler server of `top` on 127.0.0.1."""
    ranged: list[str] = []
    handler = type("Handler", (_RangeHandler,), {"ranged": ranged})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            lambda *a, **k: handler(*a, directory=str(top), **k))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", ranged
    finally:
        httpd.shutdown()
        httpd.server_close()


def _os_tree(top: Path, kind: str) -> Path:
    where = top / kind / "3.9" / "os" / "i386"
    where.mkdir(parents=True)
    return where


def _with_tags(blob: bytes, extra: list[tuple[int, int, bytes, int]]) -> bytes:
    """A header blob with more index entries (tag, type, data, count) appended to its store,
    as anaconda's genhdlist adds its tags; INT32 data aligned to 4 as rpm aligns it."""
    count, size = struct.unpack_from(">II", blob, 8)
    index = bytearray(blob[16:16 + 16 * count])
    store = bytearray(blob[16 + 16 * count:16 + 16 * count + size])
    for tag, typ, data, n in extra:
        while typ == 4 and len(store) % 4:
            store.append(0)
        index += struct.pack(">IIII", tag, typ, len(store), n)
        store += data
    return HEADER_MAGIC + b"\0\0\0\0" + struct.pack(">II", count + len(extra), len(store)) + bytes(index + store)


def _hdlist(rpms: list[Path]) -> bytes:
    """anaconda's hdlist of `rpms`: each main header with FILENAME, FILESIZE, CDNUM, MATCHER."""
    out = b""
    for rpm in rpms:
        with open(rpm, "rb") as fh:
            blob = read_rpm(fh).header_bytes
        out += _with_tags(blob, [(1000000, 6, rpm.name.encode() + b"\0", 1),
                                 (1000001, 4, struct.pack(">I", rpm.stat().st_size), 1),
                                 (1000002, 4, struct.pack(">I", 1), 1),
                                 (1000004, 6, rpm.name.split("-")[0].encode() + b"\0", 1)])
    return out


# The file-name tags genhdlist moved from hdlist to hdlist2 (OLDFILENAMES, DIRINDEXES,
# BASENAMES, DIRNAMES), and MATCHER, which pairs the two.
FILE_TAGS = frozenset({1027, 1116, 1117, 1118})
MATCHER = 1000004


def _select(blob: bytes, keep: Callable[[int], bool]) -> bytes:
    """A header blob with only the index entries whose tag `keep` accepts; the store is left
    as it was (the kept entries' offsets stay right)."""
    count, size = struct.unpack_from(">II", blob, 8)
    entries = [blob[16 + 16 * i:32 + 16 * i] for i in range(count)]
    kept = [e for e in entries if keep(struct.unpack_from(">I", e)[0])]
    store = blob[16 + 16 * count:16 + 16 * count + size]
    return HEADER_MAGIC + b"\0\0\0\0" + struct.pack(">II", len(kept), size) + b"".join(kept) + store


def _split_hdlist(hdlist: bytes) -> tuple[bytes, bytes]:
    """(hdlist without file names, hdlist2 of the file names and MATCHER), as genhdlist splits them."""
    from bootstrap.adapters.yum.headers import split_hdlist

    blobs = split_hdlist(hdlist, "fixture")
    first = b"".join(_select(b, lambda tag: tag not in FILE_TAGS) for b in blobs)
    second = b"".join(_select(b, lambda tag: tag in FILE_TAGS or tag == MATCHER) for b in blobs)
    return first, second


def _headers_tree(top: Path, kind: str, rpms: list[Path]) -> Path:
    where = _os_tree(top, kind)
    (where / "RedHat" / "RPMS").mkdir(parents=True)
    for rpm in rpms:
        shutil.copy(rpm, where / "RedHat" / "RPMS" / rpm.name)
    _run(["/usr/bin/python3", str(WRITEHDRS), "--raw", "bash", str(where),
          *(f"RedHat/RPMS/{rpm.name}" for rpm in rpms)])
    return where


def legacy_mirror(work: Path) -> Iterator[Legacy]:
    """Build every tree in `work` and serve them on 127.0.0.1 while the generator is open."""
    _need_tools()
    home = work / "gnupg"
    fpr, pub = _key(home, "Legacy Test <legacy@test.invalid>")
    rpms = [_build(work, "setup", "2.5", "noarch", SETUP, "w9.gzdio", work),
            _build(work, "bash", "2.05b", "i386", BASH, "w9.gzdio", work)]
    (work / "other").mkdir()
    other = _build(work / "other", "bash", "2.05b", "i386", OTHER_BASH, "w9.gzdio", work)
    for rpm in [*rpms, other]:
        _sign(rpm, home, fpr)
    top = work / "mirror"
    where = _os_tree(top, "repodata")
    (where / "RPMS").mkdir()
    for rpm in rpms:
        shutil.copy(rpm, where / "RPMS" / rpm.name)
    _run(["createrepo_c", str(where)])
    _headers_tree(top, "headers", rpms)
    where = _os_tree(top, "hdlist")
    (where / "RedHat" / "RPMS").mkdir(parents=True)
    (where / "RedHat" / "base").mkdir()
    for rpm in rpms:
        shutil.copy(rpm, where / "RedHat" / "RPMS" / rpm.name)
    (where / "RedHat" / "base" / "hdlist").write_bytes(_hdlist(rpms))
    where = _os_tree(top, "hdlist2")
    (where / "RedHat" / "RPMS").mkdir(parents=True)
    (where / "RedHat" / "base").mkdir()
    for rpm in rpms:
        shutil.copy(rpm, where / "RedHat" / "RPMS" / rpm.name)
    names, files = _split_hdlist(_hdlist(rpms))
    (where / "RedHat" / "base" / "hdlist").write_bytes(names)
    (where / "RedHat" / "base" / "hdlist2").write_bytes(files)
    where = _headers_tree(top, "missing", rpms)
    (where / "RedHat" / "RPMS" / rpms[1].name).unlink()
    where = _headers_tree(top, "badhdr", rpms)
    (where / "RedHat" / "RPMS" / other.name).unlink()
    shutil.copy(other, where / "RedHat" / "RPMS" / other.name)
    where = _os_tree(top, "listing")
    (where / "RPMS").mkdir()
    for rpm in rpms:
        shutil.copy(rpm, where / "RPMS" / rpm.name)
    with _serve(top) as (url, ranged):
        yield Legacy(url, top, pub, ranged)
