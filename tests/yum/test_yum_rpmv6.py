"""RPM v6 packages (rpm 6's new format, lead major 4; real samples built by rpm-rs with rpm 6.0.1)
are refused with one clear line, on every path a build takes them: reading the header, the
digest/signature check of the fetch phase, the unpack phase, and the CLI's error printer.
The v4 samples of the same set still read, so the refusal is about the format, not the content."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.adapters.yum.header import read_rpm
from bootstrap.adapters.yum.signature import check_rpm
from bootstrap.errors import BootstrapError, UnpackError

SET = "yum/rpm-rs-v4-v6-format-variants"
V6 = ["v6_rpm-basic-2.3.4-5.el9.noarch.rpm", "v6_gzip_rpm-basic-2.3.4-5.el9.noarch.rpm",
      "v6_xz_rpm-basic-2.3.4-5.el9.noarch.rpm", "v6_zstd_rpm-basic-2.3.4-5.el9.noarch.rpm",
      "v6_signed_rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm"]


def _clear(exc: BootstrapError) -> None:
    """One line naming the package and the format, a hint saying what to do."""
    assert isinstance(exc, UnpackError) and exc.exit_code == 6
    assert "\n" not in exc.message and "\n" not in (exc.hint or "")
    assert exc.message.startswith("rpm-basic-1:2.3.4-5.el9 is an RPM v6 package"), exc.message
    assert "not supported" in exc.message and "rpm >= 6" in (exc.hint or "")


@pytest.mark.parametrize("name", V6)
def test_v6_refused_when_read_and_checked(realdata: Path, name: str) -> None:
    path = realdata / SET / name
    with open(path, "rb") as fh, pytest.raises(UnpackError) as info:
        read_rpm(fh)
    _clear(info.value)
    with pytest.raises(UnpackError) as info:  # the fetch phase's check, before any digest
        check_rpm(path, [realdata / SET / "keys/rpm-testkey-v6-ed25519.asc"], verify=True)
    _clear(info.value)


def test_v6_refused_by_unpack_before_writing(realdata: Path, tmp_path: Path) -> None:
    from bootstrap import config
    from bootstrap.adapters.yum.adapter import YumAdapter
    from bootstrap.root import Root
    from bootstrap.types import Package

    adapter = YumAdapter(config.load_profile("rocky9", config.Overrides(mirror="http://127.0.0.1:9")))
    root = tmp_path / "root"
    root.mkdir()
    adapter.prepare_root(Root(root))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    pkg = Package("rpm-basic", "1:2.3.4-5.el9", "noarch")
    with pytest.raises(UnpackError) as info:
        adapter.unpack(pkg, realdata / SET / V6[0], Root(root))
    _clear(info.value)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_v6_error_is_one_line_on_the_command_line(realdata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bootstrap.cli import _guard

    with pytest.raises(SystemExit) as done:
        _guard(lambda: check_rpm(realdata / SET / V6[0], [], verify=False), verbose=False)
    assert done.value.code == 6
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: rpm-basic-1:2.3.4-5.el9 is an RPM v6 package")
    assert lines[1].startswith("hint: RPM v6 packages need rpm >= 6")


def test_v4_of_the_same_set_still_reads(realdata: Path) -> None:
    with open(realdata / SET / "v4_rpm-basic-2.3.4-5.el9.noarch.rpm", "rb") as fh:
        rpm = read_rpm(fh)
    assert (rpm.name, rpm.arch) == ("rpm-basic", "noarch")
