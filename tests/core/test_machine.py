"""What the host runs of a target: foreign architectures through qemu-user when binfmt_misc
offers it (an enabled entry with the F flag), else extract mode said so, or refused for
--mode root. The binfmt_misc directory is a fake one here: this machine has none mounted."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootstrap.adapters import get_adapter
from bootstrap.errors import UsageError
from bootstrap.machine import choose_mode, qemu_binfmt
from bootstrap.report import Reporter

ENTRY = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c46\n"
FOREIGN = "arm64" if os.uname().machine != "aarch64" else "amd64"
QEMU_NAME = "qemu-aarch64" if FOREIGN == "arm64" else "qemu-x86_64"


def _reporter(lines: list[str]) -> Reporter:
    return Reporter(lines.append)


def test_an_enabled_entry_with_the_f_flag_runs_the_target(tmp_path: Path) -> None:
    (tmp_path / "qemu-aarch64").write_text(ENTRY)
    assert qemu_binfmt("aarch64", tmp_path) == ("/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "")
    assert qemu_binfmt("armv7l", tmp_path)[0] is None  # qemu-arm: another entry


@pytest.mark.parametrize(("text", "why"), [
    (None, "no binfmt_misc entry qemu-aarch64 (install qemu-user-static"),
    (ENTRY.replace("enabled", "disabled"), "is disabled"),
    (ENTRY.replace("POCF", "POC"), "lacks the F flag"),
])
def test_why_a_foreign_target_cannot_run(tmp_path: Path, text: str | None, why: str) -> None:
    if text is not None:
        (tmp_path / "qemu-aarch64").write_text(text)
    interpreter, reason = qemu_binfmt("aarch64", tmp_path)
    assert interpreter is None and why in reason


def test_auto_falls_back_to_extract_and_says_why(tmp_path: Path) -> None:
    lines: list[str] = []
    mode = choose_mode("auto", FOREIGN, get_adapter("apt"), _reporter(lines), binfmt=tmp_path)
    assert mode == "extract"
    assert any("mode: extract" in line and f"no binfmt_misc entry {QEMU_NAME}" in line for line in lines), lines


def test_root_mode_for_a_foreign_target_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot: no binfmt_misc entry"):
        choose_mode("root", FOREIGN, get_adapter("apt"), _reporter([]), binfmt=tmp_path)


def test_a_registered_qemu_lets_the_configured_modes_run(tmp_path: Path) -> None:
    (tmp_path / QEMU_NAME).write_text(ENTRY)
    lines: list[str] = []
    mode = choose_mode("extract", FOREIGN, get_adapter("apt"), _reporter(lines), binfmt=tmp_path)
    assert mode == "extract"  # as asked
    assert any("through qemu-user" in line for line in lines), lines
