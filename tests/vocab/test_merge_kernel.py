"""The compiled merge kernel (``vocab/_merge_kernel.c``) against its Python reference in ``_merge_engine``.

Two levels: the kernel's word edit (``merge_store``) on random words, counts and pair tables (every output
and every mutated structure compared), and whole `learn_merges` runs on a real corpus slice and on random
inputs with the kernel and with the reference forced.
"""

from __future__ import annotations

import copy
from array import array
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from _resources import corpus_path
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import pre_tokenizers

from lexkit.vocab import _merge_engine
from lexkit.vocab._hf_compat import HFWords, hf_words
from lexkit.vocab._merge_engine import MergeResult, ScaffoldRule, learn_merges

kernel = _merge_engine._kernel

def test_kernel_is_built() -> None:
    assert kernel is not None, (
        "lexkit.vocab._merge_kernel is missing: the C extension was not built (no C compiler at install "
        "time?); reinstall with `pip install .` on a machine with gcc and the Python headers"
    )


@st.composite
def merge_state(draw: st.DrawFn) -> dict[str, Any]:
    """Words, counts, a pre-filled pair table and a few merges to apply in a row (counts that fit the
    int64 table, as the engine guarantees before using the kernel)."""
    alphabet = draw(st.integers(1, 5))
    shift = draw(st.sampled_from([3, 16, 31]))
    symbol = st.integers(0, alphabet - 1)
    words = draw(st.lists(st.lists(symbol, max_size=12), min_size=1, max_size=8))
    counts = draw(st.lists(st.integers(1, 2**40), min_size=len(words), max_size=len(words)))
    # Pairs over the alphabet and the new id `alphabet`, packed as the engine packs them.
    any_id = st.integers(0, alphabet)
    table = draw(st.dictionaries(st.tuples(any_id, any_id), st.integers(-(2**50), 2**50), max_size=12))
    pair_counts = defaultdict(int, {(x << shift) | y: count for (x, y), count in table.items()})
    index = st.integers(0, len(words) - 1)
    # Positions as the engine passes them: a list (initial entries) or a set (created entries); some
    # indices are stale (the word lacks the pair) and lists may repeat an index.
    positions = st.one_of(st.lists(index, max_size=10), st.sets(index, max_size=8))
    # `merged`: a fresh id, or a reused one (including left or right themselves).
    steps = draw(st.lists(st.tuples(any_id, any_id, any_id, positions), min_size=1, max_size=3))
    return {"words": words, "counts": counts, "pair_counts": pair_counts, "shift": shift, "steps": steps}


def run_steps(state: dict[str, Any]) -> list[Any]:
    """Apply every step of ``state`` (a deep copy) with the reference's `_merge_words`; a snapshot after
    each step (pair counts sorted: the kernel's table has no insertion order, and the engine never
    iterates the pair counts)."""
    state = copy.deepcopy(state)
    words, counts, pair_counts, shift = state["words"], state["counts"], state["pair_counts"], state["shift"]
    lengths = state.get("lengths")
    snapshots = []
    for left, right, merged, positions in state["steps"]:
        created, merged_count = _merge_engine._merge_words(
            words, counts, positions, left, right, merged, pair_counts, shift, lengths, state.get("limit")
        )
        assert type(created) is dict and all(type(found) is set for found in created.values())
        snapshots.append((
            [(pair, sorted(found)) for pair, found in created.items()],
            merged_count,
            copy.deepcopy(words),
            copy.deepcopy(lengths),
            sorted(pair_counts.items()),
            counts,
        ))
    return snapshots


def test_overlapping_pair_merges_once_per_two() -> None:
    """``a a a`` with ``(a, a)``: one merge, then ``aa a``; ``a a a a`` gives two (reference and kernel)."""
    words = [[0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0, 1]]
    expected_created = {(2 << 3) | 0: {0, 1, 2}, (2 << 3) | 2: {1}, (1 << 3) | 2: {2}}
    pair_counts: defaultdict[int, int] = defaultdict(int)
    created, merged_count = _merge_engine._merge_words(words, [1, 10, 100], [0, 1, 2], 0, 0, 2, pair_counts, 3)
    assert words == [[2, 0], [2, 2], [1, 2, 0, 1]]
    assert merged_count == 1 + 2 * 10 + 100
    assert created == expected_created
    store = kernel.WordStore([[0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0, 1]], [1, 10, 100], None)
    found, merged_count = kernel.merge_store(store, [0, 1, 2], 0, 0, 2, kernel.PairCounts(), 3, None)
    assert store.words() == [[2, 0], [2, 2], [1, 2, 0, 1]]
    assert merged_count == 1 + 2 * 10 + 100
    assert {pair: set(array("i", bytes(indices))) for pair, indices in found.items()} == expected_created


def run_store_steps(state: dict[str, Any], *, buffers: bool = False) -> list[Any]:
    """`run_steps` through the kernel's WordStore + PairCounts path (the engine's path for int64 counts).

    ``created`` comes back as bytearrays of native int32 word indices; the snapshot decodes them. With
    ``buffers`` the positions go in as an int32 array, as the engine's initial entries do.
    """
    state = copy.deepcopy(state)
    lengths = state.get("lengths")
    store = kernel.WordStore(state["words"], state["counts"], lengths)
    pair_counts = kernel.PairCounts(state["pair_counts"])
    snapshots = []
    for left, right, merged, positions in state["steps"]:
        if buffers:
            positions = np.asarray(list(positions), dtype=np.int32)
        created, merged_count = kernel.merge_store(
            store, positions, left, right, merged, pair_counts, state["shift"], state.get("limit")
        )
        assert type(created) is dict and all(type(found) is bytearray for found in created.values())
        decoded = [(pair, array("i", bytes(found)).tolist()) for pair, found in created.items()]
        assert all(len(found) == len(set(found)) for _, found in decoded)  # each index once, like a set
        snapshots.append((
            [(pair, sorted(found)) for pair, found in decoded],
            merged_count,
            store.words(),
            store.lengths(),
            pair_counts.items(),
            state["counts"],
        ))
    return snapshots


def store_expected(state: dict[str, Any]) -> list[Any]:
    """The reference's snapshots in the form `run_store_steps` gives."""
    return run_steps(state)


@given(state=merge_state(), limited=st.booleans(), buffers=st.booleans(),
       data=st.data())
def test_word_store_matches_python(state: dict[str, Any], limited: bool, buffers: bool,
                                   data: st.DataObject) -> None:
    """Words in int32 arrays, counts in the int64 table: the same edits, created sets and counts."""
    # subtle: the engine never repeats a word index within one entry (initial entries and created sets are
    # duplicate-free); with a repeat, `created` could list an index twice where the Python set has it once.
    state["steps"] = [(left, right, merged, list(dict.fromkeys(positions)))
                      for left, right, merged, positions in state["steps"]]
    if limited:
        lengths = st.one_of(st.integers(1, 4), st.just(2**58))  # 12 of them stay below 2**62
        state["lengths"] = [data.draw(st.lists(lengths, min_size=len(word), max_size=len(word)))
                            for word in state["words"]]
        state["limit"] = data.draw(st.one_of(st.integers(1, 12), st.just(2**64 + 3)))
    assert run_store_steps(state, buffers=buffers) == store_expected(state)


def test_word_store_refuses_values_it_cannot_hold() -> None:
    with pytest.raises(OverflowError):
        kernel.WordStore([[0, 1]], [2**63], None)
    with pytest.raises(OverflowError):
        kernel.WordStore([[0, 2**31]], [1], None)
    with pytest.raises(OverflowError):  # merged lengths are sums within a word: each sum stays below 2**62
        kernel.WordStore([[0, 1]], [1], [[2**61, 2**61]])
    with pytest.raises(ValueError):
        kernel.WordStore([[0, 1]], [1, 2], None)
    store = kernel.WordStore([[0, 1, 0, 1]], [3], None)
    with pytest.raises(ValueError, match="limit"):
        kernel.merge_store(store, [0], 0, 1, 2, kernel.PairCounts(), 3, 5)
    with pytest.raises(IndexError):
        kernel.merge_store(store, [1], 0, 1, 2, kernel.PairCounts(), 3, None)
    created = {(2 << 3) | 0: {0}, (2 << 3) | 2: {0}}  # "2 0 1" after the first merge, then "2 2"
    found, merged_count = kernel.merge_store(store, bytearray(array("i", [0]).tobytes()), 0, 1, 2,
                                             kernel.PairCounts(), 3, None)
    assert {pair: set(array("i", bytes(found))) for pair, found in found.items()} == created
    assert merged_count == 6
    assert store.words() == [[2, 2]] and store.lengths() is None


def test_pair_counts_table() -> None:
    table = kernel.PairCounts({5: 3, 7: -2})
    assert (table[5], table[7], table[6], len(table)) == (3, -2, 0, 2)  # a missing pair reads 0 ...
    assert len(table) == 2  # ... and is not inserted
    table[6] = 2**63 - 1
    for pair in range(100, 50_000, 7):  # growth keeps every entry
        table[pair] = pair * 3
    assert all(table[pair] == pair * 3 for pair in range(100, 50_000, 7))
    assert table.items()[:3] == [(5, 3), (6, 2**63 - 1), (7, -2)]
    with pytest.raises(OverflowError):  # the kernel's arithmetic is checked, never wraps
        kernel.merge_store(kernel.WordStore([[1, 0, 1]], [1], None), [0], 0, 1, 2,
                           kernel.PairCounts({(1 << 3) | 2: 2**63 - 1}), 3, None)
    with pytest.raises(OverflowError):
        kernel.merge_store(kernel.WordStore([[0, 1, 0, 1]], [2**62], None), [0], 0, 1, 2, kernel.PairCounts(), 3,
                           None)
    with pytest.raises(OverflowError):
        table[1] = 2**63
    with pytest.raises(KeyError):
        table[-1]
    with pytest.raises(TypeError):
        del table[5]


def test_bad_arguments_are_refused() -> None:
    store = kernel.WordStore([[0, 1]], [1], None)
    with pytest.raises(ValueError, match="shift"):
        kernel.merge_store(store, [0], 0, 1, 2, kernel.PairCounts(), 32, None)
    with pytest.raises(ValueError, match="range"):
        kernel.merge_store(store, [0], 0, 9, 2, kernel.PairCounts(), 3, None)
    with pytest.raises(IndexError):
        kernel.merge_store(store, [5], 0, 1, 2, kernel.PairCounts(), 3, None)
    with pytest.raises(TypeError):
        kernel.merge_store(store, [0], 0, 1, 2, kernel.PairCounts(), 3)


# --- whole runs -----------------------------------------------------------------------------------------


def prepared_corpus(size: int) -> HFWords:
    """Byte-level pre-tokens of the first ``size`` characters of the English corpus fixture, HF numbering."""
    text = corpus_path("corpus_10M.txt").read_text(encoding="utf-8")[:size]
    counts: dict[str, int] = defaultdict(int)
    for word, _ in pre_tokenizers.ByteLevel().pre_tokenize_str(text):
        counts[word] += 1
    return hf_words(counts, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())


@pytest.fixture(scope="module")
def prepared() -> HFWords:
    return prepared_corpus(400_000)


def both_kernels(monkeypatch: pytest.MonkeyPatch, run: Any) -> tuple[MergeResult[Any], MergeResult[Any]]:
    compiled = run()
    with monkeypatch.context() as patch:
        patch.setattr(_merge_engine, "_kernel", None)
        python = run()
    return compiled, python


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"min_frequency": 2},
        {"min_frequency": 40},
        {"max_merges": 1500},
        {"max_token_length": 4, "length_rule": "hf"},
        {"max_token_length": 3, "length_rule": "inclusive"},
        {"scaffold": "rule"},
        {"scaffold": "rule", "max_token_length": 5, "length_rule": "hf"},
        {"scaffold": "one-way"},
    ],
    ids=["plain", "min-frequency", "min-frequency-stop", "max-merges", "limit-hf", "limit-inclusive",
         "scaffold", "scaffold-limit", "scaffold-one-way"],
)
def test_learn_merges_identical_with_and_without_kernel(
    prepared: HFWords, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    options = dict(options)
    if options.get("scaffold") in ("rule", "one-way"):
        reactivate = options["scaffold"] == "rule"
        options["scaffold"] = ScaffoldRule(protected=len(prepared.keys), reactivate=reactivate)

    def run() -> MergeResult[Any]:
        return learn_merges(
            prepared.words, prepared.counts, prepared.keys, vocab_size=3000, join=prepared.join, **options
        )

    compiled, python = both_kernels(monkeypatch, run)
    assert len(compiled.merges) >= 1500 or compiled.stop_reason == "min_frequency"
    assert compiled == python


def test_special_keys_give_occurrences_of_several_lengths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-unit initial key rebuilt by merges: the case where HF's length rule drives counts negative."""
    keys = ["a", "b", "ab", "aba"]
    words = [[0, 1, 0, 1, 0], [2, 0, 1, 0], [3, 2, 1, 0, 1], [0, 1, 0, 2, 0, 1]] * 3
    counts = [5, 3, 2, 7] * 3

    def run() -> MergeResult[Any]:
        return learn_merges(
            words, counts, keys, vocab_size=40, lengths=[1, 1, 2, 3], max_token_length=3, length_rule="hf"
        )

    compiled, python = both_kernels(monkeypatch, run)
    assert compiled == python


@given(
    words=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=10), min_size=1, max_size=8),
    data=st.data(),
    limit=st.one_of(st.none(), st.integers(1, 6)),
    rule=st.sampled_from(["hf", "inclusive"]),
    scaffold=st.booleans(),
)
def test_random_runs_identical(words: list[list[int]], data: st.DataObject, limit: int | None, rule: str,
                               scaffold: bool) -> None:
    """Every stop rule, callback and length rule, with and without Scaffold-BPE, small and huge counts
    (huge ones run the reference loop, small ones the C loop)."""
    counts = data.draw(st.lists(st.one_of(st.integers(1, 9), st.just(2**64 + 1)), min_size=len(words),
                                max_size=len(words)))
    lengths = data.draw(st.lists(st.integers(1, 3), min_size=4, max_size=4))
    options: dict[str, Any] = {
        "vocab_size": data.draw(st.integers(3, 30)), "lengths": lengths, "max_token_length": limit,
        "length_rule": rule,
        "scaffold": ScaffoldRule(protected=4, reactivate=data.draw(st.booleans())) if scaffold else None,
        "min_frequency": data.draw(st.sampled_from([0, 1, 2, 5, 2**70])),
        "max_merges": data.draw(st.sampled_from([None, 0, 1, 3, 2**70])),
    }
    keys = ["a", "b", "c", "d"]
    compiled_calls: list[tuple[int, ...]] = []
    compiled = learn_merges(words, counts, keys, on_merge=lambda *a: compiled_calls.append(a), **options)
    saved = _merge_engine._kernel
    _merge_engine._kernel = None
    python_calls: list[tuple[int, ...]] = []
    try:
        python = learn_merges(words, counts, keys, on_merge=lambda *a: python_calls.append(a), **options)
    finally:
        _merge_engine._kernel = saved
    assert compiled == python
    assert compiled_calls == python_calls


def test_compiled_loop_propagates_callback_errors() -> None:
    def fail(*_: int) -> None:
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        learn_merges([[0, 1, 0, 1]], [2], ["a", "b"], vocab_size=10, on_merge=fail)
    with pytest.raises(TypeError):  # join's own error
        learn_merges([[0, 1, 0, 1]], [2], ["a", "b"], vocab_size=10, join=lambda a, b: [a, b])


def test_long_unit_lengths_keep_the_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lengths whose sums could pass 2**62 make the engine run the reference loop, same result."""
    words, counts = [[0, 1, 2, 0, 1], [1, 2, 1, 2]], [3, 2]

    def run() -> MergeResult[Any]:
        return learn_merges(words, counts, ["a", "b", "c"], vocab_size=20, lengths=[2**61, 1, 2**61],
                            max_token_length=2**63)

    compiled, python = both_kernels(monkeypatch, run)
    assert compiled == python and len(compiled.merges) == 5


def test_huge_id_space_uses_the_python_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pairs that do not fit in int64 (vocab_size >= 2**31) fall back to the reference loop, same result."""
    words, counts = [[0, 1, 2, 0, 1], [1, 2, 1, 2]], [3, 2 ** 70]

    def run() -> MergeResult[Any]:
        return learn_merges(words, counts, ["a", "b", "c"], vocab_size=2**40)

    compiled, python = both_kernels(monkeypatch, run)
    assert compiled == python and compiled.stop_reason == "exhausted"


# --- flat words and the counts fingerprint ---------------------------------------------------------------


def test_hf_words_flat_form_equals_the_per_character_lists(prepared: HFWords) -> None:
    assert isinstance(prepared.words, _merge_engine.FlatWords)
    counts = {"ab": 3, "": 1, "bca": 2, "ä€😀": 1, "zz": 4}
    # limit_alphabet cuts characters (dropped from the words, which joins their neighbours); specials first
    for options in ({}, {"limit_alphabet": 3}, {"special_tokens": ["<s>", "a"]}):
        flat = hf_words(counts, **options)  # type: ignore[arg-type]
        ids = {key: token_id for token_id, key in enumerate(flat.keys)}
        expected = [[ids[char] for char in word if char in ids] for word in counts]
        assert list(flat.words) == expected and [flat.words[i] for i in range(len(counts))] == expected
        assert flat.words[-1] == expected[-1] and flat.words[1:3] == expected[1:3]
    with pytest.raises(IndexError):
        flat.words[len(counts)]


def test_store_from_flat_equals_the_list_store(prepared: HFWords) -> None:
    assert kernel is not None
    flat = prepared.words
    assert isinstance(flat, _merge_engine.FlatWords)
    store = kernel.store_from_flat(flat.symbols, flat.offsets, prepared.counts)
    assert store.words() == kernel.WordStore(list(flat), prepared.counts).words() == list(flat)
    with pytest.raises(ValueError, match="offsets"):
        kernel.store_from_flat(flat.symbols, flat.offsets[:-1], prepared.counts)
    with pytest.raises(TypeError, match="4-byte"):
        kernel.store_from_flat(flat.symbols.astype(np.int64), flat.offsets, prepared.counts)


def test_flat_and_list_words_train_the_same_merges(prepared: HFWords, monkeypatch: pytest.MonkeyPatch) -> None:
    lists = list(prepared.words)
    runs = [learn_merges(words, prepared.counts, prepared.keys, vocab_size=2000, join=prepared.join)
            for words in (prepared.words, lists)]
    with monkeypatch.context() as patch:  # the reference loop reads the flat form as lists
        patch.setattr(_merge_engine, "_kernel", None)
        runs.append(learn_merges(prepared.words, prepared.counts, prepared.keys, vocab_size=2000,
                                 join=prepared.join))
    assert runs[0].merges == runs[1].merges == runs[2].merges and len(runs[0].merges) > 1000
    assert runs[0].frequencies == runs[1].frequencies == runs[2].frequencies


def test_counts_text_is_the_formatted_bytes() -> None:
    assert kernel is not None
    counts = {"Ġthe": 12, "a": 2**70, "é": -3, "😀x": 0, "ࠀ": 12345678901, "": 1}
    words = sorted(counts)
    expected = "".join(f"{w}\x00{counts[w]}\x00" for w in words).encode()
    assert kernel.counts_text(words, counts) == expected
    # None: sorted in C by UTF-8 bytes, which is Python's code-point order (prefixes first, non-BMP last)
    mixed = {**counts, "Ġth": 1, "Ġthe\x00": 2, "\uffff": 3, "\U00010000": 4, "\x7f": 5, "\x80": 6}
    assert kernel.counts_text(None, mixed) == "".join(f"{w}\x00{mixed[w]}\x00" for w in sorted(mixed)).encode()
    with pytest.raises(UnicodeEncodeError):
        kernel.counts_text(["a\ud800"], {"a\ud800": 1})
    with pytest.raises(KeyError):
        kernel.counts_text(["missing"], counts)
