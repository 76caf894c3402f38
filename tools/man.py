#!/usr/bin/env python3
"""`make man`: the man pages of rootfs-bootstrap (one per command) from its click help, with
click-man, into man/ (installed with the package: setup.cfg's data_files). The date is the
version's, not today's, so the pages change only when the help or the version does;
tests/core/test_cli_ux.py checks that the committed pages are current."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DATE = "2026-12-03"  # the date of the help text's last change (kept by hand: reproducible pages)


def write(target: Path) -> list[Path]:
    """Write every page into `target`; returns their paths."""
    sys.path.insert(0, str(HERE))
    from click_man.core import write_man_pages

    from bootstrap import __version__
    from bootstrap.cli import cli

    target.mkdir(parents=True, exist_ok=True)
    write_man_pages("rootfs-bootstrap", cli, version=__version__, target_dir=str(target), date=DATE)
    return sorted(target.glob("*.1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=Path, default=HERE / "man")
    args = parser.parse_args()
    for page in write(args.target):
        print(page)


if __name__ == "__main__":
    main()
