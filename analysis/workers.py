"""Worker processes for `lexkit analyze`: corpus shards and inference-method probes measured beside each other.

Why: `lexkit.analysis.metrics.measure_corpora` runs on one core, and its per-text work (reading, text totals,
joining runs, the engine's call per run) is Python and numpy that threads cannot share out. Worker processes
measure shards (`lexkit.analysis.sharding`) with every tokenizer and the parent adds the partial counts, which are
sums of integers: the merged counts equal one pass over the whole corpus, whatever order the shards finish in.
The inference-method probe (each other encoder's segments of a few thousand words; exporting and parsing a large
vocabulary for it takes seconds) runs on the same workers after the streaming, one task per encoder.

The workers are forked after the tokenizers are loaded and their engines built, so they share that work (and its
memory, copy-on-write) instead of paying it again; `lexkit.analysis.sharding.fork_available` says where they can.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

from lexkit.analysis.metrics import BATCH_TEXTS, CorpusCounts, encoder_segments, measure_corpora
from lexkit.analysis.sharding import Shard, shard_texts
from lexkit.errors import CorpusError
from lexkit.tokenizer import Tokenizer

__all__ = ["start_workers", "measure_shards", "submit_segments"]

_tokenizers: Mapping[str, Tokenizer] = {}
_built: Mapping[str, Mapping[str, Tokenizer]] = {}


def _init_worker(tokenizers: Mapping[str, Tokenizer], built: Mapping[str, Mapping[str, Tokenizer]]) -> None:
    global _tokenizers, _built
    _tokenizers, _built = tokenizers, built  # subtle: inherited through fork, never pickled


def start_workers(tokenizers: Mapping[str, Tokenizer], workers: int, *,
                  built: Mapping[str, Mapping[str, Tokenizer]] | None = None) -> Pool:
    """Fork ``workers`` processes that measure shards and probes with ``tokenizers`` (their engines built first,
    here, so every worker inherits them). Terminate the pool when done.

    Args:
        tokenizers: name -> tokenizer.
        workers: processes to fork.
        built: tokenizer name -> encoder name -> a tokenizer on its vocabulary, for `submit_segments`.

    subtle: fork before any thread of ours starts (a tqdm bar's monitor): a forked child gets only this thread.
    """
    for tokenizer in tokenizers.values():
        tokenizer.encode_batch_flat(["\n"], disallowed_special=())
    # subtle: with the variable set at the fork, HF tokenizers neither warns about its thread pool nor uses it in
    # the workers (a forked pool would hang); the parent keeps its own setting.
    saved = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        return multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker,
                                                         initargs=(tokenizers, built or {}))
    finally:
        if saved is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = saved


def _measure_shard(shard: Shard) -> dict[str, CorpusCounts]:
    return measure_corpora(_tokenizers, shard_texts(shard), batch_size=BATCH_TEXTS)  # never empty: 1+ bytes


def measure_shards(pool: Pool, tokenizers: Mapping[str, Tokenizer], shards: Sequence[Shard], *,
                   progress: Callable[[int], Any] | None = None) -> dict[str, CorpusCounts]:
    """`measure_corpora` over ``shards`` on a pool from `start_workers`: the same counts as one pass.

    Args:
        pool: the workers (`start_workers` with the same ``tokenizers``).
        tokenizers: name -> tokenizer.
        shards: the corpus's shards (`lexkit.analysis.sharding.TextFiles.shards`).
        progress: called with the text bytes of each finished shard.

    Raises:
        CorpusError: the shards hold no text, or a file holds invalid UTF-8 (named with its byte offset).
    """
    total = {name: CorpusCounts(vocab_size=len(tok.vocabulary)) for name, tok in tokenizers.items()}
    for partial in pool.imap_unordered(_measure_shard, shards):
        for name, counts in partial.items():
            total[name].merge(counts)
        if progress is not None:
            progress(next(iter(partial.values())).bytes)
    if not total or next(iter(total.values())).texts == 0:
        raise CorpusError("the corpus is empty: no text to measure; check the corpus path")
    return total


def _segments(tokenizer: str, encoder: str, words: Sequence[str]) -> list[list[int]]:
    return encoder_segments(_tokenizers[tokenizer], encoder, words, built=_built.get(tokenizer))


def submit_segments(pool: Pool, tokenizer: str, encoder: str, words: Sequence[str]) -> AsyncResult[list[list[int]]]:
    """`lexkit.analysis.metrics.encoder_segments` of ``words`` under ``encoder`` on the vocabulary of tokenizer
    ``tokenizer`` (a name given to `start_workers`), run on a worker."""
    return pool.apply_async(_segments, (tokenizer, encoder, list(words)))
