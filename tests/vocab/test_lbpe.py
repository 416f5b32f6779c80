"""LBPE: plain BPE training with long-token-first encoders, against references and HF on the exported file."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import varied_text
from tokenizers import Tokenizer as HFTokenizer

from lexkit import Tokenizer, VocabularyError
from lexkit._reference import ReferenceLongestToken, ReferenceLongFirst
from lexkit.embedded import iter_lines
from lexkit.formats import hf
from lexkit.vocab import BPEConfig, LBPEConfig, train


@functools.cache
def _vocabulary(inference: str = "long-first"):
    lines = list(iter_lines("prose"))
    return train(lines, LBPEConfig(vocab_size=1200, special_tokens=("<|endoftext|>",), inference=inference),
                 progress=False, workers=1)


@functools.cache
def _tokenizer(encoder: str) -> Tokenizer:
    return Tokenizer(_vocabulary(), encoder=encoder)


def test_training_is_plain_bpe():
    lines = list(iter_lines("prose"))
    plain = train(lines, BPEConfig(vocab_size=1200, special_tokens=("<|endoftext|>",)), progress=False, workers=1)
    assert plain.tokens == _vocabulary().tokens and plain.merges == _vocabulary().merges
    assert _vocabulary().metadata["encoder"] == "long-first" and _vocabulary().metadata["trainer"] == "lbpe"
    assert _vocabulary("longest-token").metadata["encoder"] == "longest-token"


@given(text=varied_text)
def test_long_first_equals_reference(text):
    tokenizer = _tokenizer("long-first")
    assert tokenizer.encode(text, disallowed_special=()) == ReferenceLongFirst(tokenizer.vocabulary).encode(text)


@given(text=varied_text)
def test_longest_token_equals_reference(text):
    tokenizer = _tokenizer("longest-token")
    assert tokenizer.encode(text, disallowed_special=()) == ReferenceLongestToken(tokenizer.vocabulary).encode(text)


@pytest.mark.parametrize("encoder", ["long-first", "longest-token"])
@given(text=st.text())
def test_round_trip(encoder, text):
    tokenizer = _tokenizer(encoder)
    assert tokenizer.decode(tokenizer.encode(text, disallowed_special=())) == text


def test_exported_tokenizer_json_encodes_long_first_in_hf():
    tokenizer = _tokenizer("long-first")
    hf_tokenizer = HFTokenizer.from_str(hf.dumps(tokenizer.encoder.to_hf()))
    lines = list(iter_lines("code"))[::9]
    assert [e.ids for e in hf_tokenizer.encode_batch(lines)] == tokenizer.encode_batch(lines, disallowed_special=())
    plain = Tokenizer(_vocabulary(), encoder="bpe")
    assert tokenizer.encode_batch(lines, disallowed_special=()) != plain.encode_batch(lines, disallowed_special=())


def test_longest_token_uses_longer_tokens_than_bpe_on_held_out_text():
    """Reading A picks the longest match, so on held-out code it needs fewer tokens than merge-rank BPE.

    (Reading B, ``long-first``, needs more here, about 14 %: growing the longest merge first strands short
    fragments. The benchmark reports both; see bench/bench_train.py.)
    """
    lines = list(iter_lines("code"))
    longest = sum(map(len, _tokenizer("longest-token").encode_batch(lines, disallowed_special=())))
    plain = sum(map(len, Tokenizer(_vocabulary(), encoder="bpe").encode_batch(lines, disallowed_special=())))
    assert longest < plain


def test_unknown_inference_is_refused():
    with pytest.raises(VocabularyError, match="'long-first', 'longest-token'"):
        LBPEConfig(vocab_size=300, inference="shortest")  # type: ignore[arg-type]
