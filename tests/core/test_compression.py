"""bootstrap.compression: every suffix, made by the real tools, one-shot and streamed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap import compression

TOOLS = {".gz": ["gzip"], ".bz2": ["bzip2"], ".xz": ["xz"], ".lzma": ["xz", "--format=lzma"], ".zst": ["zstd", "-q"]}
DATA = b"Package: hello\nVersion: 1.0\n\n" * 200


@pytest.mark.parametrize("suffix", sorted(TOOLS))
def test_real_tool_output_round_trips(tmp_path: Path, suffix: str) -> None:
    tool = TOOLS[suffix]
    if shutil.which(tool[0]) is None:
        pytest.skip(f"needs {tool[0]}")
    packed = subprocess.run([*tool, "-c"], input=DATA, capture_output=True, check=True).stdout
    name = "Packages" + suffix
    assert compression.is_compressed(name)
    assert compression.decompress(packed, name) == DATA
    with compression.decompress_stream(packed, name) as stream:
        assert stream.read() == DATA
    with pytest.raises(ValueError):
        compression.decompress(packed[: len(packed) // 2], name)


def test_plain_passes_through() -> None:
    assert not compression.is_compressed("data.tar")
    assert compression.decompress(DATA, "Packages") is DATA
    assert compression.decompress_stream(DATA, "primary.xml").read() == DATA


def test_every_zstd_frame_is_read() -> None:
    """pzstd writes several frames; a one-frame reader would silently drop the rest."""
    import zstandard
    packer = zstandard.ZstdCompressor()
    two = packer.compress(DATA) + packer.compress(b"tail\n")
    assert compression.decompress(two, "data.tar.zst") == DATA + b"tail\n"
    with pytest.raises(ValueError, match="truncated"):
        compression.decompress(two[:-3], "data.tar.zst")
