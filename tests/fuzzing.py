"""Hypothesis plumbing shared by the parser fuzz tests (tests/*/test_fuzz_*.py).

The contract every fuzz test checks: for any input, a parser returns or raises a
bootstrap.errors.BootstrapError subclass (with a one-line message), never another exception,
within bounded time (hypothesis' deadline, `DEADLINE` per example) and bounded memory
(`bounded_memory`, in the few big cases that measure it).

- `fuzz(n)` is the settings of one fuzz test: `n` examples, derandomized (the same examples on
  every run and every machine), no example database (nothing written, nothing replayed from an
  earlier run), the per-example deadline. A failure prints the shrunk input, so it replays
  exactly and becomes an `@example` regression.
- `mutants(seeds)` damages real files the way a bad mirror or an attacker would: bits flipped,
  cut short, bytes inserted or deleted, 32-bit fields rewritten (counts and offsets of binary
  headers), lines duplicated (up to thousands of times), dropped or swapped, a field's value
  replaced by a hostile one (`NASTY`: huge, negative, NUL, control characters, long digit runs),
  or a piece of another seed spliced in.
- `seed_files(...)` reads the seeds that exist: ../shared/realdata when present, the small
  copies in tests/data otherwise; callers add embedded seeds so that a list is never empty.
- `typed(call, ...)` runs one call and checks the contract.
"""
from __future__ import annotations

import os
import re
import resource
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bootstrap.errors import BootstrapError, FetchError
from bootstrap.types import Checksum, FetchItem
from tests.conftest import REALDATA

T = TypeVar("T")
DATA = Path(__file__).resolve().parent / "data"
DEADLINE = timedelta(seconds=2)
MEMORY_LIMIT_MIB = 256

# Values a field may be given by a hostile or broken index: huge, negative, empty, NUL and
# control characters, non-ASCII digits, path tricks, a digit run past int()'s 4,300-digit limit.
NASTY: tuple[str, ...] = (
    "", " ", "0", "-1", "-0", "+1", "1e308", "NaN", "0x10", "18446744073709551616", "9" * 30, "9" * 400, "9" * 5000,
    "-9223372036854775809", "\x00", "a\x00b", "\n", "\r\n", "\t", "\x7f", "\x1b[2J", "²", "٣", "\u202e",
    "\ufeff", "\udcff", "..", "../../etc/passwd", "/", "a/b", "%s%n", "$HOME", "${x}", "&amp;", "&x;",
    "<", ">", "]]>", "'", '"', "\\", ":", "::", "=", "==", ",", "|", "(", ")", "((a", "[", "]", "~", "^",
    "-", "_", ".", "1:", ":1", "1:2:3", "1-", "-r", "_rc", "@", "!", "*", "#", "a" * 70000,
)
NASTY_BYTES: tuple[bytes, ...] = tuple(v.encode("utf-8", "surrogateescape") for v in NASTY) + (
    b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\x00" * 8, b"\xff" * 8, b"\x1f\x8b\x08\x00",
    b"\xfd7zXZ\x00", b"BZh9", b"\x28\xb5\x2f\xfd", b"070701", b"!<arch>\n", b"ustar\x0000",
    b"\x8e\xad\xe8\x01", b"\xed\xab\xee\xdb",
)
_INT32 = (0, 1, 2, 7, 8, 16, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
# `key: value`, `key = value` (deb822, APKINDEX, .PKGINFO, ini) and XML attributes and text.
_FIELD_SPANS = (re.compile(rb"^[^\s:=#<][^:=\n]{0,60}[:=][ \t]*([^\n]*)$", re.MULTILINE),
                re.compile(rb'="([^"]*)"'), re.compile(rb">([^<]{1,200})<"))


def fuzz(max_examples: int, deadline: timedelta | None = DEADLINE) -> settings:
    """The settings of one fuzz test (module docstring): deterministic, bounded, no database.
    Health checks about slow or large generation are off: the inputs are large on purpose."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=deadline,
                    print_blob=False, suppress_health_check=list(HealthCheck))


def typed(call: Callable[..., T], *args: object, allowed: type[Exception] = BootstrapError,
          **kwargs: object) -> T | None:
    """`call(*args, **kwargs)`; an `allowed` exception (one-line message) is the contract's
    other outcome and gives None; any other exception propagates (hypothesis reports and
    shrinks the input that let it escape)."""
    try:
        return call(*args, **kwargs)
    except allowed as exc:
        message = exc.message if isinstance(exc, BootstrapError) else str(exc)
        assert "\n" not in message, f"{type(exc).__name__} message is not one line: {message!r}"
        return None


def bounded_memory(call: Callable[..., object], *args: object, limit_mib: int = MEMORY_LIMIT_MIB) -> None:
    """Run `typed(call, *args)` in a forked child whose address space may grow by no more than
    `limit_mib` (RLIMIT_AS over what it had at the fork: C allocations of expat, zlib and
    libarchive count too, at no cost to the run, unlike tracemalloc); a MemoryError there, or
    any exception the contract does not allow, fails the caller with the child's traceback."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one line of outcome through the pipe, then leave at once
        outcome = "ok"
        try:
            os.close(read)
            grown = _address_space() + (limit_mib << 20)
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            soft = grown if hard == resource.RLIM_INFINITY else min(grown, hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
            typed(call, *args)
        except MemoryError:
            outcome = f"more than {limit_mib} MiB needed"
        except BaseException:
            outcome = traceback.format_exc()
        finally:
            os.write(write, outcome.encode("utf-8", "replace")[-4000:])
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    assert outcome == "ok", f"{getattr(call, '__name__', call)}: {outcome}"


def _address_space() -> int:
    """This process's virtual size in bytes (/proc/self/statm, in pages)."""
    return int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()


def seed_files(*paths: str, base: Path | None = None) -> list[tuple[str, bytes]]:
    """(name, bytes) of each path that exists, relative to `base` (REALDATA by default), sorted
    so that the derandomized examples do not depend on the file system's order. A path with a
    `*` is a glob."""
    base = REALDATA if base is None else base
    found: list[tuple[str, bytes]] = []
    if not base.is_dir():
        return found
    for pattern in paths:
        for path in sorted(base.glob(pattern)) if "*" in pattern else [base / pattern]:
            if path.is_file():
                found.append((str(path.relative_to(base)), path.read_bytes()))
    return found


def data_files(*paths: str) -> list[tuple[str, bytes]]:
    """seed_files under tests/data (the small copies that are always there)."""
    return seed_files(*paths, base=DATA)


def _windows(total: int, size: int, count: int) -> list[int]:
    """Start indexes of `count` windows of `size` records among `total`: start, middle, end."""
    return sorted({round(i * (total - size) / max(count - 1, 1)) for i in range(count)})


def chunks(data: bytes, separator: bytes, size: int, count: int = 3) -> list[bytes]:
    """`count` pieces of `size` consecutive `separator`-separated records of `data`, taken at
    its start, middle and end: a big real file as seeds small enough to fuzz quickly."""
    records = data.split(separator)
    if len(records) <= size:
        return [data]
    return [separator.join(records[s:s + size]) for s in _windows(len(records), size, count)]


def xml_sample(data: bytes, marker: bytes, size: int, count: int = 3) -> list[bytes]:
    """Like `chunks` for XML: the prolog up to the first `marker` (`<package `), `size`
    consecutive elements from there, and the root's closing tag: well-formed documents."""
    start, end = data.find(marker), data.rfind(b"</")
    if start < 0 or end <= start:
        return [data]
    records = [marker + r for r in data[start:end].split(marker)[1:]]
    if len(records) <= size:
        return [data]
    return [data[:start] + b"".join(records[s:s + size]) + data[end:]
            for s in _windows(len(records), size, count)]


# Strategies made once: hypothesis pays for every strategy built, and the damages draw many.
_U32 = st.integers(0, 0xFFFFFFFF)
_SMALL = st.integers(1, 64)
_TOKEN = st.sampled_from(NASTY_BYTES) | st.binary(max_size=16)
_VALUE = st.sampled_from(NASTY_BYTES) | st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass"))
_WORD = st.sampled_from(_INT32) | _U32
_RUN = st.tuples(st.sampled_from([b"\x00", b"\xff", b"A", b"\n"]), st.integers(1, 4096))
_TIMES = st.sampled_from([1, 2, 3, 100, 5000])
_BYTE_DAMAGES = ("flip", "cut", "delete", "int32", "run")
_LINE_DAMAGES = ("dup", "drop", "swap", "field", "field")


def _pick(draw: st.DrawFn, n: int) -> int:
    """An index below `n` (> 0), from the one shared integer strategy."""
    return draw(_U32) % n


def _damage(draw: st.DrawFn, data: bytes, other: bytes, region: int | None, text: bool) -> bytes:
    """One damage to `data` (module docstring); `region` keeps byte damage in data[:region]."""
    span = min(len(data), region or len(data))
    kinds = ("insert", "splice") + (_BYTE_DAMAGES if span else ()) + (_LINE_DAMAGES if text and data else ())
    kind = kinds[_pick(draw, len(kinds))]
    at = _pick(draw, span) if span else 0
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (1 << _pick(draw, 8))]) + data[at + 1:]
    if kind == "cut":
        return data[:at]
    if kind == "delete":
        return data[:at] + data[at + draw(_SMALL):]
    if kind == "int32":
        at &= ~3
        return data[:at] + draw(_WORD).to_bytes(4, "big") + data[at + 4:]
    if kind == "run":
        byte, times = draw(_RUN)
        return data[:at] + byte * times + data[at:]
    if kind == "insert":
        return data[:at] + draw(_TOKEN) + data[at:]
    if kind == "splice":
        start = _pick(draw, len(other)) if other else 0
        return data[:at] + other[start:start + 8 * draw(_SMALL)] + data[at:]
    return _line_damage(draw, data, kind)


def _line_damage(draw: st.DrawFn, data: bytes, kind: str) -> bytes:
    """The line and field damages of `_damage`."""
    lines = data.split(b"\n")
    i = _pick(draw, len(lines))
    if kind == "dup":
        return b"\n".join(lines[:i] + [lines[i]] * (draw(_TIMES) + 1) + lines[i + 1:])
    if kind == "drop":
        return b"\n".join(lines[:i] + lines[i + 1:])
    if kind == "swap":
        j = _pick(draw, len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    spans = [m.span(1) for pattern in _FIELD_SPANS for m in pattern.finditer(data, 0, 1 << 16)]
    if not spans:
        return data + draw(_VALUE)
    start, end = spans[_pick(draw, len(spans))]
    return data[:start] + draw(_VALUE) + data[end:]


@st.composite
def _mutated(draw: st.DrawFn, seeds: Sequence[bytes], region: Callable[[bytes], int | None] | None,
             text: bool, max_ops: int) -> bytes:
    data = seeds[_pick(draw, len(seeds))]
    other = seeds[_pick(draw, len(seeds))]
    limit = region(data) if region is not None else None
    for _ in range(1 + _pick(draw, max_ops)):
        data = _damage(draw, data, other, limit, text)
    return data


def mutants(seeds: Iterable[bytes | tuple[str, bytes]], *, text: bool = True, max_ops: int = 3,
            region: Callable[[bytes], int | None] | None = None) -> st.SearchStrategy[bytes]:
    """Damaged copies of `seeds` (bytes, or (name, bytes) from seed_files): 1 to `max_ops`
    damages each. `text` adds the line and field damages; `region(seed)` bounds the byte
    damages to the seed's first bytes (an rpm's headers, not its payload)."""
    plain = [s[1] if isinstance(s, tuple) else s for s in seeds]
    assert plain, "no seeds: a fuzz test needs at least one input to damage"
    return _mutated(plain, region, text, max_ops)


def nasty_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short hostile strings: NASTY values, random text, or both run together."""
    return st.one_of(st.sampled_from(NASTY), st.text(max_size=max_size),
                     st.tuples(st.sampled_from(NASTY), st.text(max_size=8)).map("".join))


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh temporary directory for one example (pytest's tmp_path lives as long as the
    whole test, so every example would write into the same place)."""
    path = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class DictFetcher:
    """The Fetcher interface over a dict of URL → bytes. Digests are not checked: a damaged
    file must reach the parser, which is what is under test. A missing URL is a FetchError
    (None from try_get_bytes)."""

    def forget(self, item: FetchItem) -> None:
        """Nothing is cached here: nothing to forget."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = dict(files)

    def try_get_bytes(self, url: str) -> bytes | None:
        return self.files.get(url)

    def get_bytes(self, url: str, checksums: Sequence[Checksum] = (), size: int = 0) -> bytes:
        data = self.files.get(url)
        if data is None:
            raise FetchError(f"{url}: not found")
        return data

    def get_file(self, item: FetchItem) -> Path:
        raise FetchError(f"{item.url}: files are not served here")

    def get_many(self, items: Sequence[FetchItem], on_done: Callable[[int, Path], None] | None = None) -> list[Path]:
        raise FetchError("files are not served here")
