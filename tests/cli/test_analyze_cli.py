"""``lexkit analyze``'s corpus streams: whole, and cut by --max-bytes."""

from __future__ import annotations

from lexkit.cli.analyze import _opener
from lexkit.corpus import Corpus


def test_opener_streams_the_whole_corpus_or_stops_past_max_bytes(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("one\ntwo é\nthree\n", encoding="utf-8")
    whole = _opener(Corpus(path), None)
    assert list(whole()) == list(whole()) == ["one\n", "two é\n", "three\n"]  # a fresh stream each call
    assert list(_opener(Corpus(path), 5)()) == ["one\n", "two é\n"]  # 4 bytes, then 11: past 5, stop
    assert list(_opener(Corpus(path), 4)()) == ["one\n"]
