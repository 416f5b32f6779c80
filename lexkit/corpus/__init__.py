"""Corpus input (files, folders, globs, HF datasets, Python iterables) and parallel pre-token counting.

The counting unit is one *text item*, the sequence HF's trainer feeds to its normalizer and pre-tokenizer:
- a text file contributes one item per line, **with its line ending**: ``Tokenizer.train(files=...)`` in
  ``tokenizers`` 0.23 reads files with Rust's ``read_line``, which keeps the ``"\\n"`` (and a ``"\\r"`` before it),
  so a ByteLevel trainer counts ``"Ċ"`` and ``"čĊ"`` pre-tokens, and a blank line is an item ``"\\n"``. Only
  ``"\\n"`` ends a line (not ``"\\r"``, U+0085 or U+2028, unlike Python's ``str.splitlines``). The last line may
  lack a newline. Checked by experiment and held by ``tests/lexkit/test_corpus.py``;
- a dataset contributes one item per row (the ``text_column`` value; rows where it is null are left out),
  like ``train_from_iterator``;
- a Python iterable contributes one item per element.

One frozen `CountConfig` (reading policies, workers, engine) is built once by the caller and passed down.
Counting runs in a local process pool, or on a Dask cluster with ``engine="dask"`` (`lexkit.corpus.dask`, imported
only then; same counts, same order; ``docs/scaling.md``).

Modules, one job each: `~lexkit.corpus.config` (`CountConfig`), `~lexkit.corpus.sources` (sources and their
expansion into files, datasets and iterables), `~lexkit.corpus.reading` (blocks, UTF-8 policies, dataset rows,
`iter_texts`), `~lexkit.corpus.splitting` (the raw pre-token counters), `~lexkit.corpus.counting`
(`count_pre_tokens`, the local pool) and `~lexkit.corpus.dask` (the Dask engine).

HF aborts a file with invalid UTF-8 without saying where; lexkit reports the file and byte offset, or replaces or
skips per the ``errors`` policy. Files are read in blocks cut at line ends, never whole.
"""

from __future__ import annotations

from lexkit.corpus.config import Binary, CountConfig, Errors
from lexkit.corpus.counting import count_pre_tokens
from lexkit.corpus.reading import iter_texts
from lexkit.corpus.sources import Corpus, DatasetSource, Source

__all__ = ["Binary", "Corpus", "CountConfig", "DatasetSource", "Errors", "Source", "count_pre_tokens", "iter_texts"]
