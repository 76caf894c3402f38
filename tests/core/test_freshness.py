"""bootstrap.freshness: the newest marks a cache saw of each index; older ones refused, records
written atomically and safely by 8 processes on one cache at once."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from bootstrap.errors import StaleIndex, VerificationError
from bootstrap.freshness import Mark, Seen

KEY = "http://mirror.invalid/debian/dists/bookworm/"


def test_newer_and_equal_pass_older_is_refused(tmp_path: Path) -> None:
    seen = Seen(tmp_path)
    assert seen.recorded(KEY) is None
    seen.advance(KEY, [Mark("Date", 100, "day 100")], "the Release of X")
    seen.advance(KEY, [Mark("Date", 100, "day 100")], "the Release of X")  # served again
    seen.advance(KEY, [Mark("Date", 200, "day 200")], "the Release of X")
    with pytest.raises(StaleIndex, match=r"^the Release of X is older than the one this cache saw "
                                         r"\(Date day 150 < day 200\)$") as err:
        seen.advance(KEY, [Mark("Date", 150, "day 150")], "the Release of X")
    assert isinstance(err.value, VerificationError) and err.value.exit_code == 4
    assert str(seen.path(KEY)) in (err.value.hint or "") and "--cache-dir" in (err.value.hint or "")
    assert seen.recorded(KEY) == {"Date": Mark("Date", 200, "day 200")}  # the refusal wrote nothing
    # Another key, another cache: their own records.
    seen.advance(KEY + "x", [Mark("Date", 1)], "other")
    Seen(tmp_path / "other").advance(KEY, [Mark("Date", 1)], "other cache")


def test_marks_are_compared_by_name_and_a_missing_one_is_kept(tmp_path: Path) -> None:
    seen = Seen(tmp_path)
    seen.advance(KEY, [Mark("revision", 5), Mark("timestamp", 50)], "repo")
    seen.advance(KEY, [Mark("timestamp", 60)], "repo")  # no revision this time: not compared
    assert {m.name: m.value for m in (seen.recorded(KEY) or {}).values()} == {"revision": 5, "timestamp": 60}
    with pytest.raises(StaleIndex, match=r"\(revision 4 < 5\)"):
        seen.advance(KEY, [Mark("revision", 4), Mark("timestamp", 70)], "repo")
    with pytest.raises(StaleIndex, match="timestamp"):
        seen.advance(KEY, [Mark("revision", 6), Mark("timestamp", 59)], "repo")
    seen.advance(KEY, [], "repo")  # no marks: passes, and the record stays
    assert set(seen.recorded(KEY) or {}) == {"revision", "timestamp"}


def test_an_empty_record_says_the_index_was_seen(tmp_path: Path) -> None:
    seen = Seen(tmp_path)
    seen.advance(KEY, [], "repo")
    assert seen.recorded(KEY) == {}
    record = json.loads(seen.path(KEY).read_text())
    assert record == {"key": KEY, "marks": {}}


@pytest.mark.parametrize("body", ["", "{", "[]", '{"key": "other", "marks": {}}',
                                  '{"key": "K", "marks": {"Date": ["x", ""]}}',
                                  '{"key": "K", "marks": {"Date": [true, ""]}}', "\xff"])
def test_an_unreadable_record_counts_as_absent_and_is_replaced(tmp_path: Path, body: str) -> None:
    seen = Seen(tmp_path)
    seen.path("K").parent.mkdir(parents=True)
    seen.path("K").write_text(body, encoding="latin-1")
    assert seen.recorded("K") is None
    seen.advance("K", [Mark("Date", 3)], "x")
    assert seen.recorded("K") == {"Date": Mark("Date", 3)}


def test_of_a_fetcher_without_a_cache_is_none(tmp_path: Path) -> None:
    from bootstrap.fetch import Fetcher

    assert Seen.of(object()) is None
    found = Seen.of(Fetcher(tmp_path / "cache"))
    assert found is not None and found.directory == tmp_path / "cache" / "seen"


def _advance_many(cache: str, start: int, stop: int) -> None:
    seen = Seen(Path(cache))
    for value in range(start, stop):
        try:
            seen.advance(KEY, [Mark("Date", value)], "race")
        except StaleIndex:
            pass  # another process recorded a newer one first: that is the point


def test_eight_processes_on_one_cache(tmp_path: Path) -> None:
    """8 builds at once: every record stays whole, the newest value wins, no temporary is left."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_advance_many, args=(str(tmp_path), i * 50, i * 50 + 200)) for i in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    seen = Seen(tmp_path)
    assert seen.recorded(KEY) == {"Date": Mark("Date", 7 * 50 + 199)}
    assert sorted(p.name for p in seen.directory.iterdir()) == [".lock", seen.path(KEY).name]
