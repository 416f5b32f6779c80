"""The shared merge engine: exact parity with HF ``BpeTrainer``, hand-computed goldens, limits and errors.

The HF comparisons count pre-tokens with HF's own ``pre_tokenize_str`` on the same items HF trains on, so
only the alphabet numbering and the merge loop are compared. Corpora: the standard library's top-level
modules (code) and ``pydoc_data.topics`` (English prose), which every CPython has, and the ScanCode licence
texts (``legal`` fixture) and the English mix (``corpus`` fixture), which ``make fixtures`` fetches.
"""

from __future__ import annotations

import json
import operator
import sysconfig
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from _resources import corpus_path, legal_licence_texts
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from lexkit.vocab._hf_compat import hf_alphabet, stored_merges, train_bpe_like_hf
from lexkit.vocab._merge_engine import learn_merges

BYTE_ALPHABET = pre_tokenizers.ByteLevel.alphabet()


# --- corpora -------------------------------------------------------------------------------------------


@cache
def corpus(name: str, size: int) -> tuple[str, ...]:
    """Training items (whole files or documentation topics) of one corpus, about ``size`` characters."""
    if name == "code":
        paths = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
        texts: Iterable[str] = (path.read_text(encoding="utf-8") for path in paths)
    elif name == "prose":
        from pydoc_data.topics import topics

        texts = (topics[key] for key in sorted(topics))
    elif name == "licenses":
        texts = (text for _, text in legal_licence_texts())
    else:
        texts = iter(corpus_path("corpus_10M.txt").read_text(encoding="utf-8").split("\n\n"))
    items: list[str] = []
    total = 0
    for text in texts:
        items.append(text)
        total += len(text)
        if total >= size:
            break
    return tuple(items)


@cache
def byte_level_counts(items: tuple[str, ...]) -> dict[str, int]:
    """Pre-token counts exactly as HF's trainer sees them (default ``ByteLevel`` pre-tokenizer)."""
    return pre_token_counts(items, pre_tokenizers.ByteLevel())


def pre_token_counts(items: Iterable[str], pre_tokenizer: Any) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for item in items:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(item))
    return dict(counts)


def hf_train(
    items: Sequence[str], pre_tokenizer: Any, **options: Any
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train HF's BPE; return the model's vocab (string -> id) and merges as saved in ``tokenizer.json``."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.train_from_iterator(items, trainers.BpeTrainer(show_progress=False, **options))
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], [tuple(pair) for pair in model["merges"]]


def assert_same_as_hf(
    items: Sequence[str], counts: dict[str, int], pre_tokenizer: Any, **options: Any
) -> tuple[list[str], list[tuple[str, str]]]:
    hf_vocab, hf_merges = hf_train(items, pre_tokenizer, **options)
    vocab, merges = train_bpe_like_hf(counts, **options)
    assert len(merges) == len(hf_merges)
    for rank, (ours, theirs) in enumerate(zip(merges, hf_merges)):
        assert ours == theirs, f"first difference at rank {rank}: lexkit {ours}, HF {theirs}"
    assert {token: token_id for token_id, token in enumerate(vocab)} == hf_vocab
    return vocab, merges


# --- hand-computed goldens ----------------------------------------------------------------------------


def test_hand_computed_golden() -> None:
    """Sennrich et al.'s example corpus, worked by hand (ties go to the smaller id pair).

    ids: d0 e1 i2 l3 n4 o5 r6 s7 t8 w9. Counts: es 9 = st 9 -> (e,s) wins on ids; then est 9; lo 7 = ow 7
    -> lo; low 7; then ew = ne = w+est = 6 -> (e,w); new; newest; then d+est = i+d = w+i = 3 -> (d,est);
    idest; widest; finally er 2 = low+e 2 -> (e,r); lower.
    """
    alphabet = list("deilnorstw")
    index = {char: token_id for token_id, char in enumerate(alphabet)}
    words = {"low": 5, "lower": 2, "newest": 6, "widest": 3}
    result = learn_merges(
        [[index[c] for c in word] for word in words], list(words.values()), alphabet, vocab_size=100
    )
    assert [result.keys[merged] for _, _, merged in result.merges] == [
        "es", "est", "lo", "low", "ew", "new", "newest", "dest", "idest", "widest", "er", "lower",
    ]
    assert result.merges[:4] == [(1, 7, 10), (10, 8, 11), (3, 5, 12), (12, 9, 13)]
    assert result.stop_reason == "exhausted"
    assert result.lengths[10:] == [2, 3, 2, 3, 2, 3, 6, 4, 5, 6, 2, 5]


def test_hand_computed_golden_matches_hf() -> None:
    items = ["low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3]
    pre = pre_tokenizers.WhitespaceSplit()
    vocab, merges = assert_same_as_hf(items, pre_token_counts(items, pre), pre, vocab_size=100)
    assert merges[:4] == [("e", "s"), ("es", "t"), ("l", "o"), ("lo", "w")]


def test_ties_follow_id_order() -> None:
    """``ba cd ab``: three pairs of count 1, merged in id order (spec: HF gives ab, ba, cd)."""
    items = ["ba cd ab"]
    pre = pre_tokenizers.WhitespaceSplit()
    _, merges = assert_same_as_hf(items, pre_token_counts(items, pre), pre, vocab_size=100)
    assert merges == [("a", "b"), ("b", "a"), ("c", "d")]


def test_byte_level_ids_follow_gpt2_characters() -> None:
    """HF numbers the byte alphabet by the code point of each byte's GPT-2 character, specials first."""
    alphabet = hf_alphabet({}, initial_alphabet=BYTE_ALPHABET)
    assert len(alphabet) == 256
    assert alphabet[0] == "!" and alphabet[-1] == "Ń"  # 0x21 first; byte 0xAD (remapped last, U+0143) last
    assert alphabet.index("Ā") == 188  # byte 0x00 -> U+0100 comes after the 188 printable Latin-1 bytes
    vocab, _ = train_bpe_like_hf({}, vocab_size=300, special_tokens=["<s>"], initial_alphabet=BYTE_ALPHABET)
    assert vocab[:2] == ["<s>", "!"] and vocab.index("Ā") == 189 and vocab.index("Ġ") == 221


# --- HF parity on real text ------------------------------------------------------------------------------

SMALL = 400_000
LARGE = 3_000_000


@pytest.mark.parametrize("name", ["code", "prose", "licenses"])
@pytest.mark.parametrize("vocab_size", [300, 1000, 5000])
@pytest.mark.parametrize("min_frequency", [0, 5])
def test_matches_hf_byte_level(name: str, vocab_size: int, min_frequency: int) -> None:
    items = corpus(name, SMALL)
    assert_same_as_hf(
        items, byte_level_counts(items), pre_tokenizers.ByteLevel(), vocab_size=vocab_size,
        min_frequency=min_frequency, special_tokens=["<s>", "<pad>"], initial_alphabet=BYTE_ALPHABET,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["code", "prose", "english"])
@pytest.mark.parametrize("min_frequency", [0, 5])
def test_matches_hf_byte_level_20k(name: str, min_frequency: int) -> None:
    """20,000 tokens; the prose corpus (~0.5 MB) runs out of pairs first, which HF's stop must match too."""
    items = corpus(name, LARGE)
    if sum(map(len, items)) < LARGE:
        assert name == "prose", f"corpus {name!r} is unexpectedly small on this machine"
    vocab, _ = assert_same_as_hf(
        items, byte_level_counts(items), pre_tokenizers.ByteLevel(), vocab_size=20_000,
        min_frequency=min_frequency, special_tokens=["<|endoftext|>"], initial_alphabet=BYTE_ALPHABET,
    )
    if min_frequency == 0 and name != "prose":
        assert len(vocab) == 20_000


@pytest.mark.parametrize("name", ["code", "prose"])
@pytest.mark.parametrize("max_token_length", [2, 3, 4, 5, 8])
def test_matches_hf_max_token_length(name: str, max_token_length: int) -> None:
    items = corpus(name, SMALL)
    vocab, _ = assert_same_as_hf(
        items, byte_level_counts(items), pre_tokenizers.ByteLevel(), vocab_size=5_000,
        max_token_length=max_token_length, initial_alphabet=BYTE_ALPHABET,
    )
    # HF's limit is exclusive: merged tokens stay below it, except initial two-character pairs.
    assert max(len(token) for token in vocab) == max(max_token_length - 1, 2)


def test_matches_hf_without_initial_alphabet_and_with_limit() -> None:
    """Alphabet from the data only, cut to the most frequent characters (skipped ones join neighbours)."""
    items = corpus("prose", SMALL)
    counts = byte_level_counts(items)
    frequency = Counter()
    for word, count in counts.items():
        for char in word:
            frequency[char] += count
    # Choose a limit that cuts between two different frequencies: HF breaks ties in hash order.
    ranked = sorted(frequency.values(), reverse=True)
    limit = next(k for k in range(40, len(ranked)) if ranked[k - 1] != ranked[k])
    assert_same_as_hf(items, counts, pre_tokenizers.ByteLevel(), vocab_size=2_000, limit_alphabet=limit)


def test_special_token_reused_by_a_merge() -> None:
    """A merge whose string is already a special token reuses the special's id, as in HF."""
    items = ["ab ab abc ab xab\n"] * 3
    pre = pre_tokenizers.ByteLevel()
    vocab, merges = assert_same_as_hf(
        items, pre_token_counts(items, pre), pre, vocab_size=300, special_tokens=["<s>", "Ġab", "ab"],
        initial_alphabet=BYTE_ALPHABET,
    )
    assert ("a", "b") in merges and ("Ġ", "ab") in merges
    assert vocab.index("Ġab") == 1 and vocab.index("ab") == 2  # the special ids, not new ones
    assert len(vocab) == 3 + 256 + len(merges) - 2


# --- duplicate merge results --------------------------------------------------------------------------


def test_duplicate_result_golden() -> None:
    """The same string from two different pairs keeps one id and records both merges (HF does this).

    With ``continuing_subword_prefix="##"``, the word ``###a`` is ``# ### ### ##a``: ``#`` + ``###`` gives
    ``##``, ``###`` + ``##a`` gives ``###a``, and then ``##`` + ``###a`` (prefix stripped from the right
    part) gives ``###a`` again.
    """
    items = ["###a"]
    pre = pre_tokenizers.WhitespaceSplit()
    vocab, merges = assert_same_as_hf(
        items, pre_token_counts(items, pre), pre, vocab_size=100, continuing_subword_prefix="##"
    )
    assert vocab == ["#", "a", "###", "##a", "##", "###a"]
    assert merges == [("#", "###"), ("###", "##a"), ("##", "###a")]


def test_engine_reuses_existing_key_ids() -> None:
    """``b+c`` then ``a+bc`` make ``abc``; the initial symbol ``ab`` + ``c`` then reuses that id.

    Counts: (b,c) = 5 + 1 = 6 beats (a,b) = 5 and (ab,c) = 2; then (a,bc) = 5; then (ab,c) = 2.
    """
    keys = ["a", "b", "c", "ab"]
    result = learn_merges([[0, 1, 2], [3, 2], [1, 2]], [5, 2, 1], keys, vocab_size=10)
    assert result.merges == [(1, 2, 4), (0, 4, 5), (3, 2, 5)]
    assert result.keys == ["a", "b", "c", "ab", "bc", "abc"]
    assert result.stop_reason == "exhausted"


@given(
    word=st.text(alphabet="ab#", min_size=1, max_size=10),
    copies=st.integers(1, 3),
    prefix=st.sampled_from([None, "##", "#"]),
    suffix=st.sampled_from([None, "#", "</w>"]),
    vocab_size=st.integers(1, 40),
    max_token_length=st.one_of(st.none(), st.integers(1, 6)),
)
def test_matches_hf_with_prefix_and_suffix(
    word: str, copies: int, prefix: str | None, suffix: str | None, vocab_size: int,
    max_token_length: int | None,
) -> None:
    """Decorated characters (``##a``, ``a</w>``) and the duplicates they cause, on one distinct word.

    With several distinct words HF numbers decorated characters in hash-map order (different in every
    process), so only a single distinct word gives HF a deterministic id order to compare with.
    """
    items = [word] * copies
    pre = pre_tokenizers.WhitespaceSplit()
    options: dict[str, Any] = {"vocab_size": vocab_size, "max_token_length": max_token_length}
    if prefix is not None:
        options["continuing_subword_prefix"] = prefix
    if suffix is not None:
        options["end_of_word_suffix"] = suffix
    assert_same_as_hf(items, pre_token_counts(items, pre), pre, **options)


# --- ties galore: small random corpora ----------------------------------------------------------------


@given(
    lines=st.lists(st.text(alphabet="ab c\n", max_size=16), min_size=1, max_size=8),
    extra=st.integers(0, 40),
    min_frequency=st.integers(0, 3),
    max_token_length=st.one_of(st.none(), st.integers(1, 6)),
    specials=st.lists(st.sampled_from(["<s>", "ab", "Ġa", "b", "Ġ"]), unique=True, max_size=3),
    full_alphabet=st.booleans(),
)
def test_matches_hf_on_small_random_corpora(
    lines: list[str], extra: int, min_frequency: int, max_token_length: int | None,
    specials: list[str], full_alphabet: bool,
) -> None:
    pre = pre_tokenizers.ByteLevel()
    counts = pre_token_counts(lines, pre)
    options: dict[str, Any] = {
        "vocab_size": (256 if full_alphabet else 5) + len(specials) + extra,
        "min_frequency": min_frequency, "special_tokens": specials, "max_token_length": max_token_length,
    }
    if full_alphabet:
        options["initial_alphabet"] = BYTE_ALPHABET
    assert_same_as_hf(lines, counts, pre, **options)


# --- the engine on its own: reference oracle, limits, stops, errors -----------------------------------


def reference_merges(
    words: Sequence[Sequence[int]], counts: Sequence[int], keys: Sequence[str], *, vocab_size: int,
    min_frequency: int = 0, max_token_length: int | None = None,
) -> list[tuple[int, int, int]]:
    """Textbook BPE: recount every pair after every merge; ties to the smaller id pair; inclusive limit."""
    symbols = [list(word) for word in words]
    names = list(keys)
    ids = {key: token_id for token_id, key in enumerate(names)}
    merges: list[tuple[int, int, int]] = []
    while len(names) < vocab_size:
        pair_counts: Counter[tuple[int, int]] = Counter()
        for word, count in zip(symbols, counts):
            for pair in zip(word, word[1:]):
                if max_token_length is None or len(names[pair[0]] + names[pair[1]]) <= max_token_length:
                    pair_counts[pair] += count
        if not pair_counts:
            break
        (left, right), best = min(pair_counts.items(), key=lambda item: (-item[1], item[0]))
        if best < max(min_frequency, 1):
            break
        merged = ids.setdefault(names[left] + names[right], len(names))
        if merged == len(names):
            names.append(names[left] + names[right])
        merges.append((left, right, merged))
        for word in symbols:
            position = 0
            while position < len(word) - 1:
                if word[position] == left and word[position + 1] == right:
                    word[position : position + 2] = [merged]
                position += 1
    return merges


@given(
    words=st.lists(st.lists(st.integers(0, 3), max_size=12), min_size=1, max_size=10),
    data=st.data(),
    vocab_size=st.integers(4, 60),
    min_frequency=st.integers(0, 4),
    max_token_length=st.one_of(st.none(), st.integers(1, 7)),
)
def test_engine_matches_reference(
    words: list[list[int]], data: st.DataObject, vocab_size: int, min_frequency: int,
    max_token_length: int | None,
) -> None:
    counts = data.draw(st.lists(st.integers(1, 9), min_size=len(words), max_size=len(words)))
    keys = ["a", "b", "c", "d"]
    result = learn_merges(
        words, counts, keys, vocab_size=vocab_size, min_frequency=min_frequency,
        max_token_length=max_token_length,
    )
    assert result.merges == reference_merges(
        words, counts, keys, vocab_size=vocab_size, min_frequency=min_frequency,
        max_token_length=max_token_length,
    )
    if max_token_length is not None:
        assert max(result.lengths) <= max(max_token_length, 1)


@pytest.mark.parametrize(
    ("limit", "inclusive", "hf"),
    [(1, 1, 2), (2, 2, 2), (3, 2, 2), (4, 4, 2), (5, 4, 4), (6, 4, 4), (8, 8, 4), (9, 8, 8)],
)
def test_inclusive_and_hf_length_rules(limit: int, inclusive: int, hf: int) -> None:
    """16 ``a``: merges double the length. Inclusive: longest <= limit. HF: merged pairs < limit, and the
    initial pair ``aa`` always allowed (the spec's observation: HF limits 2-4 give 2, 5-6 give 4)."""
    word = [[0] * 16]
    result = learn_merges(word, [1], ["a"], vocab_size=100, max_token_length=limit)
    assert max(result.lengths) == inclusive
    result = learn_merges(word, [1], ["a"], vocab_size=100, max_token_length=limit, length_rule="hf")
    assert max(result.lengths) == hf


def test_non_string_keys_and_lengths() -> None:
    """Any hashable key works with a matching ``join``: here tuples of codebook units with lengths."""
    keys = [(7,), (9,), (7, 7)]
    result = learn_merges(
        [[0, 1, 0, 1], [2, 1]], [3, 1], keys, vocab_size=10, lengths=[1, 1, 2], join=operator.add
    )
    assert result.keys[3] == (7, 9) and result.lengths[3] == 2
    assert result.merges[0] == (0, 1, 3)


def test_stops() -> None:
    words, counts, keys = [[0, 1, 0, 1, 2]], [4], ["a", "b", "c"]
    assert learn_merges(words, counts, keys, vocab_size=4).stop_reason == "vocab_size"
    assert learn_merges(words, counts, keys, vocab_size=50, max_merges=1).merges == [(0, 1, 3)]
    assert learn_merges(words, counts, keys, vocab_size=50, max_merges=1).stop_reason == "max_merges"
    assert learn_merges(words, counts, keys, vocab_size=50, min_frequency=9).stop_reason == "min_frequency"
    assert learn_merges(words, counts, keys, vocab_size=50).stop_reason == "exhausted"
    assert learn_merges(words, counts, keys, vocab_size=2).merges == []  # already above the target


def test_on_merge_sees_every_merge_with_its_count() -> None:
    seen: list[tuple[int, int, int, int]] = []
    result = learn_merges(
        [[0, 1, 0, 1, 2]], [4], ["a", "b", "c"], vocab_size=50, on_merge=lambda *args: seen.append(args)
    )
    assert [step[:3] for step in seen] == result.merges
    assert seen[0][3] == 8


def test_stored_merges_keep_the_last_rank() -> None:
    assert stored_merges([(0, 1, 5), (2, 3, 6), (0, 1, 5), (4, 4, 7)]) == [(2, 3), (0, 1), (4, 4)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (([[0, 1]], [1, 2], ["a", "b"]), "one count per distinct word"),
        (([[0, 1]], [1], ["a", "a"]), "distinct key"),
        (([[0, 2]], [1], ["a", "b"]), "symbol id 2 is outside range"),
        (([[0, 1]], [0], ["a", "b"]), "must be positive"),
    ],
)
def test_errors_name_the_problem(arguments: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        learn_merges(*arguments, vocab_size=10)


def test_error_for_bad_limits() -> None:
    with pytest.raises(ValueError, match="max_token_length"):
        learn_merges([[0, 1]], [1], ["a", "b"], vocab_size=10, max_token_length=0)
    with pytest.raises(ValueError, match="lengths"):
        learn_merges([[0, 1]], [1], ["a", "b"], vocab_size=10, lengths=[1])
