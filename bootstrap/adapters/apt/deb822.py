"""deb822 paragraphs, the one format under Packages, Release, dpkg's status file and a .deb's
control file: one reader for all of them. Pure: text in, fields out.

Contracts:
- A paragraph ends at a line that is empty or holds only spaces and tabs (deb822(5)); CRLF
  line ends read as LF. `paragraphs(text)` yields each one's text verbatim, for callers that
  keep stanzas as written (dpkg's status file).
- `parse_paragraph(text, bad_line)` gives one paragraph's fields as ordered (field, value)
  pairs: the first line's value stripped, continuation lines (leading space or tab) appended
  verbatim after a "\\n" with trailing whitespace removed, as dpkg writes them back. Lines
  starting with `#` are comments and skipped.
- Bad lines have one policy: a line that is neither a field (`Name: value`), a continuation
  of one, nor a comment makes the reader raise `bad_line(line)`. Callers choose the error and
  its words (RepositoryIndexError for an index, ConfigureError for dpkg's database); nothing
  is skipped silently, because a dropped line would change a package without a word.
- `stanzas(data, bad_line)` = every non-empty paragraph, parsed; bytes are decoded per
  paragraph, UTF-8 else Latin-1 (old indexes carry Latin-1 names in Maintainer fields, and one
  bad paragraph must not garble the others).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator

Fields = list[tuple[str, str]]
BadLine = Callable[[str], Exception]
"""Makes the exception to raise for a malformed line (given the line)."""

# python-debian's deb822.Packages.iter_paragraphs takes ~0.12 s per 1,000 stanzas here, i.e.
# ~7 s for bookworm's 63,000-stanza main index before a field is looked at; splitting with one
# regular expression and partitioning lines does the same job about ten times faster.
_BREAK_BYTES = re.compile(rb"\n[ \t]*\n")
_BREAK_TEXT = re.compile(r"\n[ \t]*\n")


def paragraphs(text: str) -> Iterator[str]:
    """Each paragraph's text as written (without the separating blank lines); a paragraph of
    nothing but whitespace is not one."""
    for chunk in _BREAK_TEXT.split(text.replace("\r\n", "\n")):
        if chunk.strip():
            yield chunk


def stanzas(data: bytes | str, bad_line: BadLine) -> Iterator[Fields]:
    """Every paragraph of `data` with at least one field, parsed (see the module contract)."""
    if isinstance(data, str):
        texts: Iterator[str] = paragraphs(data)
    else:
        texts = (_decode(chunk) for chunk in _BREAK_BYTES.split(data.replace(b"\r\n", b"\n"))
                 if chunk.strip())
    for text in texts:
        fields = parse_paragraph(text, bad_line)
        if fields:  # a paragraph of comments only
            yield fields


def _decode(chunk: bytes) -> str:
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return chunk.decode("latin-1")


def parse_paragraph(text: str, bad_line: BadLine) -> Fields:
    """One paragraph's fields in order; raises `bad_line(line)` for a line that is no field."""
    keys: list[str] = []
    values: list[list[str]] = []  # each value's lines, joined at the end (not re-copied per line)
    for line in text.split("\n"):
        if not line.strip() or line[0] == "#":  # blank edges of a chunk, comment lines
            continue
        if line[0] in " \t":
            if not values:
                raise bad_line(line)  # a continuation of nothing
            values[-1].append(line.rstrip())  # verbatim, so dpkg's status reads the same
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise bad_line(line)
        keys.append(key.strip())
        values.append([value.strip()])
    return list(zip(keys, ("\n".join(v) for v in values), strict=True))
