"""Type stub of the compiled merge kernel (``vocab/_merge_kernel.c``); see `lexkit.vocab._merge_engine`."""

from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

class PairCounts:
    """Pair -> count in checked int64 (``t[pair]`` is 0 for a missing pair; ``t[pair] = n`` stores)."""

    def __init__(self, counts: dict[int, int] | None = None, /) -> None: ...
    def __getitem__(self, pair: int, /) -> int: ...
    def __setitem__(self, pair: int, count: int, /) -> None: ...
    def __len__(self) -> int: ...
    def items(self) -> list[tuple[int, int]]:
        """Every pair stored (zero counts included) with its count, sorted by pair."""

class WordStore:
    """The engine's words as int32 arrays, counts and optional per-occurrence lengths in int64."""

    def __init__(
        self, words: list[list[int]], counts: list[int], lengths: list[list[int]] | None = None, /
    ) -> None: ...
    def words(self) -> list[list[int]]:
        """The words as lists of ids, as edited so far."""
    def lengths(self) -> list[list[int]] | None:
        """The per-occurrence lengths as lists, or None when the store has none."""

def store_from_flat(symbols: NDArray[np.int32], offsets: NDArray[np.int64], counts: list[int], /) -> WordStore:
    """A store (no lengths) from words back to back and their int64 starts (``len(counts) + 1`` of them)."""
def counts_text(keys: list[str] | None, counts: Mapping[str, int], /) -> bytes:
    """``b"".join(f"{key}\\0{counts[key]}\\0".encode() for key in keys)``, built in C (``None``: sorted keys)."""
def merge_store(
    store: WordStore,
    positions: Collection[int] | bytearray | NDArray[np.int32],
    left: int,
    right: int,
    merged: int,
    pair_counts: PairCounts,
    shift: int,
    limit: int | None,
    /,
) -> tuple[dict[int, bytearray], int]:
    """``created`` maps each gained pair to a bytearray of native int32 word indices (each once)."""
def run_merges(
    store: WordStore,
    pair_counts: PairCounts,
    pair_words: Mapping[int, Collection[int] | NDArray[np.int32]],
    keys: list[Any],
    key_ids: dict[Any, int],
    join: Callable[[Any, Any], Any],
    lengths: list[int],
    frequencies: list[int],
    merges: list[tuple[int, int, int]],
    shift: int,
    limit: int | None,
    vocab_size: int,
    max_merges: int | None,
    min_frequency: int,
    on_merge: Callable[[int, int, int, int], None] | None,
    is_scaffold: bytearray | None,
    protected: int,
    reactivate: bool,
    id_space: int,
    /,
) -> tuple[Literal["vocab_size", "max_merges", "min_frequency", "exhausted"], int]:
    """The engine's loop in C (Scaffold-BPE with ``is_scaffold``); appends to keys, key_ids, lengths,
    frequencies, merges and is_scaffold; returns the stop reason and the number of re-activations."""
