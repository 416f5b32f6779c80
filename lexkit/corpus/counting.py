"""Parallel pre-token counting: `count_pre_tokens`, the word counts a BPE-style trainer starts from.

Counting runs in a local process pool, or on a Dask cluster (`lexkit.corpus.dask`, imported only then) when the
`CountConfig` says ``engine="dask"``; both give the same counts in the same order (``docs/scaling.md``).

For the byte-level presets, pool workers send each file block's counts back packed (``Counts.take_packed``: one
bytes object of UTF-8 keys and int64 counts) and this process adds them to its own C table in corpus order, then
builds the surface-form dict from that table in C (``Counts.take_surface``). Sending a ``Counter`` per block cost
more than the counting: on the 100 MB fixture, 2 workers took 4.32 s against 2.1-2.3 s for one process; packed,
2.11 s (measure lock; the wall-clock gain of the second core is small on this 2-core machine, where the parent's
reading and adding compete with both workers).
"""

from __future__ import annotations

import os
import sys
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lexkit.components import build_pipeline
from lexkit.corpus.config import CountConfig, Errors
from lexkit.corpus.reading import Skipped, Tally, Task, count_non_empty, plan_tasks, task_texts
from lexkit.corpus.sources import Corpus, Plan, Source, TextFile, plan_sources
from lexkit.corpus.splitting import (
    RawCounter,
    add_counts,
    block_counter,
    raw_counter,
    surface_counts,
    take_block_surface,
)

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

    from lexkit.components import TextPipeline
    from lexkit.corpus._split_kernel import Counts

__all__ = ["count_pre_tokens"]

#: What counting one work unit gives: source index, raw counts (before the pre-tokenizer's surface map; None
#: when they stayed in the block counter; a block counter's `take_packed` bytes from a pool worker), bytes read,
#: non-empty items, skipped lines.
_Result = tuple[int, Counter[str] | bytes | None, int, int, Skipped | None]

# The raw counter, UTF-8 policy and block counter of a pool worker process, set once by `_init_worker`.
_WORKER: tuple[RawCounter, Errors, Counts | None] | None = None


def _count(counter: RawCounter, errors: Errors, blocks: Counts | None, task: Task, *, keep: bool = False) -> _Result:
    """Decode and count one work unit: a valid UTF-8 file block straight from its bytes when ``blocks`` can
    (its counts left in ``blocks`` with ``keep``, else taken out packed: one bytes object to send back instead of
    a Counter, whose str and int per key cost more to pickle, unpickle and add than the counting itself)."""
    if blocks is not None and task.block is not None:
        try:
            lines = blocks.count_block(task.block.data)
        except UnicodeDecodeError:
            pass
        else:
            return task.source, None if keep else blocks.take_packed(), len(task.block.data), lines, None
    texts, skipped = task_texts(task, errors)
    nbytes = len(task.block.data) if task.block is not None else sum(len(text.encode("utf-8")) for text in texts)
    return task.source, counter(texts), nbytes, count_non_empty(texts), skipped


def _init_worker(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None, errors: Errors) -> None:
    global _WORKER
    _WORKER = (raw_counter(normalizer, pre_tokenizer), errors, block_counter(normalizer, pre_tokenizer))


def _count_in_worker(task: Task) -> _Result:
    assert _WORKER is not None, "the pool initializer sets up the worker"
    return _count(*_WORKER, task)


def count_pre_tokens(
    sources: Corpus | Source,
    *,
    normalizer: Mapping[str, Any] | None,
    pre_tokenizer: Mapping[str, Any] | None,
    config: CountConfig | None = None,
    progress: bool = True,
    **options: Any,
) -> dict[str, int]:
    """Count the pre-tokens of a corpus in parallel: the word counts a BPE-style trainer starts from.

    Every text item is normalized and pre-tokenized as HF's trainer does (see `lexkit.components`), and the
    pre-token strings counted. Work units (file blocks of whole lines, batches of texts) go to a process pool,
    at most two per worker in flight so reading never runs far ahead; results are merged in corpus order, so the
    counts (and the dict's order) do not depend on ``workers``. With ``engine="dask"`` the same counts, in the
    same order, come from a Dask cluster (`lexkit.corpus.dask.count_on_dask`).

    Args:
        sources: a `Corpus` or one source (see `lexkit.corpus.iter_texts`).
        normalizer: the HF normalizer JSON, or None.
        pre_tokenizer: the HF pre-tokenizer JSON, or None (each item is then one pre-token).
        config: how to read and where to count (`CountConfig`); None builds one from ``options``.
        progress: show a progress bar on stderr (bytes processed; shards for non-file sources on Dask).
        **options: `CountConfig` fields (``workers=1``, ``engine="dask"``, ...) when ``config`` is None.

    Returns:
        Pre-token string (HF's surface form, e.g. ``"Ġthe"`` for ByteLevel) -> count, for counts >= ``min_count``.

    Raises:
        CorpusError: see `lexkit.corpus.iter_texts`.
        UnsupportedComponentError: a component is not one lexkit can run.
        FormatError: a component object is malformed.
        ValueError: an option is out of range, a Dask option is given with ``engine="local"``, or both
            ``config`` and ``options`` are given.
        ClusterError: the Dask scheduler cannot be reached or has no workers.
        MissingDependencyError: ``engine="dask"`` without ``distributed`` installed.

    >>> count_pre_tokens(["a b", "a"], normalizer=None, pre_tokenizer={"type": "Whitespace"}, workers=1,
    ...                  progress=False)
    {'a': 2, 'b': 1}
    """
    if config is None:
        config = CountConfig(**options)
    elif options:
        raise ValueError(f"got both config= and the options {sorted(options)}; put them in the CountConfig "
                         "(dataclasses.replace(config, ...))")
    pipeline = build_pipeline(normalizer, pre_tokenizer)  # malformed components fail here, before any reading
    plan = plan_sources(sources, config.binary)  # missing paths fail here, before a cluster starts
    if config.engine == "dask":
        from lexkit.corpus.dask import count_on_dask

        counts = count_on_dask(plan, normalizer, pre_tokenizer, config, progress=progress)
    else:
        counts = _count_locally(plan, pipeline, normalizer, pre_tokenizer, config, progress)
    if config.min_count > 1:
        return {piece: count for piece, count in counts.items() if count >= config.min_count}
    return dict(counts)


def _count_locally(plan: Plan, pipeline: TextPipeline, normalizer: Mapping[str, Any] | None,
                   pre_tokenizer: Mapping[str, Any] | None, config: CountConfig, progress: bool) -> Counter[str]:
    """The surface counts of ``plan`` from a local process pool, or this process."""
    workers = (os.cpu_count() or 1) if config.workers is None else config.workers
    counter, blocks = raw_counter(normalizer, pre_tokenizer), block_counter(normalizer, pre_tokenizer)
    known_size = all(isinstance(unit, TextFile) for _, unit in plan.units)
    total = sum(unit.path.stat().st_size for _, unit in plan.units if isinstance(unit, TextFile))
    counts: Counter[str] = Counter()
    tally = Tally(plan)
    tasks = plan_tasks(plan, config.text_column, config.block_bytes)

    from tqdm import tqdm

    # subtle: the pool forks before tqdm starts its monitor thread (forking a threaded process can deadlock).
    pool = _start_pool(workers, (normalizer, pre_tokenizer, config.errors)) if workers > 1 else None
    try:
        with tqdm(total=total if known_size else None, unit="B", unit_scale=True, unit_divisor=1024,
                  desc="counting pre-tokens", disable=not progress, file=sys.stderr) as bar:
            for source, partial, nbytes, items, skipped in (
                _pooled(pool, tasks, workers) if pool is not None
                else (_count(counter, config.errors, blocks, t, keep=True) for t in tasks)
            ):
                if isinstance(partial, bytes):
                    assert blocks is not None, "packed counts come from workers with a block counter, as here"
                    blocks.add_packed(partial)  # stays in C, in corpus order, until the next Counter or the end
                elif partial is not None:
                    if blocks is not None and len(blocks):  # the blocks before this unit first: corpus order
                        add_counts(counts, blocks.take())
                    add_counts(counts, partial)
                tally.add(source, items, skipped)
                bar.update(nbytes)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    tally.finish()
    if blocks is not None and len(blocks):
        if not counts:  # every unit stayed in the block table (the usual case): map to the surface in C
            return take_block_surface(blocks)
        add_counts(counts, blocks.take())
    return surface_counts(pipeline, counts)


def _start_pool(
    workers: int, init_args: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None, Errors]
) -> Pool:
    import multiprocessing

    return multiprocessing.get_context().Pool(workers, initializer=_init_worker, initargs=init_args)


def _pooled(pool: Pool, tasks: Iterator[Task], workers: int) -> Iterator[_Result]:
    """Results of ``tasks`` run on ``pool``, in order, with at most two tasks per worker in flight."""
    pending: deque[AsyncResult[_Result]] = deque()
    for task in tasks:
        pending.append(pool.apply_async(_count_in_worker, (task,)))
        if len(pending) >= 2 * workers:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
