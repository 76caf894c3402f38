"""The host's apt sources, read with the family's one deb822 reader."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.adapters.apt import hostapt
from bootstrap.errors import ConfigError


def _etc(tmp_path: Path, sources: str) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    return tmp_path


def test_field_names_are_case_insensitive_and_disabled_stanzas_skipped(tmp_path: Path) -> None:
    etc = _etc(tmp_path, "types: deb deb-src\nuris: http://m.invalid/debian\n  http://n.invalid/debian\n"
                         "suites: bookworm\nsigned-by: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                         "Types: deb\nURIs: http://off.invalid/debian\nSuites: bookworm\nEnabled: no\n")
    assert [s.uri for s in hostapt.host_sources(etc)] == ["http://m.invalid/debian", "http://n.invalid/debian"]
    assert hostapt.host_mirrors("debian", etc) == ("http://m.invalid/debian", None)


def test_a_line_apt_refuses_is_a_config_error(tmp_path: Path) -> None:
    etc = _etc(tmp_path, "Types: deb\nthis is not a field\n")
    with pytest.raises(ConfigError, match=r"debian\.sources: malformed line 'this is not a field'") as info:
        hostapt.host_sources(etc)
    assert "--mirror" in (info.value.hint or "")
