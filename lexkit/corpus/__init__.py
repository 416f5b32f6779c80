"""Corpus input and parallel pre-token counting (`lexkit.corpus.reading`; the Dask engine in `lexkit.corpus.dask`)."""

from __future__ import annotations

from lexkit.corpus.reading import Corpus, DatasetSource, Source, count_pre_tokens, iter_texts

__all__ = ["Corpus", "DatasetSource", "Source", "count_pre_tokens", "iter_texts"]
