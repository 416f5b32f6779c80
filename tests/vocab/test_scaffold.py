"""Scaffold-BPE: the training rule against a literal re-implementation, hand-built cases, encoding and files."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import varied_text

from lexkit import LexkitError, Tokenizer
from lexkit._reference import ReferenceScaffold
from lexkit.embedded import iter_lines
from lexkit.formats import native
from lexkit.vocab import BPEConfig, ScaffoldBPEConfig, train
from lexkit.vocab._merge_engine import ScaffoldRule, learn_merges

# --- the rule, step by step ---------------------------------------------------------------------------


def reference_scaffold(
    words: Sequence[Sequence[int]], counts: Sequence[int], keys: Sequence[str], *, vocab_size: int,
    protected: int, reactivate: bool = True,
) -> tuple[list[tuple[int, int, int]], set[int], list[int]]:
    """Scaffold-BPE's training rule written out: recount every pair and token frequency after every step.

    Queue order: highest frequency first; at equal frequency a scaffold token before a pair (the engine's
    documented choice), tokens by id, pairs by (left, right).
    """
    symbols = [list(word) for word in words]
    names = list(keys)
    ids = {key: token_id for token_id, key in enumerate(names)}
    scaffold: set[int] = set()
    merges: list[tuple[int, int, int]] = []

    def frequencies() -> Counter[int]:
        freq: Counter[int] = Counter()
        for word, count in zip(symbols, counts):
            for symbol in word:
                freq[symbol] += count
        return freq

    def pair_counts() -> Counter[tuple[int, int]]:
        pairs: Counter[tuple[int, int]] = Counter()
        for word, count in zip(symbols, counts):
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        return pairs

    def head() -> tuple[int, int, object] | None:
        items: list[tuple[int, int, object]] = [(-c, 1, p) for p, c in pair_counts().items() if c > 0]
        if reactivate:
            freq = frequencies()
            items += [(-freq[t], 0, t) for t in scaffold if freq[t] > 0]
        return min(items, key=lambda item: (item[0], item[1], item[2])) if items else None

    while len(names) - len(scaffold) < vocab_size:
        best = head()
        if best is None:
            break
        if best[1] == 0:
            scaffold.discard(best[2])  # type: ignore[arg-type]
            continue
        left, right = best[2]  # type: ignore[misc]
        merged = ids.setdefault(names[left] + names[right], len(names))
        if merged == len(names):
            names.append(names[left] + names[right])
        scaffold.discard(merged)
        merges.append((left, right, merged))
        for word in symbols:
            position = 0
            while position < len(word) - 1:
                if word[position] == left and word[position + 1] == right:
                    word[position:position + 2] = [merged]
                position += 1
        after = head()
        q = -after[0] if after is not None else 0
        freq = frequencies()
        for part in dict.fromkeys((left, right)):
            if part >= protected and part not in scaffold and freq[part] < q:
                scaffold.add(part)
    final = frequencies()
    return merges, scaffold, [final[token_id] for token_id in range(len(names))]


@given(
    words=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=10), min_size=1, max_size=8),
    data=st.data(),
    extra=st.integers(1, 30),
    reactivate=st.booleans(),
)
def test_engine_matches_the_literal_rule(words, data, extra, reactivate):
    counts = data.draw(st.lists(st.integers(1, 9), min_size=len(words), max_size=len(words)))
    keys = ["a", "b", "c", "d"]
    result = learn_merges(
        words, counts, keys, vocab_size=4 + extra, scaffold=ScaffoldRule(protected=4, reactivate=reactivate)
    )
    merges, scaffold, frequencies = reference_scaffold(
        words, counts, keys, vocab_size=4 + extra, protected=4, reactivate=reactivate
    )
    assert result.merges == merges
    assert result.scaffolds == scaffold
    assert result.frequencies == frequencies


def test_component_below_the_queue_head_becomes_scaffold():
    """``zon`` occurs 8 times inside ``Arizona`` and ``zone``; once both are built it is rarer than any pair."""
    corpus = ["Arizona Arizona Arizona zone zone"] * 5
    vocabulary = train(corpus, ScaffoldBPEConfig(vocab_size=259, min_frequency=1), progress=False, workers=1)
    scaffolds = [token.content for token in vocabulary.tokens if token.scaffold]
    assert b"zon" in scaffolds and b"Arizon" in scaffolds
    assert vocabulary.model_size == 259
    # vocabulary tokens first (dense ids), scaffolds after.
    assert all(token.scaffold for token in vocabulary.tokens[vocabulary.model_size:])
    assert not any(token.scaffold for token in vocabulary.tokens[:vocabulary.model_size])
    recorded = {token_id for token_id, _ in vocabulary.metadata["scaffold_tokens"]}
    assert recorded == set(range(vocabulary.model_size, len(vocabulary)))


def test_reactivation():
    """``ab`` is marked when ``abc`` is built from it, and re-activated once every pair is rarer than it.

    Counts: ab 10 (abc 6 + ab 4); after (ab, c) the head is (x, y) 5 > freq(ab) 4, so ``ab`` is scaffold;
    after (x, y) the best pair count is 1 < 4, so the token item for ``ab`` pops first.
    """
    keys = ["a", "b", "c", "x", "y", "z"]
    words = [[0, 1, 2], [0, 1], [3, 4], [5, 3]]
    counts = [6, 4, 5, 1]
    result = learn_merges(words, counts, keys, vocab_size=9, scaffold=ScaffoldRule(protected=6))
    assert [result.keys[m] for _, _, m in result.merges[:3]] == ["ab", "abc", "xy"]
    assert result.reactivations == 1 and result.scaffolds == frozenset()
    one_way = learn_merges(words, counts, keys, vocab_size=9, scaffold=ScaffoldRule(protected=6, reactivate=False))
    assert one_way.reactivations == 0 and result.keys.index("ab") in one_way.scaffolds


def test_base_units_and_specials_are_never_scaffold():
    vocabulary = train(list(iter_lines("prose"))[:300], ScaffoldBPEConfig(vocab_size=600, special_tokens=("<s>",)),
                       progress=False, workers=1)
    assert not any(token.scaffold for token in vocabulary.tokens if len(token.content) == 1 or token.kind.value != "normal")


# --- encoding -------------------------------------------------------------------------------------------


@functools.cache
def _trained() -> Tokenizer:
    lines = list(iter_lines("prose"))
    vocabulary = train(lines, ScaffoldBPEConfig(vocab_size=1200, special_tokens=("<|endoftext|>",)), progress=False,
                       workers=1)
    assert len(vocabulary) > vocabulary.model_size, "the embedded prose should yield scaffold tokens"
    return Tokenizer(vocabulary, encoder=vocabulary.metadata["encoder"])


@given(text=varied_text)
def test_fast_demolition_equals_reference(text):
    tokenizer = _trained()
    ids = tokenizer.encode(text, disallowed_special=())
    assert ids == ReferenceScaffold(tokenizer.vocabulary).encode(text)
    assert all(token_id < tokenizer.vocabulary.model_size for token_id in ids)


@given(text=st.text())
def test_round_trip(text):
    tokenizer = _trained()
    assert tokenizer.decode(tokenizer.encode(text, disallowed_special=())) == text


def test_batch_equals_single_on_held_out_code():
    tokenizer = _trained()
    lines = list(iter_lines("code"))[::5]
    assert tokenizer.encode_batch(lines, disallowed_special=()) == [
        tokenizer.encode(line, disallowed_special=()) for line in lines
    ]
    reference = ReferenceScaffold(tokenizer.vocabulary)
    assert tokenizer.encode_batch(lines[:200], disallowed_special=()) == [reference.encode(line) for line in lines[:200]]


def test_plain_bpe_encoder_refuses_a_scaffold_vocabulary():
    with pytest.raises(LexkitError, match=r"scaffold tokens.*encoder='scaffold'"):
        Tokenizer(_trained().vocabulary, encoder="bpe")
    assert Tokenizer(_trained().vocabulary).encoder_name == "scaffold"  # the recorded encoder is the default


def test_saved_and_loaded_with_its_encoder(tmp_path):
    tokenizer = _trained()
    native.save(tokenizer.vocabulary, tmp_path)
    loaded = Tokenizer.load(tmp_path)
    assert loaded.encoder_name == "scaffold"
    assert loaded.encode("Arizona and the zone") == tokenizer.encode("Arizona and the zone")


def test_deterministic_and_model_size_is_the_target():
    lines = list(iter_lines("prose"))[:400]
    config = ScaffoldBPEConfig(vocab_size=700)
    first, second = (train(lines, config, progress=False, workers=1) for _ in range(2))
    assert native.dumps(first) == native.dumps(second)
    assert first.model_size == 700 and first.metadata["model_size"] == 700
    assert first.metadata["encoder_size"] == len(first)


def test_config_type_must_match_the_algorithm():
    with pytest.raises(LexkitError, match="takes a ScaffoldBPEConfig"):
        train(["a b"], BPEConfig(vocab_size=300), algorithm="scaffold-bpe", progress=False)
