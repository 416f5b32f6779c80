"""Shards of a file corpus hold exactly its texts, for every --max-bytes cut."""

from __future__ import annotations

from lexkit.analysis.sharding import TextFiles, shard_texts
from lexkit.corpus import Corpus


def _texts(files: TextFiles, shard_bytes: int) -> list[str]:
    shards = files.shards(shard_bytes)
    assert shards is not None
    return [text for shard in shards for text in shard_texts(shard)]


def test_shards_hold_exactly_the_texts_of_the_stream_for_every_cut(tmp_path):
    first, second, third = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    first.write_text("one\n\n  two é\n" + "x" * 40 + "\nlast line without newline", encoding="utf-8")
    second.write_text("", encoding="utf-8")
    third.write_text("\n\nthree\r\nfour\u2028five\n", encoding="utf-8")
    corpus = Corpus(first, second, third)
    size = sum(p.stat().st_size for p in (first, second, third))
    for max_bytes in [None, *range(1, size + 2)]:
        files = TextFiles(corpus, max_bytes)
        expected = list(files())
        for shard_bytes in (1, 3, 16, 1 << 20):
            assert _texts(files, shard_bytes) == expected, (max_bytes, shard_bytes)


def test_a_corpus_that_is_not_text_files_has_no_shards(tmp_path):
    assert TextFiles(Corpus(["a text", "another"])).shards() is None
