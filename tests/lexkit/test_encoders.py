"""The scaffold, long-first and longest-token encoders on hand-made vocabularies with known answers."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lexkit import LossyConversionError, Tokenizer, Vocabulary
from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer
from lexkit.encoders import ENCODERS, ScaffoldEncoder, get_encoder, long_first_order

BYTES = [bytes([b]) for b in range(256)]
PIPELINE = {"pre_tokenizer": byte_level_pre_tokenizer(), "decoder": byte_level_decoder()}


def _scaffolded(merges: list[tuple[bytes, bytes]], scaffold: set[bytes]) -> Vocabulary:
    """A byte-level vocabulary whose ``scaffold`` tokens are flagged and moved to the highest ids."""
    v = Vocabulary.from_merges(BYTES, merges, **PIPELINE)
    tokens = [dataclasses.replace(t, scaffold=t.content in scaffold) for t in v.tokens]
    order = sorted(range(len(tokens)), key=lambda i: (tokens[i].scaffold, i))
    mapping = [0] * len(order)
    for new, old in enumerate(order):
        mapping[old] = new
    return v.replace(tokens=tuple(tokens)).renumber(mapping)


def test_registry_names():
    assert {"bpe", "scaffold", "long-first", "longest-token"} <= set(ENCODERS)


def test_demolition_expands_recursively_and_never_emits_scaffolds():
    v = _scaffolded([(b"o", b"n"), (b"z", b"on"), (b"zon", b"a")], {b"on", b"zon"})
    tokenizer = Tokenizer(v, encoder="scaffold")
    contents = [v.tokens[i].content for i in tokenizer.encode("zona zon")]
    assert contents == [b"zona", b" ", b"z", b"o", b"n"]
    assert max(tokenizer.encode("zona zon on")) < v.model_size


def test_demolition_prefers_the_expansion_with_fewest_pieces():
    """``abc`` is scaffold and built twice: ``ab+c`` (ab is scaffold: a, b, c) and ``a+bc`` (bc is not)."""
    v = _scaffolded([(b"a", b"b"), (b"b", b"c"), (b"ab", b"c"), (b"a", b"bc")], {b"ab", b"abc"})
    encoder = get_encoder("scaffold", v)
    assert isinstance(encoder, ScaffoldEncoder)
    ((scaffold_id, pieces),) = [(i, p) for i, p in encoder.expansions.items() if v.tokens[i].content == b"abc"]
    assert [v.tokens[i].content for i in pieces] == [b"a", b"bc"]


@given(batch=st.lists(st.text(alphabet="zona ", max_size=12), max_size=8))
def test_batch_demolition_equals_single(batch):
    tokenizer = Tokenizer(_scaffolded([(b"o", b"n"), (b"z", b"on"), (b"zon", b"a")], {b"on", b"zon"}),
                          encoder="scaffold")
    assert tokenizer.encode_batch(batch) == [tokenizer.encode(text) for text in batch]
    ids, offsets = tokenizer.encode_batch_flat(batch)
    assert [ids[a:b].tolist() for a, b in zip(offsets, offsets[1:])] == tokenizer.encode_batch(batch)


def test_scaffold_encoder_needs_scaffolds_at_the_highest_ids():
    v = Vocabulary.from_merges(BYTES, [(b"a", b"b"), (b"ab", b"c")], **PIPELINE)
    tokens = list(v.tokens)
    tokens[256] = dataclasses.replace(tokens[256], scaffold=True)  # "ab" below the non-scaffold "abc"
    with pytest.raises(Exception, match="highest ids"):
        get_encoder("scaffold", v.replace(tokens=tuple(tokens)))


def test_long_first_order_and_encoding():
    v = Vocabulary.from_merges(BYTES, [(b"a", b"b"), (b"b", b"c"), (b"bc", b"d")], **PIPELINE)
    assert long_first_order(v) == [2, 0, 1]
    contents = lambda encoder: [v.tokens[i].content for i in Tokenizer(v, encoder=encoder).encode("abcd")]  # noqa: E731
    assert contents("bpe") == [b"ab", b"c", b"d"]
    # (b,c) is ranked after (a,b) and both build 2 bytes, so a+b still wins first: same as BPE here.
    assert contents("long-first") == [b"ab", b"c", b"d"]
    assert contents("longest-token") == [b"a", b"bcd"]


def test_long_first_builds_the_longer_token_first():
    """After ``c+d``, BPE applies ``a+b`` (rank 1) but long-first applies ``b+cd`` (3 bytes beat 2)."""
    v = Vocabulary.from_merges(BYTES, [(b"c", b"d"), (b"a", b"b"), (b"b", b"cd")], **PIPELINE)
    contents = lambda encoder: [v.tokens[i].content for i in Tokenizer(v, encoder=encoder).encode("abcd")]  # noqa: E731
    assert contents("bpe") == [b"ab", b"cd"]
    assert contents("long-first") == [b"a", b"bcd"]


def test_exports():
    v = Vocabulary.from_merges(BYTES, [(b"c", b"d"), (b"a", b"b"), (b"b", b"cd")], **PIPELINE)
    merges = get_encoder("long-first", v).to_hf()["model"]["merges"]
    assert merges == [["b", "cd"], ["c", "d"], ["a", "b"]]
    assert get_encoder("bpe", v).to_hf()["model"]["merges"] == [["c", "d"], ["a", "b"], ["b", "cd"]]
    with pytest.raises(LossyConversionError, match="allow_lossy=True"):
        get_encoder("longest-token", v).to_hf()
    scaffold = _scaffolded([(b"o", b"n"), (b"z", b"on")], {b"on"})
    with pytest.raises(LossyConversionError, match="scaffold"):
        get_encoder("scaffold", scaffold).to_hf()
    assert get_encoder("scaffold", scaffold).to_hf(allow_lossy=True)["model"]["type"] == "BPE"


def test_longest_token_needs_a_byte_complete_vocabulary():
    v = Vocabulary.from_merges([b"a", b"b"], [(b"a", b"b")], **PIPELINE)
    with pytest.raises(Exception, match="all 256 single bytes"):
        get_encoder("longest-token", v)


def test_engine_cache_shares_per_tokenizer_json_and_frees_unused_entries():
    """Encoders of equal vocabularies share one compiled engine; another vocabulary gets its own;
    an entry no encoder holds any more is freed (weak values)."""
    import gc
    import weakref

    v = Vocabulary.from_merges(BYTES, [(b"h", b"i"), (b"hi", b"s")], **PIPELINE)
    same = Vocabulary.from_merges(BYTES, [(b"h", b"i"), (b"hi", b"s")], **PIPELINE)
    other = Vocabulary.from_merges(BYTES, [(b"h", b"i")], **PIPELINE)
    a, b, c = (get_encoder("bpe", x) for x in (v, same, other))
    assert a.compiled is b.compiled and a.engine is b.engine and a.compiled is not c.compiled
    assert a.encode_ordinary("his hi") == b.encode_ordinary("his hi") == [257, 32, 256]
    assert c.encode_ordinary("his hi") == [256, 115, 32, 256]
    entry = weakref.ref(c.compiled)
    del c
    gc.collect()
    assert entry() is None
