"""A corpus of text files for `lexkit analyze`: its text stream, and its line-aligned byte ranges (shards).

A file corpus is cut into shards that end at line ends, so every shard yields exactly the lines the whole stream
yields there; `lexkit.analysis.workers` measures the shards in worker processes and adds up their counts.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lexkit.corpus import Corpus, iter_texts
from lexkit.corpus.reading import decode_block, read_blocks
from lexkit.corpus.sources import TextFile, plan_sources

__all__ = ["SHARD_BYTES", "Shard", "TextFiles", "default_workers", "fork_available", "shard_texts"]

#: Bytes of corpus per shard at most: small enough that the last shard to finish leaves a worker idle for well
#: under a second, large enough for whole 2 Mi-character batches (`lexkit.analysis.metrics.BATCH_CHARS`).
SHARD_BYTES = 1 << 22
#: Bytes read per block inside a shard (as `lexkit.corpus.iter_texts` reads).
_READ_BYTES = 1 << 20
_SEEK_BYTES = 1 << 16


def default_workers() -> int:
    """One worker process per CPU core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Shard:
    """Bytes ``start`` to ``end`` of one text file, both at a line end (or the file's ends)."""

    path: str
    start: int
    end: int


@dataclass(frozen=True)
class TextFiles:
    """A corpus read line by line (optionally only its first ``max_bytes``): a fresh text stream per call, and
    its shards for worker processes when every source is a text file.

    Args:
        corpus: the corpus (files, folders, globs; datasets and iterables stream in one process).
        max_bytes: stop after the text that reaches this many bytes (None: the whole corpus).
    """

    corpus: Corpus
    max_bytes: int | None = None

    def __call__(self) -> Iterator[str]:
        """The corpus's texts, in order, cut after the text that reaches ``max_bytes``."""
        if self.max_bytes is None:
            return iter_texts(self.corpus)  # no generator of our own per line when nothing is cut
        return self._cut(self.max_bytes)

    def _cut(self, max_bytes: int) -> Iterator[str]:
        total = 0
        for text in iter_texts(self.corpus):
            yield text
            total += len(text.encode("utf-8"))
            if total >= max_bytes:
                return

    def shards(self, shard_bytes: int | None = None) -> list[Shard] | None:
        """Line-aligned byte ranges that together hold exactly the texts `__call__` yields, or None when a
        source is not a text file (a dataset or an iterable).

        subtle: under the default UTF-8 policy (invalid bytes raise) a text's bytes are its file bytes, so the
        ``max_bytes`` cut is the end of the line holding byte ``max_bytes - 1`` of the files joined.

        Args:
            shard_bytes: bytes per shard at most, but for the line that crosses it (default `SHARD_BYTES`).
        """
        plan = plan_sources(self.corpus, "error")
        if not all(isinstance(unit, TextFile) for _, unit in plan.units):
            return None
        shards: list[Shard] = []
        left = self.max_bytes
        for _, unit in plan.units:
            assert isinstance(unit, TextFile)
            size = unit.path.stat().st_size
            end = size if left is None or left >= size else _line_end(unit.path, left - 1, size)
            shards += _split(str(unit.path), end, shard_bytes or SHARD_BYTES)
            if left is not None:
                left -= size
                if left <= 0:
                    break
        return shards


def _line_end(path: Path | str, position: int, size: int) -> int:
    """The offset just past the first ``"\\n"`` at or after ``position`` (``size`` when there is none)."""
    with open(path, "rb") as handle:
        handle.seek(position)
        while chunk := handle.read(_SEEK_BYTES):
            found = chunk.find(b"\n")
            if found >= 0:
                return position + found + 1
            position += len(chunk)
    return size


def _split(path: str, end: int, shard_bytes: int) -> list[Shard]:
    """Bytes 0 to ``end`` of ``path`` in shards of about ``shard_bytes``, each ending at a line end."""
    shards, start = [], 0
    while start < end:
        stop = end if end - start <= shard_bytes else min(_line_end(path, start + shard_bytes - 1, end), end)
        shards.append(Shard(path, start, stop))
        start = stop
    return shards


def shard_texts(shard: Shard) -> Iterator[str]:
    """The texts of one shard, exactly as `lexkit.corpus.iter_texts` yields them there."""
    blocks = read_blocks(Path(shard.path), _READ_BYTES, shard.start, shard.end)
    return itertools.chain.from_iterable(decode_block(block, "error")[0] for block in blocks)


def fork_available() -> bool:
    """True where worker processes can be forked (Linux; not Windows)."""
    return "fork" in multiprocessing.get_all_start_methods()
