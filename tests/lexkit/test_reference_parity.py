"""The fast path (HF engine) against the pure-Python reference encoder, and round-trip properties."""

from __future__ import annotations

import functools
import random

import _resources
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import varied_text

from lexkit import Tokenizer
from lexkit._reference import ReferenceBPE
from lexkit.embedded import default_corpus, iter_lines
from lexkit.vocab import BPEConfig, train

LOSSLESS = ["gpt2", "cl100k", "o200k"]


@functools.cache
def _train(pre_tokenizer: str) -> Tokenizer:
    lines = list(iter_lines("prose"))
    config = BPEConfig(vocab_size=1200, pre_tokenizer=pre_tokenizer, special_tokens=("<|endoftext|>",))
    return Tokenizer(train(lines, config, progress=False, workers=1))


@pytest.fixture(scope="module", params=[*LOSSLESS, "whitespace"])
def trained(request) -> Tokenizer:
    return _train(request.param)


@pytest.fixture(scope="module", params=LOSSLESS)
def lossless(request) -> Tokenizer:
    """Pre-tokenizers that keep every character (whitespace splitting drops spaces by design)."""
    return _train(request.param)


@given(text=varied_text)
def test_fast_path_equals_reference_on_varied_text(trained, text):
    assert trained.encode(text, disallowed_special=()) == ReferenceBPE(trained.vocabulary).encode(text)


def test_fast_path_equals_reference_on_held_out_code(trained):
    reference = ReferenceBPE(trained.vocabulary)
    lines = list(iter_lines("code"))[::7]
    assert trained.encode_batch(lines, disallowed_special=()) == [reference.encode(line) for line in lines]


@given(text=st.text())
def test_round_trip_text(lossless, text):
    ids = lossless.encode(text, disallowed_special=())
    assert lossless.decode(ids) == text
    assert lossless.decode_bytes(ids) == text.encode("utf-8")


@given(data=st.binary(max_size=64))
def test_round_trip_bytes_through_byte_level(lossless, data):
    # Every byte sequence that is valid UTF-8 round-trips exactly; other bytes cannot be text input.
    text = data.decode("utf-8", errors="replace")
    assert lossless.decode_bytes(lossless.encode(text, disallowed_special=())) == text.encode("utf-8")


def test_single_token_reachability(lossless):
    """Encoding a normal token's content alone gives that token (magikarp-style), with listed exceptions."""
    trained = lossless
    unreachable = []
    for token in trained.vocabulary.tokens:
        if token.kind.value != "normal":
            continue
        text = token.content.decode("utf-8", errors="ignore")
        if text.encode("utf-8") != token.content:
            continue  # a partial UTF-8 sequence is not encodable text on its own
        if trained.encode(text, disallowed_special=()) != [token.id]:
            unreachable.append(token.content)
    # Pre-tokenization can split a token's content when it is seen alone (e.g. a leading-space token
    # without a following word); merge-trained tokens otherwise all re-encode to themselves.
    assert len(unreachable) < 0.02 * len(trained.vocabulary), unreachable[:20]


def test_reference_matches_real_gpt2_on_corpus_lines():
    tokenizer = Tokenizer.load(_resources.gpt2_tokenizer_json())
    reference = ReferenceBPE(tokenizer.vocabulary)
    rng = random.Random(7)
    documents = default_corpus("mixed")
    lines = [line for d in rng.sample(documents, 20) for line in d.splitlines(keepends=True)][:3000]
    assert tokenizer.encode_batch(lines) == [reference.encode(line) for line in lines]
