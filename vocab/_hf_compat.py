"""Train BPE on pre-token counts exactly as HF ``tokenizers``' ``BpeTrainer`` does.

This module reproduces the parts of ``BpeTrainer::do_train`` (``tokenizers/src/models/bpe/trainer.rs``)
that run before and after the merge loop: how ids are given to special tokens and to the alphabet, how
words become symbol sequences, and how the merge list is stored. The merge loop itself is
`lexkit.vocab._merge_engine.learn_merges`. Everything here works on HF *surface strings*: for byte-level
BPE, each byte is the GPT-2 byte-to-unicode character, exactly as ``ByteLevel.pre_tokenize_str`` returns
it; for character-level BPE, plain characters.

Id order (HF's, and the tie-break order of the merge loop):
1. special tokens, in the given order, skipping repeats;
2. the alphabet: every character of the words plus the ``initial_alphabet`` characters, optionally cut
   to the ``limit_alphabet`` most frequent (initial-alphabet characters count as infinitely frequent),
   then sorted by code point. For byte-level BPE this is the order of the GPT-2 characters, not of the
   byte values (``!`` gets the first id after the specials, byte 0x00 maps to U+0100 and comes after
   every printable Latin-1 byte);
3. with ``continuing_subword_prefix`` / ``end_of_word_suffix``, the decorated variants of characters
   (``##a``, ``a</w>``), in order of first appearance while the words are read;
4. merge results, in merge order; a merged string that already exists keeps its id.

Where HF is not deterministic, lexkit picks one documented order: HF reads the words in hash-map order, so
the ids of decorated variants (step 3) change from run to run (observed with tokenizers 0.23.3); lexkit
reads them in the order of the ``word_counts`` mapping. HF's ``limit_alphabet`` drops equally frequent
characters in hash order (all initial-alphabet characters are equally frequent); lexkit drops the larger
code points first.

Stored merges: HF turns its merge list into a map from pair to (rank, id), so a pair merged twice keeps
only its last rank, and the saved ``merges`` list is that map sorted by rank. `train_bpe_like_hf` returns
the merges by the same rule.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from lexkit.vocab._merge_engine import FlatWords, LengthRule, MergeResult, ScaffoldRule, learn_merges

__all__ = ["HFBPEResult", "HFWords", "hf_alphabet", "hf_words", "learn_with_progress", "stored_merges",
           "train_bpe_like_hf"]


class HFBPEResult(NamedTuple):
    """What HF's ``BpeTrainer`` puts into the model of ``tokenizer.json``.

    Attributes:
        vocab: every token string in id order (``vocab[i]`` has id ``i``); specials included.
        merges: the stored merges as string pairs, in rank order, one per distinct pair.
    """

    vocab: list[str]
    merges: list[tuple[str, str]]


def hf_alphabet(
    word_counts: Mapping[str, int],
    *,
    initial_alphabet: Iterable[str] = (),
    limit_alphabet: int | None = None,
) -> list[str]:
    """The alphabet characters HF keeps, in id order (HF's ``compute_alphabet``).

    Args:
        word_counts: pre-token string -> count.
        initial_alphabet: characters always kept; like HF's Python binding, only the first character of
            each string is used.
        limit_alphabet: keep at most this many characters, the most frequent ones (the initial alphabet
            counts as infinitely frequent, so it can still be cut when it alone exceeds the limit).

    Returns:
        The kept characters sorted by code point.
    """
    initial = {text[0] for text in initial_alphabet if text}
    seen = set("".join(word_counts))
    if limit_alphabet is None or len(seen | initial) <= limit_alphabet:
        return sorted(seen | initial, key=ord)  # nothing is cut, so frequencies do not matter
    frequency: dict[str, float] = {}
    for word, count in word_counts.items():
        for char in word:
            frequency[char] = frequency.get(char, 0) + count
    for char in initial:
        frequency[char] = float("inf")
    # Most frequent first; among equals, the smaller code point (HF's order here is random).
    kept = sorted(frequency, key=lambda char: (-frequency[char], ord(char)))[:limit_alphabet]
    return sorted(kept, key=ord)


class HFWords(NamedTuple):
    """The symbol ids HF's ``BpeTrainer`` starts its merge loop from.

    Attributes:
        keys: every initial symbol string in id order: specials, the alphabet, then decorated variants.
        words: each distinct pre-token as symbol ids, in the order of ``word_counts`` (a `FlatWords`
            without a continuing-subword prefix or end-of-word suffix).
        counts: the count of each word.
        join: joins two symbol strings as HF does (dropping the right part's continuation prefix).
    """

    keys: list[str]
    words: Sequence[list[int]]
    counts: list[int]
    join: Callable[[str, str], str]


def hf_words(
    word_counts: Mapping[str, int],
    *,
    special_tokens: Sequence[str] = (),
    initial_alphabet: Iterable[str] = (),
    limit_alphabet: int | None = None,
    continuing_subword_prefix: str | None = None,
    end_of_word_suffix: str | None = None,
) -> HFWords:
    """Number the specials and the alphabet and turn each pre-token into symbol ids, exactly as HF does.

    Args:
        word_counts: pre-token surface string -> count.
        special_tokens: HF's ``special_tokens`` contents; they take the first ids.
        initial_alphabet: HF's ``initial_alphabet``.
        limit_alphabet: HF's ``limit_alphabet``.
        continuing_subword_prefix: HF's ``continuing_subword_prefix``.
        end_of_word_suffix: HF's ``end_of_word_suffix``.

    Returns:
        The initial keys, the words as ids, their counts and HF's join rule.
    """
    vocab: list[str] = []
    ids: dict[str, int] = {}

    def intern(text: str) -> int:
        token_id = ids.get(text)
        if token_id is None:
            token_id = ids[text] = len(vocab)
            vocab.append(text)
        return token_id

    for special in special_tokens:
        intern(special)
    for char in hf_alphabet(word_counts, initial_alphabet=initial_alphabet, limit_alphabet=limit_alphabet):
        intern(char)

    # subtle: HF tests the bare character (a special token with the same text counts as present), and skips
    # characters cut from the alphabet, which joins their neighbours.
    words: Sequence[list[int]]
    if continuing_subword_prefix is None and end_of_word_suffix is None:
        words = _flat_words(word_counts, ids)
    else:
        words = []
        for word in word_counts:
            symbols: list[int] = []
            last = len(word) - 1
            for position, char in enumerate(word):
                if char not in ids:
                    continue
                text = char
                if position and continuing_subword_prefix is not None:
                    text = continuing_subword_prefix + text
                if position == last and end_of_word_suffix is not None:
                    text = text + end_of_word_suffix
                symbols.append(intern(text))
            words.append(symbols)

    join: Callable[[str, str], str] = operator.add
    prefix = continuing_subword_prefix
    if prefix:

        def join(left: str, right: str) -> str:
            return left + (right[len(prefix) :] if right.startswith(prefix) else right)

    return HFWords(vocab, words, list(word_counts.values()), join)


def _flat_words(word_counts: Mapping[str, int], ids: Mapping[str, int]) -> FlatWords:
    """Every word's characters as ids, back to back, in one numpy pass over the joined words: each character
    becomes the id of the one-character key equal to it; characters without one (cut from the alphabet) are
    dropped, which joins their neighbours as in HF."""
    joined = "".join(word_counts)
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lookup = np.full(int(points.max()) + 1 if len(points) else 1, -1, dtype=np.int32)
    for text, token_id in ids.items():
        if len(text) == 1 and ord(text) < len(lookup):
            lookup[ord(text)] = token_id
    symbols = lookup[points]
    ends = np.cumsum(np.fromiter(map(len, word_counts), dtype=np.int64, count=len(word_counts)))
    offsets = np.concatenate(([0], ends))
    kept = symbols >= 0
    if not kept.all():
        offsets = np.concatenate(([0], np.cumsum(kept, dtype=np.int64)))[offsets]
        symbols = symbols[kept]
    return FlatWords(symbols, offsets)


def train_bpe_like_hf(
    word_counts: Mapping[str, int],
    *,
    vocab_size: int,
    min_frequency: int = 0,
    special_tokens: Sequence[str] = (),
    initial_alphabet: Iterable[str] = (),
    limit_alphabet: int | None = None,
    max_token_length: int | None = None,
    continuing_subword_prefix: str | None = None,
    end_of_word_suffix: str | None = None,
    progress: bool = False,
) -> HFBPEResult:
    """Train BPE on pre-token counts with HF ``BpeTrainer``'s settings and exact results.

    Args:
        word_counts: pre-token surface string -> count, e.g. counted from HF's
            ``pre_tokenizer.pre_tokenize_str`` over the corpus.
        vocab_size: HF's ``vocab_size``: specials + alphabet + merge results.
        min_frequency: HF's ``min_frequency``: stop when the best pair is rarer.
        special_tokens: HF's ``special_tokens`` contents; they take the first ids.
        initial_alphabet: HF's ``initial_alphabet``. Byte-level BPE with all 256 bytes passes HF's
            ``ByteLevel.alphabet()``, i.e. ``lexkit.formats.surface.bytes_to_unicode().values()``.
        limit_alphabet: HF's ``limit_alphabet``.
        max_token_length: HF's ``max_token_length``, with HF's exclusive semantics (see the engine).
        continuing_subword_prefix: HF's ``continuing_subword_prefix``: marks every non-initial character
            and is dropped from the right part when two symbols are joined.
        end_of_word_suffix: HF's ``end_of_word_suffix``: marks the last character of each word.
        progress: show a progress bar of the merges on stderr.

    Returns:
        The vocabulary in id order and the merges as HF stores them.

    Raises:
        ValueError: for a count below 1 or an invalid limit (from the engine).

    >>> result = train_bpe_like_hf({"ba": 1, "cd": 1, "ab": 1}, vocab_size=7)
    >>> result.vocab, result.merges
    (['a', 'b', 'c', 'd', 'ab', 'ba', 'cd'], [('a', 'b'), ('b', 'a'), ('c', 'd')])
    """
    prepared = hf_words(
        word_counts, special_tokens=special_tokens, initial_alphabet=initial_alphabet,
        limit_alphabet=limit_alphabet, continuing_subword_prefix=continuing_subword_prefix,
        end_of_word_suffix=end_of_word_suffix,
    )
    result = learn_with_progress(
        prepared, vocab_size=vocab_size, min_frequency=min_frequency, max_token_length=max_token_length,
        progress=progress,
    )
    keys = result.keys
    return HFBPEResult(
        vocab=list(keys),
        merges=[(keys[left], keys[right]) for left, right in stored_merges(result.merges)],
    )


def learn_with_progress(
    prepared: HFWords,
    *,
    vocab_size: int,
    min_frequency: int = 0,
    max_token_length: int | None = None,
    length_rule: LengthRule = "hf",
    scaffold: ScaffoldRule | None = None,
    progress: bool = False,
) -> MergeResult[str]:
    """Run the engine on `hf_words` output with HF's length rule, optionally with a progress bar.

    Args:
        prepared: the output of `hf_words`.
        vocab_size: the target size (non-scaffold ids with a ``scaffold`` rule).
        min_frequency: stop when the best pair is rarer.
        max_token_length: HF's ``max_token_length`` (exclusive, see the engine).
        length_rule: ``"hf"`` (HF's exclusive limit) or ``"inclusive"`` (at most ``max_token_length`` units).
        scaffold: Scaffold-BPE's rule, or None.
        progress: show a progress bar of the merges on stderr.

    Returns:
        The engine's full result.
    """
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max(vocab_size - len(prepared.keys), 0), desc="BPE merges", unit="merge")
    try:
        return learn_merges(
            prepared.words, prepared.counts, prepared.keys, vocab_size=vocab_size, join=prepared.join,
            min_frequency=min_frequency, max_token_length=max_token_length, length_rule=length_rule,
            scaffold=scaffold, on_merge=None if bar is None else lambda *_: bar.update(),
        )
    finally:
        if bar is not None:
            bar.close()


def stored_merges(merges: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """The merge list as HF stores it: each distinct pair once, at the rank of its last merge.

    HF's trainer collects ``(pair, (rank, id))`` into a hash map, so a later rank overwrites an earlier
    one; ``tokenizer.json`` lists the map sorted by rank.

    >>> stored_merges([(0, 1, 5), (2, 3, 6), (0, 1, 5)])
    [(2, 3), (0, 1)]
    """
    last_rank = {(left, right): rank for rank, (left, right, _) in enumerate(merges)}
    return sorted(last_rank, key=last_rank.__getitem__)
