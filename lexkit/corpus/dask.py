"""Pre-token counting on a Dask cluster: the ``engine="dask"`` path of `lexkit.corpus.count_pre_tokens`.

Imported only when a `CountConfig` asks for the Dask engine, so ``dask``/``distributed`` load only then.

The corpus is cut into shards that workers read themselves: a text file into byte ranges that start and end at
line ends (workers open the path, so on a multi-machine cluster every file must be reachable at the same path
from the client and every worker: a shared or network file system); a dataset into its ``n_shards`` streaming
shards (one per data file), or, for a map-style (memory-mapped) dataset, into contiguous row ranges; a Python
iterable into batches that the client sends (the texts only exist on the client). Each shard's pre-token counts
are reduced on the workers by an **ordered** binary tree (neighbouring partial counts are merged, earlier one
first), so the client only receives the final table, about ``log2(shards)`` partial tables wait at any
time, and the counts **and their order** equal the single-process path's (first occurrence in corpus order).

Memory knobs: ``reduce_min_count`` drops rare pre-tokens from every partial table as it is reduced (off by
default: it changes counts, so it can change merges; see `count_pre_tokens_dask`), and Dask's worker memory
settings (``distributed.worker.memory.target/spill/pause``, ``local_directory``) spill held partial tables to
disk. ``docs/scaling.md`` has the measured growth of the count table with corpus size.

Not handled: a single streaming data file is one shard (``datasets`` shards by file), and compressed text files
are not split.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lexkit.corpus.config import CountConfig, Errors
from lexkit.corpus.reading import (
    Skipped,
    Tally,
    count_non_empty,
    dataset_batches,
    decode_block,
    open_dataset,
    read_blocks,
    text_batches,
)
from lexkit.corpus.sources import DatasetSource, DatasetUnit, Plan, TextFile
from lexkit.corpus.splitting import raw_counter
from lexkit.errors import ClusterError, require

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["connect", "count_on_dask", "file_shards"]

logger = logging.getLogger(__name__)

#: Shards per worker thread (files and map-style datasets), so a slow worker does not hold up the end of the run.
_SHARDS_PER_WORKER = 4
#: Bounds of the automatic file shard size: small shards cost task overhead, large ones memory and balance.
_MIN_SHARD_BYTES = 1 << 20
_MAX_SHARD_BYTES = 64 << 20
#: Read size inside a file shard (lines are decoded and counted one block at a time).
_BLOCK_BYTES = 4 << 20


# ---------------------------------------------------------------------------------------------------------------
# Shards: what one worker task reads


@dataclass(frozen=True)
class _FileShard:
    """Bytes ``[start, end)`` of a text file; both ends lie at line ends (or the file's ends)."""

    source: int
    path: str
    start: int
    end: int


@dataclass(frozen=True)
class _DatasetShard:
    """Shard ``index`` of ``count`` of a dataset unit.

    A path source (`DatasetSource`) travels in ``unit`` and each worker opens it; a dataset object is scattered
    to the cluster once and reaches `_count_shard` as its ``dataset`` argument (``unit.source`` is then None).
    """

    source: int
    unit: DatasetUnit
    index: int
    count: int


@dataclass(frozen=True)
class _TextShard:
    """A batch of texts from a Python iterable, sent by the client."""

    source: int
    texts: list[str]


_Shard = _FileShard | _DatasetShard | _TextShard


def file_shards(path: str | os.PathLike[str], shard_bytes: int) -> list[tuple[int, int]]:
    """Cut a text file into byte ranges of about ``shard_bytes`` that start and end at line ends.

    Each cut is moved forward to just after the next ``"\\n"``, so no line is split and a line longer than
    ``shard_bytes`` stays in one range; only a few bytes around each cut are read.

    Args:
        path: the text file.
        shard_bytes: the target range size in bytes.

    Returns:
        ``[(start, end), ...]`` covering the whole file in order, without gaps or empty ranges.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("wb", delete=False) as handle:
    ...     _ = handle.write(b"aaa\\nbb\\ncccc\\nd")
    >>> file_shards(handle.name, 5)
    [(0, 7), (7, 12), (12, 13)]
    """
    if shard_bytes < 1:
        raise ValueError(f"shard_bytes={shard_bytes} must be at least 1")
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as handle:
        while cuts[-1] + shard_bytes < size:
            handle.seek(cuts[-1] + shard_bytes - 1)  # a "\n" right before the nominal cut ends a line there
            cut = size
            while chunk := handle.read(1 << 16):
                newline = chunk.find(b"\n")
                if newline >= 0:
                    cut = handle.tell() - len(chunk) + newline + 1
                    break
            cuts.append(cut)
    if cuts[-1] < size:
        cuts.append(size)
    return [(start, end) for start, end in zip(cuts, cuts[1:]) if end > start]


def _dataset_shard_count(unit: DatasetUnit, text_column: str, workers: int) -> int:
    """How many shards a dataset unit splits into: its streaming shards, or row ranges of a map-style dataset."""
    datasets: Any = require("datasets")
    dataset, _ = open_dataset(unit, text_column)  # also checks the split and column before any task runs
    if isinstance(dataset, datasets.IterableDataset):
        return max(1, int(dataset.n_shards))
    return max(1, min(len(dataset), workers * _SHARDS_PER_WORKER))


def _shards(client: Any, plan: Plan, *, text_column: str, workers: int,
            shard_bytes: int) -> Iterator[tuple[_Shard, int, Future[Any] | None]]:
    """The corpus's shards in corpus order: (shard, its size in bytes where known before reading else 0, the
    future of the scattered dataset object it reads, if any)."""
    for index, unit in plan.units:
        if isinstance(unit, TextFile):
            for start, end in file_shards(unit.path, shard_bytes):
                yield _FileShard(index, str(unit.path), start, end), end - start, None
        elif isinstance(unit, DatasetUnit):
            count = _dataset_shard_count(unit, text_column, workers)
            dataset = None
            if not isinstance(unit.source, DatasetSource):
                # a dataset object goes to the cluster once, not once per shard (a list, so a DatasetDict
                # is not scattered value by value)
                dataset = client.scatter([unit.source], hash=False)[0]
                unit = DatasetUnit(None, unit.name)
            for shard in range(count):
                yield _DatasetShard(index, unit, shard, count), 0, dataset
        else:
            for batch in text_batches(unit.texts, unit.name, shard_bytes):
                yield _TextShard(index, batch), sum(len(text.encode("utf-8")) for text in batch), None


# ---------------------------------------------------------------------------------------------------------------
# Worker side: count one shard, merge two partial tables


@dataclass
class _Partial:
    """Pre-token counts of a run of neighbouring shards, with what the reading saw there."""

    counts: Counter[str]
    nbytes: int = 0
    items: dict[int, int] = field(default_factory=dict)
    skipped: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (lines, first bad byte)

    def add_reading(self, source: int, items: int, skipped: Skipped | None) -> None:
        self.items[source] = self.items.get(source, 0) + items
        if skipped is not None and skipped.lines:
            lines, first = self.skipped.get(skipped.path, (0, skipped.first_offset))
            self.skipped[skipped.path] = (lines + skipped.lines, min(first, skipped.first_offset))


@cache
def _worker_pipeline(components: str) -> tuple[Any, Any]:
    """This worker's (raw counter, surface map) for a pipeline given as JSON, built once per process."""
    import json

    from lexkit.components import build_pipeline

    normalizer, pre_tokenizer = json.loads(components)
    return raw_counter(normalizer, pre_tokenizer), build_pipeline(normalizer, pre_tokenizer).surface_counts


def _count_shard(shard: _Shard, components: str, errors: Errors, text_column: str, prune_below: int,
                 dataset: Any = None) -> _Partial:
    """Read and count one shard; the raw counts are mapped to surface forms here, on the worker."""
    counter, surface_counts = _worker_pipeline(components)
    raw: Counter[str] = Counter()
    partial = _Partial(raw)
    if isinstance(shard, _FileShard):
        for block in read_blocks(Path(shard.path), _BLOCK_BYTES, shard.start, shard.end):
            texts, skipped = decode_block(block, errors)
            raw.update(counter(texts))
            partial.add_reading(shard.source, count_non_empty(texts), skipped)
        partial.nbytes = shard.end - shard.start
    else:
        for texts in _shard_texts(shard, text_column, dataset):
            raw.update(counter(texts))
            partial.add_reading(shard.source, count_non_empty(texts), None)
            partial.nbytes += sum(len(text.encode("utf-8")) for text in texts)
    partial.counts = _prune(surface_counts(raw), prune_below)
    return partial


def _shard_texts(shard: _DatasetShard | _TextShard, text_column: str, dataset: Any) -> Iterator[list[str]]:
    if isinstance(shard, _TextShard):
        yield shard.texts
        return
    unit = shard.unit if dataset is None else DatasetUnit(dataset, shard.unit.name)
    opened, column = open_dataset(unit, text_column)
    if shard.count > 1:
        opened = opened.shard(num_shards=shard.count, index=shard.index, contiguous=True)
    yield from dataset_batches(opened, column, unit.name)


def _merge(left: _Partial, right: _Partial, prune_below: int) -> _Partial:
    """``left`` then ``right`` as one partial table (keys new in ``right`` come after ``left``'s)."""
    counts = left.counts.copy()  # subtle: inputs stay untouched, so a retried task on the same data is exact
    counts.update(right.counts)
    items = dict(left.items)
    for source, number in right.items.items():
        items[source] = items.get(source, 0) + number
    skipped = dict(left.skipped)
    for path, (lines, first) in right.skipped.items():
        seen = skipped.get(path)
        skipped[path] = (lines, first) if seen is None else (seen[0] + lines, min(seen[1], first))
    return _Partial(_prune(counts, prune_below), left.nbytes + right.nbytes, items, skipped)


def _prune(counts: Counter[str], prune_below: int) -> Counter[str]:
    if prune_below <= 1:
        return counts
    return Counter({piece: count for piece, count in counts.items() if count >= prune_below})


# ---------------------------------------------------------------------------------------------------------------
# Client side


class _OrderedTree:
    """Streams futures of partial tables into an ordered binary-tree reduction on the cluster.

    Works like a binary counter: two partials of the same level (each covering ``2**level`` shards) are merged
    as soon as the second arrives, so at most one partial per level waits and the merge order follows the
    corpus order.
    """

    def __init__(self, client: Any, prune_below: int) -> None:
        self.client = client
        self.prune_below = prune_below
        self.stack: list[tuple[int, Future[_Partial]]] = []

    def push(self, future: Future[_Partial]) -> None:
        level = 0
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            future = self._merge(left, future)
            level += 1
        self.stack.append((level, future))

    def result(self) -> Future[_Partial] | None:
        if not self.stack:
            return None
        future = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            future = self._merge(left, future)
        return future

    def _merge(self, left: Future[_Partial], right: Future[_Partial]) -> Future[_Partial]:
        # merges outrank shard tasks, so partial tables are folded away before more shards are read
        merged: Future[_Partial] = self.client.submit(_merge, left, right, self.prune_below, pure=False,
                                                      priority=10)
        return merged


def connect(scheduler: str | Client | None, workers: int, timeout: float) -> tuple[Any, Any]:
    """A Dask client: the one given, one connected to a scheduler address, or one on a new `LocalCluster`.

    Returns the client and the cluster this call started (None when none was started); the caller closes both.
    """
    distributed: Any = require("distributed")
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None
    if scheduler is None:
        # one thread per worker: counting is pure Python and holds the GIL
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        return distributed.Client(cluster), cluster
    try:
        _probe(scheduler, timeout)  # a refused port fails at once; Client would retry until the timeout
        client = distributed.Client(scheduler, timeout=timeout)
    except ClusterError:
        raise
    except (OSError, TimeoutError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ClusterError(
            f"could not reach the Dask scheduler at {scheduler!r} within {timeout:g} s ({reason}); "
            "check the address (tcp://HOST:PORT) and that `dask scheduler` runs there, or leave out "
            "--scheduler (scheduler=None) to start a local cluster"
        ) from None
    except Exception as exc:  # something else listens there: the handshake fails in many ways
        raise ClusterError(
            f"{scheduler!r} answered, but not as a Dask scheduler ({type(exc).__name__}); check the host and "
            "port (a scheduler listens on 8786 unless told otherwise)"
        ) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterError(
            f"the Dask scheduler at {scheduler!r} has no workers after {timeout:g} s; start some with "
            f"`dask worker {scheduler}` on machines that can read the corpus paths"
        ) from None
    return client, None


@contextlib.contextmanager
def _quiet_local_cluster() -> Iterator[None]:
    """Hold ``distributed``'s loggers at the application's root level (at least WARNING) while this call runs
    its own cluster: its INFO lines (scheduler and worker start-up, connections) are noise to a caller who did
    not ask for a cluster; an application logging at DEBUG still sees them."""
    require("distributed")  # subtle: importing distributed sets its logger to INFO; set the level after that
    dask_logger = logging.getLogger("distributed")
    level = dask_logger.level
    root = logging.getLogger().getEffectiveLevel()
    if root > logging.DEBUG:
        dask_logger.setLevel(max(root, logging.WARNING))
    try:
        yield
    finally:
        dask_logger.setLevel(level)


def _probe(address: str, timeout: float) -> None:
    """Open and close a TCP connection to a ``tcp://HOST:PORT`` (or ``HOST:PORT``) address; other schemes pass."""
    import socket
    from urllib.parse import urlsplit

    if "://" in address and not address.startswith("tcp://"):
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.hostname is None or parts.port is None:
        raise ClusterError(f"scheduler address {address!r} has no host and port; write it as tcp://HOST:PORT")
    socket.create_connection((parts.hostname, parts.port), timeout=timeout).close()


def count_on_dask(plan: Plan, normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None,
                  config: CountConfig, *, progress: bool = True) -> Counter[str]:
    """Count the pre-tokens of a planned corpus on a Dask cluster; the same counts, in the same order, as the
    local path.

    ``config.scheduler`` None starts a `LocalCluster` of ``config.workers`` processes on loopback for this call; a
    ``"tcp://HOST:PORT"`` address connects to a running scheduler (its workers need lexkit installed and the
    corpus files at the same paths); a ``distributed.Client`` is used as it is. ``config.reduce_min_count`` above 1
    drops pre-tokens below it from every partial table during the reduction, to bound memory on huge corpora.
    That is approximate: a pre-token spread thinly over many shards loses counts or disappears, so the merges can
    differ; each kept count is low by at most ``(reduce_min_count - 1) * shards``.

    Args:
        plan: the corpus's units (`lexkit.corpus.sources.plan_sources`).
        normalizer: the HF normalizer JSON, or None.
        pre_tokenizer: the HF pre-tokenizer JSON, or None.
        config: the counting configuration (``engine="dask"``); ``min_count`` is applied by the caller.
        progress: show a progress bar on stderr (bytes for files, shards otherwise).

    Returns:
        Pre-token surface string -> count, in first-occurrence corpus order.

    Raises:
        ClusterError: the scheduler cannot be reached or has no workers.
        CorpusError: see `lexkit.corpus.iter_texts` (raised on the client, whichever worker found it; the offset
            reported is the file's).
        MissingDependencyError: ``distributed`` is not installed.
    """
    import json

    workers = (os.cpu_count() or 1) if config.workers is None else config.workers
    components = json.dumps([normalizer, pre_tokenizer])
    scheduler = config.scheduler
    with _quiet_local_cluster() if scheduler is None else contextlib.nullcontext():
        client, cluster = connect(scheduler, workers, config.timeout)
        try:
            final = _run(client, plan, components, errors=config.errors, text_column=config.text_column,
                         prune_below=config.reduce_min_count, shard_bytes=config.shard_bytes, progress=progress)
        finally:
            if cluster is not None:
                client.close()
                cluster.close()
            elif isinstance(scheduler, str):
                client.close()
    tally = Tally(plan)
    for source, items in final.items.items():
        tally.add(source, items, None)
    for path, (lines, first) in final.skipped.items():
        tally.add(0, 0, Skipped(path, lines, first))
    tally.finish()
    return final.counts


def _run(client: Any, plan: Plan, components: str, *, errors: Errors, text_column: str, prune_below: int,
         shard_bytes: int | None, progress: bool) -> _Partial:
    """Submit every shard (at most two per worker thread in flight), reduce, and fetch the final table."""
    distributed: Any = require("distributed")
    from tqdm import tqdm

    threads = max(1, sum(client.nthreads().values()))
    tree = _OrderedTree(client, prune_below)
    files_only = all(isinstance(unit, TextFile) for _, unit in plan.units)
    total = sum(unit.path.stat().st_size for _, unit in plan.units if isinstance(unit, TextFile))
    if shard_bytes is None:
        shard_bytes = min(max(total // (_SHARDS_PER_WORKER * threads), _MIN_SHARD_BYTES), _MAX_SHARD_BYTES)
    logger.debug("counting on %d Dask worker threads, text files in shards of %d bytes", threads, shard_bytes)
    pending: dict[Future[_Partial], int] = {}
    with tqdm(total=total if files_only else None, unit="B" if files_only else " shards",
              unit_scale=files_only, unit_divisor=1024, desc=f"counting pre-tokens on {threads} Dask workers",
              disable=not progress, file=sys.stderr) as bar:
        for shard, nbytes, dataset in _shards(client, plan, text_column=text_column, workers=threads,
                                              shard_bytes=shard_bytes):
            future = client.submit(_count_shard, shard, components, errors, text_column, prune_below, dataset,
                                   pure=False)
            tree.push(future)
            pending[future] = nbytes
            if len(pending) >= 2 * threads:
                done, _ = distributed.wait(list(pending), return_when="FIRST_COMPLETED")
                _advance(bar, pending, done, files_only)
        done, _ = distributed.wait(list(pending))
        _advance(bar, pending, done, files_only)
        result = tree.result()
    return result.result() if result is not None else _Partial(Counter())


def _advance(bar: Any, pending: dict[Future[_Partial], int], done: set[Future[_Partial]],
             files_only: bool) -> None:
    """Drop finished shard futures (their exceptions surface here, on the client) and move the bar."""
    for future in done:
        nbytes = pending.pop(future)
        if future.status == "error":
            future.result()  # re-raises the worker's exception, e.g. a CorpusError naming the file and offset
        bar.update(nbytes if files_only else 1)
