"""Write yum 2.0's headers/ for a tree as yum-arch did, with Debian's python3-rpm (run by
/usr/bin/python3, which alone imports `rpm`): `writehdrs.py TREE RPM...`, each RPM relative to
TREE. Each header is `hdr.unload()` gzip-compressed into headers/NAME-EPOCH-VER-REL.ARCH.hdr
(`--raw NAME`: that package's uncompressed), and header.info gets `E:N-V-R.A=PATH`."""
import gzip
import os
import sys

import rpm  # type: ignore[import-not-found]


def main(tree: str, paths: list[str], raw: set[str]) -> None:
    ts = rpm.TransactionSet()
    ts.setVSFlags(-1)  # the fixture's key is not in rpm's database: read, do not verify
    os.makedirs(os.path.join(tree, "headers"), exist_ok=True)
    lines = []
    for rel in paths:
        with open(os.path.join(tree, rel), "rb") as fh:
            hdr = ts.hdrFromFdno(fh.fileno())
        epoch = hdr["epoch"] or 0
        name, version, release, arch = hdr["name"], hdr["version"], hdr["release"], hdr["arch"]
        blob = hdr.unload()
        out = os.path.join(tree, "headers", f"{name}-{epoch}-{version}-{release}.{arch}.hdr")
        with open(out, "wb") as fh:
            fh.write(blob if name in raw else gzip.compress(blob, mtime=0))
        lines.append(f"{epoch}:{name}-{version}-{release}.{arch}={rel}\n")
    with open(os.path.join(tree, "headers", "header.info"), "w") as fh:
        fh.writelines(lines)


if __name__ == "__main__":
    args = sys.argv[1:]
    raw = set()
    while args[0] == "--raw":
        raw.add(args[1])
        args = args[2:]
    main(args[0], args[1:], raw)
