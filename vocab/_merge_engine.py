"""The incremental pair-merge engine shared by every BPE-family trainer.

Input: distinct words as sequences of integer symbol ids, one count per word, and a key per symbol (the
symbol's content: a string, bytes, a tuple of codebook units...). Output: the ordered merges. The engine
never looks inside a key except through ``join``, so any integer alphabet works (bytes, characters,
codebook ids).

The loop is a faithful re-implementation of the merge loop of Hugging Face ``tokenizers``' ``BpeTrainer``
(``tokenizers/src/models/bpe/trainer.rs``, ``do_train``, and ``word.rs``, ``Word::merge``), so that plain
BPE reproduces HF's merge list exactly when the caller numbers the initial symbols the way HF does
(``lexkit.vocab._hf_compat`` does that). What is mirrored, deliberately including HF's quirks:

- Priority: highest pair count first; equal counts go to the smaller ``(left_id, right_id)``.
- Lazy max-heap: a popped entry whose count is stale is pushed back with the current count.
- Each heap entry carries its own set of word indices (HF's ``Merge::pos``). A pair pushed at several
  steps has several entries, and merging it only touches the words of the entry that was popped; a later
  entry of the same pair then merges the rest and records the same merge a second time.
- Merging a pair never decrements that pair's own count (HF's ``Word::merge`` reports changes for the
  neighbouring pairs only), so a later entry of the same pair sees the undiminished count.
- A merged key that already exists reuses its id (HF's ``word_to_id`` lookup); the merge is recorded anyway.
- Stop rules: the number of ids reaches ``vocab_size``; the best count is below 1 or below
  ``min_frequency``; no entry left. Counts are compared as HF's unsigned 64-bit integers, so a pair
  count driven negative (possible only with ``max_token_length``, see below) wraps and wins the next pop.
- ``max_token_length`` with ``length_rule="hf"``: a pair formed by a merge is counted only when its joined
  length is *strictly below* the limit, and pairs of the initial words are always counted, so HF tokens
  have at most ``limit - 1`` units except initial two-unit pairs (HF's off-by-one; it is also why
  huggingface/tokenizers#1461 finds a limit of 1 ignored: the initial pairs still merge).
  ``length_rule="inclusive"`` (lexkit's default) allows at most ``max_token_length`` units everywhere.
- Lengths for ``max_token_length`` are measured per occurrence, as HF's ``Symbol::len``: an initial symbol
  has its given length, a merged occurrence the sum of its two parts. (An id can have several: a merge may
  rebuild the key of a special token or of an initial symbol.)

Not mirrored: HF counts in 32-bit integers (overflow past 2**31 per pair, huggingface/tokenizers#1170);
Python integers do not overflow. When two entries of the same pair hold the same count, Rust's
``BinaryHeap`` pops them in an order that depends on hash-map iteration order (random per process); the
engine pops the entry that was pushed first. That needs the same pair to be pushed at two steps, which needs the
same key to arise from two different pairs: plain byte-level BPE never showed it (see the tests).

Performance notes (why the data structures look like this): a pair is one Python ``int``
``(left << shift) | right`` rather than a tuple, so dictionary operations hash small integers and never
allocate tuples; a heap entry is one packed ``int`` too (tuple comparisons cost several times more); words
are plain lists edited in place; occurrences in a word are found with ``list.count``/``list.index`` (C
loops) instead of a Python loop over every symbol; the initial pair table is built with numpy (one sort of
all adjacent pairs); the cyclic garbage collector is paused during training (the run allocates millions of
lists and sets but no cycles, and collections would otherwise rescan them all, about 15 % of the run).

Two implementations of the loop, no more: this module's Python loop (`_learn` with `_merge_words`), the
readable reference, and the compiled kernel ``lexkit.vocab._merge_kernel`` (``vocab/_merge_kernel.c``,
built by ``setup.py``), the fast one. The kernel runs the whole loop (``run_merges``), Scaffold-BPE
included, on a ``WordStore`` (the words as int32 arrays, per-occurrence lengths in int64) and a
``PairCounts`` table (pair -> int64 count in one open-addressing array; all arithmetic checked, an
overflow raises instead of wrapping). It keeps this loop's rules one for one: heap priority (count read as
u64, kind, item, sequence number), stale-entry re-push with the entry's own word set, the undiminished
count of the merged pair, id reuse through ``join`` and the key table, the stop rules, the Scaffold-BPE
step, ``on_merge`` calls, and the same appends to keys, lengths, frequencies and merges. Only orders that
cannot matter differ: the table has no insertion order (nothing iterates the pair counts), and an entry's
word indices are kept as an int32 bytearray in insertion order instead of a set (words are edited
independently, and sequence numbers only order entries of the same pair, which come from different merges).

The kernel runs whenever its int64 arithmetic provably cannot overflow: weighted symbol occurrences below
`_TABLE_SAFE_OCCURRENCES` (2**61, i.e. a corpus of about two exbibytes: every real one), pair keys within
62 bits (an id space below 2**31) and each word's unit lengths summing below 2**62. Anything larger
(reachable only through hand-made counts or lengths) runs the reference loop, whose Python integers never
overflow, with the same result. The reference also runs when the extension is missing (no C compiler at
install time); ``tests/vocab/test_merge_kernel.py`` compares the two (the kernel's word edit on random
states, whole runs on random and real corpora). On the 10 MB benchmark (32k vocabulary) `learn_merges`
went from 1.8 to 0.37 CPU seconds, 0.22 of them in the C loop.

Input without Python lists: `lexkit.vocab._hf_compat.hf_words` gives the words as `FlatWords` (one int32
array and word offsets, built by one numpy lookup over the joined pre-tokens), which `_count_initial_pairs`
reads directly and ``_merge_kernel.store_from_flat`` copies into the kernel's store. The initial pairs are
grouped by one unstable sort of packed ``(pair << word_bits) | word`` keys (word indices come out ascending
within a pair, as the stable argsort gave). On the 100 MB fixture, building the lists, checking them and
copying them into the store had cost about 2 s of a 9-10 s run (cProfile), the stable argsort 0.3 s.

Scaffold-BPE (Lian et al., "Scaffold-BPE: Enhancing Byte Pair Encoding for Large Language Models with
Simple and Effective Scaffold Token Removal", arXiv 2404.17808, AAAI 2025) is the same loop with a
`ScaffoldRule`: token items join pair items in the queue, components whose frequency falls below the queue
head are marked scaffold, popped token items re-activate them, and the vocabulary size counts non-scaffold
ids only (Scaffold-BPE, arXiv 2404.17808). Without a rule the loop is plain HF-identical BPE.
"""

from __future__ import annotations

import heapq
import operator
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from types import ModuleType
from typing import Generic, Literal, TypeVar

import numpy as np

from lexkit._gc import paused_gc

_kernel: ModuleType | None
try:
    from lexkit.vocab import _merge_kernel as _kernel
except ImportError:  # not built (no C compiler at install time): the reference loop below runs instead
    _kernel = None

__all__ = ["FlatWords", "MergeResult", "ScaffoldRule", "StopReason", "learn_merges"]

K = TypeVar("K", bound=Hashable)

_U64 = 1 << 64
_COUNT_CAP = 1 << 66  # above every count, including HF's wrapped negative ones (below 2**64)
_SEQUENCE_BITS = 48  # heap entries pushed in one run: at most 2**48
_SEQUENCE_MASK = (1 << _SEQUENCE_BITS) - 1
_NUMPY_SAFE_TOTAL = 1 << 62  # total word count below which int64 pair sums cannot overflow
_KERNEL_MAX_SHIFT = 31  # the compiled kernel packs pairs in int64: 2 * shift <= 62
# Weighted symbol occurrences T (sum of word count * word length) below which every pair count fits the
# kernel's int64 table: initial counts are at most T; a merge event removes one occurrence, so the word
# counts of all events sum to at most T, and each event raises counts by at most twice its word count in
# all and lowers them by at most as much; every count stays within [-2T, 3T], and 3T < 2**63.
_TABLE_SAFE_OCCURRENCES = 1 << 61


StopReason = Literal["vocab_size", "max_merges", "min_frequency", "exhausted"]
LengthRule = Literal["inclusive", "hf"]


@dataclass(frozen=True)
class ScaffoldRule:
    """Scaffold-BPE's training rule (arXiv 2404.17808; defaults in `lexkit.vocab.scaffold`).

    After each merge of ``(a, b)``, each component that is not protected and not already scaffold is marked
    scaffold when its frequency is strictly below the frequency of the queue's valid head (a pair count or
    a scaffold token's frequency). A marked token with a positive frequency enters the queue as a token
    item; popping it re-activates the token (no merge happens in that iteration). ``vocab_size`` then
    counts non-scaffold ids only, so training runs past ``vocab_size`` ids.

    Attributes:
        protected: ids below this (the initial symbols: specials and base units) are never scaffold, which
            makes demolition at encoding time terminate.
        reactivate: push token items and re-activate popped ones (the paper's rule); False gives TkTkT's
            one-way marking.
    """

    protected: int
    reactivate: bool = True


class FlatWords(Sequence[list[int]]):
    """Words stored back to back: ``symbols[offsets[i]:offsets[i + 1]]`` is word ``i``.

    The form `lexkit.vocab._hf_compat.hf_words` builds for byte-level training: the engine counts the
    initial pairs and fills the compiled kernel's store from the two arrays, without one Python int per
    symbol (on the 100 MB benchmark that was about a second of lists built, scanned and copied). Indexing gives
    a word as a list, so any code written for lists of ids still reads it.

    Attributes:
        symbols: every word's ids, in word order (int32).
        offsets: where each word starts, then the total (int64, ``len(words) + 1`` entries, 0 first).
    """

    def __init__(self, symbols: np.ndarray, offsets: np.ndarray) -> None:
        self.symbols = np.ascontiguousarray(symbols, dtype=np.int32)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or not len(self.offsets) or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.symbols) or (np.diff(self.offsets) < 0).any():
            raise ValueError("FlatWords needs offsets rising from 0 to len(symbols), one more than the words")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(f"word {index} is outside the {len(self)} words")
        return self.symbols[self.offsets[position]:self.offsets[position + 1]].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        symbols, cuts = self.symbols.tolist(), self.offsets.tolist()
        return (symbols[begin:end] for begin, end in zip(cuts, cuts[1:]))

    def sizes(self) -> np.ndarray:
        """The length of every word (int64)."""
        return np.diff(self.offsets)


@dataclass(frozen=True)
class MergeResult(Generic[K]):
    """The outcome of `learn_merges`.

    Attributes:
        merges: ``(left_id, right_id, result_id)`` in rank order. A ``result_id`` may occur more than once
            (the same key reached through another pair, or the same pair merged again from a second heap
            entry); the first occurrence is the defining merge.
        keys: the key of every id: the caller's initial keys followed by one joined key per new id.
        lengths: the length in units of every id: the initial lengths, then for each new id the sum of the
            lengths of the two parts that first produced it.
        stop_reason: why training ended: ``"vocab_size"`` (the number of ids, scaffold ids excluded,
            reached ``vocab_size``), ``"max_merges"``, ``"min_frequency"`` (the best pair count fell
            below ``min_frequency``), or ``"exhausted"`` (no pair with a positive count left).
        frequencies: the occurrence count of every id in the training words as segmented at the end
            (word counts times occurrences); merged-away symbols count 0.
        scaffolds: the ids that are scaffold at the end (empty without a `ScaffoldRule`).
        reactivations: how many times a scaffold token was re-activated.
    """

    merges: list[tuple[int, int, int]]
    keys: list[K]
    lengths: list[int]
    stop_reason: StopReason
    frequencies: list[int]
    scaffolds: frozenset[int] = frozenset()
    reactivations: int = 0


def learn_merges(
    words: Sequence[Sequence[int]] | FlatWords,
    counts: Sequence[int],
    keys: Sequence[K],
    *,
    vocab_size: int,
    join: Callable[[K, K], K] = operator.add,
    lengths: Sequence[int] | None = None,
    min_frequency: int = 0,
    max_token_length: int | None = None,
    length_rule: LengthRule = "inclusive",
    max_merges: int | None = None,
    scaffold: ScaffoldRule | None = None,
    on_merge: Callable[[int, int, int, int], None] | None = None,
) -> MergeResult[K]:
    """Learn BPE merges over integer symbols with HF ``BpeTrainer``'s exact selection rules.

    Args:
        words: the distinct words (pre-tokens), each a sequence of symbol ids in ``range(len(keys))``, or
            a `FlatWords` holding them back to back (the fast form).
        counts: the occurrence count of each word (positive integers), same length as ``words``.
        keys: the content of each initial symbol, indexed by id; keys must be distinct. Ids present here but
            absent from every word (special tokens, unused alphabet entries) count towards ``vocab_size``
            and are reused when a merge produces their key, exactly as in HF.
        vocab_size: stop once this many ids exist (initial symbols included), HF's stopping rule; with a
            `ScaffoldRule`, once this many non-scaffold ids exist.
        join: builds the key of a merged symbol from its two parts (default ``+``, right for ``str``,
            ``bytes`` and ``tuple`` keys). When the joined key already exists its id is reused.
        lengths: the length in units of each initial symbol (default 1 each), for ``max_token_length``.
        min_frequency: stop when the best pair occurs fewer times than this.
        max_token_length: the longest merged symbol allowed, in units; None for no limit.
        length_rule: ``"inclusive"`` allows merged symbols of at most ``max_token_length`` units;
            ``"hf"`` reproduces HF's rule (strictly shorter than the limit, initial pairs exempt).
        max_merges: stop after this many merges; None for no limit.
        scaffold: Scaffold-BPE's rule; None for plain BPE.
        on_merge: called after each merge as ``on_merge(left_id, right_id, result_id, count)`` (progress
            bars, logging, variants that watch the merge stream).

    Returns:
        The merges in rank order, the key, length and final frequency of every id, the scaffold ids and
        why training stopped.

    Raises:
        ValueError: when the inputs are inconsistent (mismatched lengths, duplicate keys, an id outside
            ``range(len(keys))``, a non-positive count, a bad limit).

    >>> result = learn_merges([[0, 1, 2], [1, 2]], [1, 3], ["a", "b", "c"], vocab_size=10)
    >>> result.merges, result.keys[3:], result.stop_reason, result.frequencies
    ([(1, 2, 3), (0, 3, 4)], ['bc', 'abc'], 'exhausted', [0, 0, 0, 3, 1])
    """
    num_keys = len(keys)
    _check_inputs(words, counts, keys, lengths, num_keys, min_frequency, max_token_length, max_merges)
    with paused_gc():  # the engine builds no cycles; collections would only rescan its data
        return _learn(
            words, counts, keys, vocab_size=vocab_size, join=join, lengths=lengths, min_frequency=min_frequency,
            max_token_length=max_token_length, length_rule=length_rule, max_merges=max_merges,
            scaffold=scaffold, on_merge=on_merge,
        )


def _learn(
    words: Sequence[Sequence[int]] | FlatWords,
    counts: Sequence[int],
    keys: Sequence[K],
    *,
    vocab_size: int,
    join: Callable[[K, K], K],
    lengths: Sequence[int] | None,
    min_frequency: int,
    max_token_length: int | None,
    length_rule: LengthRule,
    max_merges: int | None,
    scaffold: ScaffoldRule | None,
    on_merge: Callable[[int, int, int, int], None] | None,
) -> MergeResult[K]:
    """The loop of `learn_merges` (inputs already checked)."""
    num_keys = len(keys)
    id_keys: list[K] = list(keys)
    key_ids: dict[K, int] = {key: token_id for token_id, key in enumerate(id_keys)}
    unit_lengths: list[int] = [1] * num_keys if lengths is None else list(lengths)
    # Largest id the run can create: new ids are only made while fewer than vocab_size ids exist; with
    # scaffolds, while fewer than vocab_size non-scaffold ids exist (scaffolds are a few percent: the
    # factor 4 leaves room for three times vocab_size of them).
    id_space = max(vocab_size, num_keys, 2) * (4 if scaffold is not None else 1)
    shift = id_space.bit_length()
    mask = (1 << shift) - 1
    pair_mask = (1 << (2 * shift)) - 1

    # `limit`: a pair is counted only if its joined length is strictly below it (HF compares with `<`).
    if max_token_length is None:
        limit = None
    else:
        limit = max_token_length if length_rule == "hf" else max_token_length + 1
    initial_limit = limit if length_rule == "inclusive" else None

    word_counts: list[int] = list(counts)
    flat = words if isinstance(words, FlatWords) and limit is None else None
    # Word store: lists edited in place (the flat form goes straight to the kernel's store instead). subtle:
    # words with fewer than two symbols can never change, so they are kept out of every index but still
    # occupy their slot so indices match the caller's.
    word_symbols: list[list[int]] = [] if flat is not None else [list(word) for word in words]
    # Per-occurrence lengths, parallel to word_symbols, kept only when a limit needs them.
    word_lengths = None
    if limit is not None:
        word_lengths = [[unit_lengths[symbol] for symbol in word] for word in word_symbols]

    pair_counts, pair_words, frequencies = _count_initial_pairs(
        word_symbols if flat is None else flat, word_counts, num_keys, shift, unit_lengths, initial_limit
    )
    sizes = map(len, word_symbols) if flat is None else flat.sizes().tolist()
    occurrences = sum(map(operator.mul, word_counts, sizes))
    if _kernel is not None and shift <= _KERNEL_MAX_SHIFT and occurrences < _TABLE_SAFE_OCCURRENCES:
        # Every count fits in int64: the whole loop runs in the C kernel (module docstring).
        try:
            if flat is not None:
                store = _kernel.store_from_flat(flat.symbols, flat.offsets, word_counts)
            else:
                store = _kernel.WordStore(word_symbols, word_counts, word_lengths)
        except OverflowError:  # a word's unit lengths sum past 2**62: the reference loop below runs
            pass
        else:
            del word_symbols, word_lengths  # the store holds the words now
            flags = bytearray(num_keys)  # is_scaffold
            compiled_merges: list[tuple[int, int, int]] = []
            compiled_stop: StopReason
            compiled_stop, reactivations = _kernel.run_merges(
                store, _kernel.PairCounts(pair_counts), pair_words, id_keys, key_ids, join, unit_lengths,
                frequencies, compiled_merges, shift, limit, vocab_size, max_merges, min_frequency, on_merge,
                None if scaffold is None else flags, 0 if scaffold is None else scaffold.protected,
                scaffold is not None and scaffold.reactivate, id_space,
            )
            return MergeResult(
                merges=compiled_merges, keys=id_keys, lengths=unit_lengths, stop_reason=compiled_stop,
                frequencies=frequencies, reactivations=reactivations,
                scaffolds=frozenset(token for token, flag in enumerate(flags) if flag),
            )
    if flat is not None:  # the reference loop edits lists
        word_symbols = [list(word) for word in words]
    # A heap entry is one int, (_COUNT_CAP - count, kind, item, sequence number) packed from high bits to
    # low, so the min-heap pops the highest count, then the smaller (left, right) like HF, then the older
    # entry of the same pair. `kind` is 1 for pair items and 0 for Scaffold-BPE's token items (whose item
    # is the token id), so at equal frequency a scaffold token is re-activated before a pair is merged: a
    # token stays scaffold only while strictly rarer than the head, the mirror of the strict marking test.
    # A pair entry's word indices live in `entry_words` under its sequence number: an int32 array slice
    # (initial entries) or a set (created by `_merge_words`). (Packed ints compare several times faster
    # than tuples, and the heap is the second-hottest part of the loop.)
    item_shift = _SEQUENCE_BITS
    pair_flag = 1 << (2 * shift + item_shift)
    count_shift = 2 * shift + item_shift + 1
    low_mask = (1 << count_shift) - 1
    entry_words: dict[int, Collection[int]] = {}
    heap: list[int] = []
    for sequence, (pair, positions) in enumerate(pair_words.items()):
        heap.append(((_COUNT_CAP - pair_counts[pair]) << count_shift) | pair_flag | (pair << item_shift) | sequence)
        entry_words[sequence] = positions
    heapq.heapify(heap)
    sequence = len(heap)

    is_scaffold = bytearray(num_keys)  # one flag per id
    protected = scaffold.protected if scaffold is not None else 0
    reactivate = scaffold is not None and scaffold.reactivate
    size = num_keys  # ids that count towards vocab_size
    reactivations = 0

    merges: list[tuple[int, int, int]] = []
    heappush, heappop = heapq.heappush, heapq.heappop
    stop_reason: StopReason = "exhausted"
    while True:
        if size >= vocab_size:
            stop_reason = "vocab_size"
            break
        if max_merges is not None and len(merges) >= max_merges:
            stop_reason = "max_merges"
            break
        if not heap:
            break
        entry = heappop(heap)
        if not entry & pair_flag:
            # A Scaffold-BPE token item: valid while the token is scaffold at the frequency it was pushed
            # with (every change of a scaffold token's frequency pushes a fresh item).
            token = (entry >> item_shift) & pair_mask
            if is_scaffold[token] and _COUNT_CAP - (entry >> count_shift) == frequencies[token]:
                if frequencies[token] < min_frequency:
                    stop_reason = "min_frequency"
                    break
                is_scaffold[token] = 0
                size += 1
                reactivations += 1
            continue
        pair = (entry >> item_shift) & pair_mask
        count = pair_counts[pair]
        if count < 0:
            # subtle: HF reads the count through `as u64`, so a negative count becomes huge and the pair is
            # merged next. Counts only go negative when one id has occurrences of different lengths and a
            # length limit skipped the increment but not the later decrement.
            count += _U64
        if _COUNT_CAP - (entry >> count_shift) != count:
            # Stale entry: HF pushes it back with the current count (and keeps its word set).
            heappush(heap, ((_COUNT_CAP - count) << count_shift) | (entry & low_mask))
            continue
        if count < 1:
            break  # every remaining entry is stale at zero: nothing left to merge
        if count < min_frequency:
            stop_reason = "min_frequency"
            break
        positions = entry_words.pop(entry & _SEQUENCE_MASK)
        if isinstance(positions, np.ndarray):
            positions = positions.tolist()  # an initial entry (see _count_initial_pairs)

        left, right = pair >> shift, pair & mask
        merged_key = join(id_keys[left], id_keys[right])
        merged = key_ids.get(merged_key)
        if merged is None:
            merged = len(id_keys)
            if merged > mask:
                raise RuntimeError(
                    f"Scaffold-BPE created {merged - size} scaffold ids, more than the {id_space} ids the "
                    "engine packs; train with a larger vocab_size or ScaffoldRule(reactivate=True)"
                )
            id_keys.append(merged_key)
            key_ids[merged_key] = merged
            unit_lengths.append(unit_lengths[left] + unit_lengths[right])
            frequencies.append(0)
            is_scaffold.append(0)
            size += 1
        elif is_scaffold[merged]:
            is_scaffold[merged] = 0  # the pair rebuilt a scaffold token: it is a vocabulary token again
            size += 1
            reactivations += 1
        merges.append((left, right, merged))

        created, merged_count = _merge_words(
            word_symbols, word_counts, positions, left, right, merged, pair_counts, shift, word_lengths, limit
        )
        frequencies[merged] += merged_count
        frequencies[left] -= merged_count
        frequencies[right] -= merged_count
        for new_pair, new_positions in created.items():
            new_count = pair_counts[new_pair]
            if new_count > 0:
                heappush(heap, ((_COUNT_CAP - new_count) << count_shift) | pair_flag
                         | (new_pair << item_shift) | sequence)
                entry_words[sequence] = new_positions
                sequence += 1
        if scaffold is not None:
            size -= _mark_scaffolds(
                heap, pair_counts, frequencies, is_scaffold, (left, right), protected, reactivate,
                count_shift, item_shift, pair_flag, pair_mask, low_mask,
            )
        if on_merge is not None:
            on_merge(left, right, merged, count)

    return MergeResult(
        merges=merges, keys=id_keys, lengths=unit_lengths, stop_reason=stop_reason, frequencies=frequencies,
        scaffolds=frozenset(token for token, flag in enumerate(is_scaffold) if flag),
        reactivations=reactivations,
    )


def _mark_scaffolds(
    heap: list[int],
    pair_counts: dict[int, int],
    frequencies: list[int],
    is_scaffold: bytearray,
    components: tuple[int, int],
    protected: int,
    reactivate: bool,
    count_shift: int,
    item_shift: int,
    pair_flag: int,
    pair_mask: int,
    low_mask: int,
) -> int:
    """Scaffold-BPE's step after a merge: refresh the components' token items, then mark components rarer
    than the queue head. Returns how many tokens were marked.

    The head is read after the refreshed items and the changed pairs are in the queue (spec 12.1); stale
    entries met on the way are settled exactly as the main loop would settle them when popping.
    """
    left, right = components
    parts = (left,) if left == right else (left, right)
    if reactivate:
        for part in parts:
            frequency = frequencies[part]
            if is_scaffold[part] and frequency > 0:
                heapq.heappush(heap, ((_COUNT_CAP - frequency) << count_shift) | (part << item_shift))
    head = 0
    while heap:
        entry = heap[0]
        stored = _COUNT_CAP - (entry >> count_shift)
        if not entry & pair_flag:
            token = (entry >> item_shift) & pair_mask
            if is_scaffold[token] and stored == frequencies[token]:
                head = stored
                break
            heapq.heappop(heap)  # stale token item: a fresher one was pushed when the frequency changed
            continue
        count = pair_counts[(entry >> item_shift) & pair_mask]
        if count < 0:
            count += _U64
        if stored == count:
            head = count
            break
        heapq.heapreplace(heap, ((_COUNT_CAP - count) << count_shift) | (entry & low_mask))
    marked = 0
    for part in parts:
        if part >= protected and not is_scaffold[part] and frequencies[part] < head:
            is_scaffold[part] = 1
            marked += 1
            if reactivate and frequencies[part] > 0:
                heapq.heappush(heap, ((_COUNT_CAP - frequencies[part]) << count_shift) | (part << item_shift))
    return marked


def _check_inputs(
    words: Sequence[Sequence[int]] | FlatWords,
    counts: Sequence[int],
    keys: Sequence[Hashable],
    lengths: Sequence[int] | None,
    num_keys: int,
    min_frequency: int,
    max_token_length: int | None,
    max_merges: int | None,
) -> None:
    """Raise `ValueError` with the offending value when the inputs of `learn_merges` disagree."""
    if len(words) != len(counts):
        raise ValueError(
            f"got {len(words)} words but {len(counts)} counts; pass exactly one count per distinct word"
        )
    if len(set(keys)) != num_keys:
        raise ValueError(
            "keys contain duplicates; each initial symbol id needs a distinct key so that merged keys map "
            "back to one id (deduplicate the alphabet before numbering it)"
        )
    if lengths is not None and len(lengths) != num_keys:
        raise ValueError(f"got {len(lengths)} lengths for {num_keys} keys; pass one length per key")
    if counts and min(counts) < 1:
        raise ValueError(f"word counts must be positive, got {min(counts)}; drop words that never occur")
    if isinstance(words, FlatWords):
        lowest = int(words.symbols.min()) if len(words.symbols) else 0
        highest = int(words.symbols.max()) if len(words.symbols) else -1
    else:
        lowest = min(map(min, filter(None, words)), default=0)  # map/filter keep the scan in C
        highest = max(map(max, filter(None, words)), default=-1)
    if lowest < 0 or highest >= num_keys:
        bad = lowest if lowest < 0 else highest
        raise ValueError(f"symbol id {bad} is outside range({num_keys}); every id needs a key in `keys`")
    if min_frequency < 0:
        raise ValueError(f"min_frequency must be >= 0, got {min_frequency}")
    if max_token_length is not None and max_token_length < 1:
        raise ValueError(f"max_token_length must be >= 1 or None, got {max_token_length}")
    if max_merges is not None and max_merges < 0:
        raise ValueError(f"max_merges must be >= 0 or None, got {max_merges}")


def _count_initial_pairs(
    word_symbols: list[list[int]] | FlatWords,
    word_counts: list[int],
    num_keys: int,
    shift: int,
    unit_lengths: list[int],
    limit: int | None,
) -> tuple[dict[int, int], dict[int, Collection[int]], list[int]]:
    """Count every adjacent pair of the initial words (HF's ``count_pairs``) and every symbol.

    Returns the pair-count table, for each pair the indices of the words where it occurs, and the
    frequency of each initial symbol. With a ``limit``, pairs whose joined length is not below it are left
    out. Vectorised with numpy (one sort of all adjacent pairs) when the counts fit in int64 sums.
    """
    total_words = sum(word_counts)
    if total_words >= _NUMPY_SAFE_TOTAL:
        lists = list(word_symbols) if isinstance(word_symbols, FlatWords) else word_symbols
        return _count_initial_pairs_python(lists, word_counts, num_keys, shift, unit_lengths, limit)
    if isinstance(word_symbols, FlatWords):
        sizes, flat = word_symbols.sizes(), word_symbols.symbols.astype(np.int64)
    else:
        sizes = np.fromiter(map(len, word_symbols), dtype=np.int64, count=len(word_symbols))
        flat = np.fromiter(chain.from_iterable(word_symbols), dtype=np.int64, count=int(sizes.sum()))
    word_of = np.repeat(np.arange(len(word_symbols), dtype=np.int32), sizes)
    counts = np.asarray(word_counts, dtype=np.int64)
    totals = np.zeros(num_keys, dtype=np.int64)
    np.add.at(totals, flat, counts[word_of])  # exact integer sums (np.bincount would sum weights in float64)
    frequencies: list[int] = totals.tolist()
    starts = np.flatnonzero(word_of[:-1] == word_of[1:])  # positions whose right neighbour is in the same word
    pairs = (flat[starts] << shift) | flat[starts + 1]
    if limit is not None:
        lengths = np.asarray(unit_lengths, dtype=np.int64)
        keep = lengths[flat[starts]] + lengths[flat[starts + 1]] < limit
        starts, pairs = starts[keep], pairs[keep]
    del flat
    word_bits = max(len(word_symbols) - 1, 1).bit_length()
    if 2 * shift + word_bits <= 63:
        # One unstable sort of packed (pair, word) keys: word indices come out ascending within a pair, as from
        # a stable argsort of the pairs, about five times faster (0.16 s against 0.73 s for 3.7 million pairs).
        keys = np.sort((pairs << word_bits) | word_of[starts].astype(np.int64))
        pairs, owners = keys >> word_bits, (keys & ((1 << word_bits) - 1)).astype(np.int32)
        del keys
    else:
        order = np.argsort(pairs, kind="stable")  # stable: word indices stay ascending within a pair
        pairs, owners = pairs[order], word_of[starts[order]]
        del order
    del starts, word_of
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = pairs[1:] != pairs[:-1]
    group_starts = np.flatnonzero(first)
    sums = np.add.reduceat(counts[owners], group_starts) if len(pairs) else np.zeros(0, dtype=np.int64)
    unique_pairs = pairs[group_starts].tolist()
    pair_counts: dict[int, int] = defaultdict(int, zip(unique_pairs, sums.tolist()))
    # The word indices of each pair, as slices of one int32 array (repeats of a word inside a pair's run
    # dropped): sets of Python ints would cost about 60 bytes per entry, the array 4.
    keep = first
    keep[1:] |= owners[1:] != owners[:-1]
    owners, pairs = owners[keep], pairs[keep]
    cuts = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1], [True]))).tolist()
    pair_words: dict[int, Collection[int]] = {
        pair: owners[begin:end] for pair, begin, end in zip(unique_pairs, cuts, cuts[1:])
    }
    return pair_counts, pair_words, frequencies


def _count_initial_pairs_python(
    word_symbols: list[list[int]],
    word_counts: list[int],
    num_keys: int,
    shift: int,
    unit_lengths: list[int],
    limit: int | None,
) -> tuple[dict[int, int], dict[int, Collection[int]], list[int]]:
    """`_count_initial_pairs` in Python integers, for word counts too large for int64 sums."""
    pair_counts: dict[int, int] = defaultdict(int)
    pair_words: dict[int, set[int]] = {}
    frequencies = [0] * num_keys
    for index, symbols in enumerate(word_symbols):
        count = word_counts[index]
        for symbol in symbols:
            frequencies[symbol] += count
        if len(symbols) < 2:
            continue
        previous = symbols[0]
        for symbol in symbols[1:]:
            if limit is None or unit_lengths[previous] + unit_lengths[symbol] < limit:
                _gain(pair_counts, pair_words, (previous << shift) | symbol, count, index)
            previous = symbol
    words: dict[int, Collection[int]] = dict(pair_words)
    return pair_counts, words, frequencies


def _gain(pair_counts: dict[int, int], where: dict[int, set[int]], pair: int, count: int, index: int) -> None:
    """Add ``count`` occurrences of ``pair``, found in word ``index``, to the counts and the pair's word set."""
    pair_counts[pair] += count
    seen = where.get(pair)
    if seen is None:
        where[pair] = {index}
    else:
        seen.add(index)


def _merge_words(
    word_symbols: list[list[int]],
    word_counts: list[int],
    positions: Collection[int],
    left: int,
    right: int,
    merged: int,
    pair_counts: dict[int, int],
    shift: int,
    word_lengths: list[list[int]] | None = None,
    limit: int | None = None,
) -> tuple[dict[int, set[int]], int]:
    """Replace every non-overlapping ``left right`` by ``merged`` in the given words (HF's ``Word::merge``).

    Occurrences are taken left to right, so ``a a a`` with the pair ``(a, a)`` merges once. For each one,
    the neighbouring pairs lose the word's count and the pairs formed with ``merged`` gain it. The merged
    pair's own count is left as it is (HF does the same; see the module docstring). Under a length
    ``limit``, ``word_lengths`` (per-occurrence lengths, kept in step with the symbols) decide: a gained
    pair is counted only when its joined length is below ``limit``.

    Returns:
        For each pair that gained an occurrence, the word indices where it did (HF's ``where_to_update``),
        and the number of occurrences merged, weighted by word counts.
    """
    created: dict[int, set[int]] = {}
    merged_from = merged << shift  # (x << shift) | y with x fixed: the prefixes of the touched pairs
    right_from = right << shift
    same = left == right
    merged_count = 0
    bound = 0 if limit is None else limit
    for index in positions:
        symbols = word_symbols[index]
        remaining = symbols.count(left)
        if not remaining:
            continue  # stale position: an earlier merge already consumed the pair here
        count = word_counts[index]
        lengths = None if word_lengths is None else word_lengths[index]
        position = -1
        while remaining:
            position = symbols.index(left, position + 1)
            remaining -= 1
            if position + 1 >= len(symbols) or symbols[position + 1] != right:
                continue
            # The pair starts at `position`: replace it in place.
            merged_count += count
            merged_length = 0
            if lengths is not None:
                merged_length = lengths[position] + lengths[position + 1]
                lengths[position] = merged_length
                del lengths[position + 1]
            if position:
                before = symbols[position - 1] << shift
                pair_counts[before | left] -= count
                if lengths is None or lengths[position - 1] + merged_length < bound:
                    _gain(pair_counts, created, before | merged, count, index)
            symbols[position] = merged
            del symbols[position + 1]
            if same:
                remaining -= 1  # subtle: the right half was also an occurrence of `left`
            if position + 1 < len(symbols):
                after = symbols[position + 1]
                pair_counts[right_from | after] -= count
                if lengths is None or merged_length + lengths[position + 1] < bound:
                    _gain(pair_counts, created, merged_from | after, count, index)
    return created, merged_count
