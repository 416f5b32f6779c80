"""Counts measured in worker processes over shards equal one pass in this process."""

from __future__ import annotations

import _resources
import numpy as np

from lexkit import Tokenizer
from lexkit.analysis import metrics as m
from lexkit.analysis.sharding import TextFiles
from lexkit.analysis.workers import measure_shards, start_workers
from lexkit.corpus import Corpus


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
