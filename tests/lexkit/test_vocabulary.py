"""Vocabulary invariants, construction and renumbering."""

from __future__ import annotations

import dataclasses

import pytest

from lexkit import Token, TokenKind, Vocabulary, VocabularyError
from lexkit.vocabulary import Alphabet

BASE = [bytes([b]) for b in range(256)]


def test_from_merges_assigns_ids_in_creation_order():
    merges = [(b"a", b"b"), (b"b", b"c"), (b"ab", b"c"), (b"a", b"bc")]
    v = Vocabulary.from_merges(BASE, merges, specials=["<s>"])
    assert v.tokens[0].kind == TokenKind.SPECIAL
    assert v.id_of(b"a") == 1 + ord("a")
    assert (v.id_of(b"ab"), v.id_of(b"bc"), v.id_of(b"abc")) == (257, 258, 259)
    # a result reached by a second pair reuses its id (HF does the same); both merges are kept
    assert len(v) == 260 and len(v.merges) == 4
    assert v.merge_result(v.merges[3]) == 259
    assert v.merge_ranks[(v.id_of(b"ab"), v.id_of(b"c"))] == 2


def test_merge_with_unknown_part_is_rejected():
    with pytest.raises(VocabularyError, match="neither a base symbol"):
        Vocabulary.from_merges(BASE, [(b"ab", b"c")])


def test_invariants_name_the_offending_token():
    tokens = tuple(Token(i, b) for i, b in enumerate(BASE))
    with pytest.raises(VocabularyError, match="position 1 holds id 5"):
        Vocabulary((tokens[0], dataclasses.replace(tokens[1], id=5)))
    with pytest.raises(VocabularyError, match="same content"):
        Vocabulary((*tokens, Token(256, b"a")))
    with pytest.raises(VocabularyError, match="not a token"):
        Vocabulary(tokens, merges=((97, 98),))
    with pytest.raises(VocabularyError, match="special tokens take part in no merge"):
        Vocabulary((*tokens, Token(256, b"<s>", TokenKind.SPECIAL)), merges=((256, 97),))
    # the C-level check of well-formed merges hands every bad merge to the loop that names it
    good = (*tokens, Token(256, b"ab"))
    assert Vocabulary(good, merges=((97, 98),)).merges == ((97, 98),)
    with pytest.raises(VocabularyError, match=r"merge 1 \(97, 257\) refers to id 257, outside 0..256"):
        Vocabulary(good, merges=((97, 98), (97, 257)))
    with pytest.raises(VocabularyError, match="refers to id -1"):
        Vocabulary(good, merges=((-1, 98),))
    with pytest.raises(VocabularyError, match="merge 1 .* produces b'ba', which is not a token"):
        Vocabulary(good, merges=((97, 98), (98, 97)))
    with pytest.raises(VocabularyError, match="relation 'up'"):
        Vocabulary(good, merges=((97, 98, "up"),))
    with pytest.raises(VocabularyError, match="scaffold token"):
        Vocabulary((*tokens[:-1], Token(255, b"\xff", scaffold=True)))
    with pytest.raises(VocabularyError, match="empty content"):
        Vocabulary((*tokens, Token(256, b"", TokenKind.SPECIAL)))


def test_byte_pieces_and_normal_tokens_may_share_content():
    tokens = (Token(0, b"<unk>", TokenKind.UNKNOWN), Token(1, b"a", TokenKind.BYTE), Token(2, b"a"))
    v = Vocabulary(tokens)
    assert v.byte_ids[ord("a")] == 1 and v.id_of(b"a") == 2


def test_scaffold_tokens_do_not_count_as_embedding_rows():
    v = Vocabulary.from_merges(BASE, [(b"a", b"b"), (b"ab", b"c")])
    tokens = list(v.tokens)
    tokens[257] = dataclasses.replace(tokens[257], scaffold=True)
    v2 = v.replace(tokens=tuple(tokens))
    assert len(v2) == 258 and v2.model_size == 257


def test_renumber_moves_merges_and_post_processor_ids():
    v = Vocabulary.from_merges(BASE, [(b"a", b"b")], specials=["<s>"],
                               post_processor={"type": "TemplateProcessing",
                                               "special_tokens": {"<s>": {"id": "<s>", "ids": [0],
                                                                           "tokens": ["<s>"]}}})
    mapping = list(range(1, len(v))) + [0]  # rotate: token i -> i + 1, last -> 0
    r = v.renumber(mapping)
    assert r.tokens[1].content == b"<s>"
    assert r.merges[0] == (mapping[1 + ord("a")], mapping[1 + ord("b")])
    assert r.post_processor["special_tokens"]["<s>"]["ids"] == [1]
    with pytest.raises(VocabularyError, match="permutation"):
        v.renumber([0] * len(v))


def test_vocabulary_is_immutable_and_copies_its_inputs():
    spec = {"type": "ByteLevel", "add_prefix_space": False}
    v = Vocabulary.from_merges(BASE, [], pre_tokenizer=spec)
    spec["add_prefix_space"] = True
    assert v.pre_tokenizer["add_prefix_space"] is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.tokens = ()  # type: ignore[misc]


def test_codebook_alphabet_units():
    assert Alphabet.codebook(16384).width == 2
    with pytest.raises(VocabularyError):
        Alphabet.codebook(0)
