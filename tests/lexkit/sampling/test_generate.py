"""Generation on the exact oracle: byte-level temperature, top-k / top-p, stop strings and EOS."""

from __future__ import annotations

import numpy as np
import pytest

from lexkit import LexkitError
from lexkit.sampling import EOS, ByteSampler, TokenizerAdapter, sample_byte
from lexkit.sampling._oracles import TOY_EOS, TOY_TOKENS, OracleLM, markov_strings, toy_bpe


@pytest.fixture(scope="module")
def byte_lm() -> ByteSampler:
    strings, _ = markov_strings(b"ab", 8, seed=2)
    oracle = OracleLM(strings, toy_bpe, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS)
    return ByteSampler(oracle, TokenizerAdapter(TOY_TOKENS, toy_bpe))


def test_generation_reaches_eos_after_the_source_length(byte_lm):
    for seed in range(5):
        out = byte_lm.generate(b"ab", 50, seed=seed)
        assert len(out) == 6 and set(out) <= set(b"ab")  # every string has 8 bytes, then EOS


def test_greedy_and_stop_strings(byte_lm):
    greedy = byte_lm.generate(b"", 8, temperature=0)
    state = byte_lm.start(b"")
    for b in greedy:
        assert b == int(np.argmax(byte_lm.next_byte_logprobs(state)))
        state = byte_lm.push(state, b)
    assert byte_lm.generate(b"", 8, temperature=0, stop=[greedy[:3]]) == greedy[:3]


def test_sample_byte_options():
    rng = np.random.default_rng(0)
    logprobs = np.log(np.array([0.5, 0.3, 0.2] + [0.0] * (EOS - 2)) + 1e-300)
    assert {sample_byte(logprobs, rng, top_k=1) for _ in range(20)} == {0}
    assert {sample_byte(logprobs, rng, top_p=0.7) for _ in range(50)} == {0, 1}
    draws = [sample_byte(logprobs, rng, temperature=0.25) for _ in range(400)]
    assert draws.count(0) > 300  # p ** 4 sharpens the byte distribution
    with pytest.raises(LexkitError, match="temperature"):
        sample_byte(logprobs, rng, temperature=-1)
