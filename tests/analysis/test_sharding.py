"""Shards of a file corpus hold exactly its texts; counts measured in worker processes equal one pass."""

from __future__ import annotations

import _resources
import numpy as np

from lexkit import Tokenizer
from lexkit.analysis import metrics as m
from lexkit.analysis import sharding
from lexkit.analysis.sharding import TextFiles, measure_shards, shard_texts, start_workers
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


def test_counts_from_worker_processes_equal_one_pass_on_the_real_corpus(tmp_path):
    """GPT-2 over 1 MB of the English corpus in 64 KiB shards (the whole reports of GPT-2 and o200k on corpus_10M.txt
    and corpus_100M.txt were compared with ``bench/bench_analyze_cli.py --keep``)."""
    with open(_resources.corpus_path(), "rb") as handle:
        data = handle.read(1 << 20)
    path = tmp_path / "corpus.txt"
    path.write_bytes(data[: data.rfind(b"\n") + 1] + b"no newline at the end")
    tokenizers = {"gpt2": Tokenizer.load(_resources.gpt2_tokenizer_json())}
    files = TextFiles(Corpus(path))
    one_pass = m.measure_corpora(tokenizers, files())
    shards = files.shards(1 << 16)
    assert shards is not None and len(shards) >= 16
    pool = start_workers(tokenizers, 2)
    try:
        seen: list[int] = []
        merged = measure_shards(pool, tokenizers, shards, progress=seen.append)
    finally:
        pool.terminate()
        pool.join()
    assert sum(seen) == path.stat().st_size  # the progress bar ends at the corpus size
    for name, counts in one_pass.items():
        other = merged[name]
        assert np.array_equal(other.counts, counts.counts)
        assert vars(other).keys() == vars(counts).keys()
        assert all(getattr(other, k) == getattr(counts, k) for k in vars(counts) if k != "counts"), name
    assert sharding.SHARD_BYTES >= 1 << 21  # a default shard holds whole 2 Mi-character batches
