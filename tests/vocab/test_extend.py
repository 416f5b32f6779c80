"""Vocabulary extension on a real tokenizer: GPT-2's tokenizer.json extended with Turkish tokens (``make fixtures``).

Base text in which no new merge applies must keep the base's ids; the new tokens must cut tokens per byte on
held-out Turkish by a wide margin; the exported tokenizer.json must load in HF ``tokenizers`` and give the ids of
lexkit's pure-Python reference encoder on real text. A hand-made vocabulary exercises the merges that reach a
base token through a new split.
"""

from __future__ import annotations

import functools

import pytest
from _resources import corpus_path, gpt2_tokenizer_json, turkish_path
from tokenizers import Tokenizer as HFTokenizer

from lexkit import LexkitError, Tokenizer
from lexkit._reference import ReferenceBPE
from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer
from lexkit.formats.hf import from_hf
from lexkit.vocab import ExtendConfig, extend
from lexkit.vocabulary import Vocabulary

NEW_TOKENS = 1000
SAVING = 0.25  # fewer tokens per byte on held-out Turkish; measured 34.1 % (0.451 -> 0.298) with 1,000 tokens


@functools.cache
def _turkish() -> tuple[str, str]:
    """Treebank sentences: all but the last 300 to extend on, the last 300 held out."""
    lines = turkish_path("wiki.conllu").read_text(encoding="utf-8").splitlines()
    sentences = [line[len("# text = "):] for line in lines if line.startswith("# text = ")]
    return "\n".join(sentences[:-300]), "\n".join(sentences[-300:])


@functools.cache
def _extended() -> tuple[Vocabulary, Vocabulary]:
    base = from_hf(gpt2_tokenizer_json())
    return base, extend(base, [_turkish()[0]], new_tokens=NEW_TOKENS, workers=1)


def _english_lines() -> list[str]:
    text = corpus_path().read_bytes()[:100_000].decode("utf-8", errors="ignore")
    return [line for line in text.splitlines() if line.strip()]


def test_extension_keeps_every_base_token_merge_and_special():
    base, extended = _extended()
    assert extended.tokens[:len(base)] == base.tokens
    assert extended.merges[:len(base.merges)] == base.merges
    assert extended.special_tokens == base.special_tokens
    assert len(extended) == len(base) + NEW_TOKENS
    assert extended.metadata["extension"]["new_tokens"] == NEW_TOKENS
    new_contents = {token.content for token in extended.tokens[len(base):]}
    assert len(new_contents) == NEW_TOKENS and not new_contents & {token.content for token in base.tokens}


def test_base_text_without_a_new_pair_keeps_the_base_ids():
    base, extended = _extended()
    before, after = Tokenizer(base), Tokenizer(extended)
    new_pairs = {merge[:2] for merge in extended.merges[len(base.merges):]}
    checked = 0
    for line in _english_lines():
        ids = before.encode(line)
        if not new_pairs.intersection(zip(ids, ids[1:])):
            assert after.encode(line) == ids, line
            checked += 1
    assert checked > 500  # measured: 4,068 of 5,556 lines of the first 200 kB


def test_new_tokens_cut_tokens_per_byte_on_held_out_domain_text():
    base, extended = _extended()
    held_out = _turkish()[1]
    size = len(held_out.encode("utf-8"))
    before, after = len(Tokenizer(base).encode(held_out)) / size, len(Tokenizer(extended).encode(held_out)) / size
    assert after < (1 - SAVING) * before, (before, after)


def test_exported_tokenizer_json_loads_in_hf_and_matches_lexkit(tmp_path):
    _, extended = _extended()
    Tokenizer(extended).save(tmp_path / "extended")
    hf = HFTokenizer.from_file(str(tmp_path / "extended" / "tokenizer.json"))
    reference, lexkit_side = ReferenceBPE(extended), Tokenizer(extended)
    texts = [_turkish()[1][:20_000], "\n".join(_english_lines()[:200])]
    for text in texts:
        ids = reference.encode(text)
        assert hf.encode(text, add_special_tokens=False).ids == ids
        assert lexkit_side.encode(text) == ids
        assert lexkit_side.decode(ids) == text
    assert any(token_id >= 50257 for token_id in reference.encode(texts[0]))


def _tiny_base() -> Vocabulary:
    """Bytes plus b+c, a+b, ab+c, abc+d: the word "abc" encodes as [a, bc], though "abc" is a token."""
    return Vocabulary.from_merges([bytes([b]) for b in range(256)],
                                  [(b"b", b"c"), (b"a", b"b"), (b"ab", b"c"), (b"abc", b"d")],
                                  pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())


def test_a_merge_onto_a_base_token_is_kept_and_a_repeated_base_pair_dropped():
    base = _tiny_base()
    extended = extend(base, ["abc"] * 5 + ["abcd"] * 3, new_tokens=1, workers=1)
    a, bc, abc, d = (base.id_of(content) for content in (b"a", b"bc", b"abc", b"d"))
    # The new merge a+bc reaches the base token abc; the engine then meets abc+d, a base merge, which is dropped.
    assert extended.merges[len(base.merges):] == ((a, bc),)
    assert len(extended) == len(base) and extended.metadata["extension"]["merges_to_base_tokens"] == 1
    assert Tokenizer(base).encode("abcd") == [a, bc, d]
    for tokenizer in (Tokenizer(extended), ReferenceBPE(extended)):
        assert tokenizer.encode("abcd") == [base.id_of(b"abcd")]
        assert tokenizer.encode("abc") == [abc]


def test_a_base_that_splits_digits_one_by_one_gets_no_digit_token():
    base = _tiny_base()  # no token joins a digit to anything (SmolLM2's rule)
    extended = extend(base, ["x12 x12 ab12", "2024 2024 x1 x1"] * 5, new_tokens=20, min_frequency=1, workers=1)
    new = [token.content for token in extended.tokens[len(base):]]
    assert new and not any(set(content) & set(b"0123456789") for content in new), new
    assert extended.metadata["extension"]["digits_kept_apart"]
    _, gpt2 = _extended()  # GPT-2 has number tokens: nothing is cut there
    assert not gpt2.metadata["extension"]["digits_kept_apart"]


def test_bad_input_is_refused_with_the_fix():
    plain = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b")])
    with pytest.raises(LexkitError, match="ByteLevel"):
        extend(plain, ["ab ab"], new_tokens=10, workers=1)
    with pytest.raises(LexkitError, match="new_tokens=0"):
        ExtendConfig(new_tokens=0)
    with pytest.raises(LexkitError, match="new_tokens=N"):
        extend(_tiny_base(), ["abc"], workers=1)
