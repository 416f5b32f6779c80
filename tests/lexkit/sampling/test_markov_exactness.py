"""The exactness test: an exact token-level oracle of a known Markov source.

For every prefix y of the source, lexkit's next-byte distribution must equal the true transition (EOS after the
full length) to 1e-9, under a toy merge-rank BPE, maximum-prefix encoding over the same vocabulary, and GPT-2's
real vocabulary restricted (by the source alphabet) to the bytes ``a``, ``b`` and space. Naive prompting
(the first-byte marginal after ``encode(y)``) must be measurably biased.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _resources import gpt2_tokenizer_json

from lexkit import Tokenizer
from lexkit.sampling import EOS, ByteSampler, TokenizerAdapter
from lexkit.sampling._oracles import (
    TOY_EOS,
    TOY_TOKENS,
    OracleLM,
    markov_strings,
    naive_next_byte,
    toy_bpe,
    toy_mpe,
)

logger = logging.getLogger(__name__)

def walk(byte_lm: ByteSampler, transition, alphabet: bytes, length: int, naive=None):
    """Depth-first over every prefix: (max |exact - truth|, list of naive total-variation distances, nodes)."""
    worst, bias, nodes = 0.0, [], 0
    stack = [byte_lm.start(b"")]
    while stack:
        state = stack.pop()
        nodes += 1
        truth = np.zeros(EOS + 1)
        if len(state.data) == length:
            truth[EOS] = 1.0
        else:
            truth[list(alphabet)] = transition(state.data)
        exact = np.exp(byte_lm.next_byte_logprobs(state))
        worst = max(worst, float(np.abs(exact - truth).max()))
        if naive is not None and state.data:
            bias.append(0.5 * float(np.abs(naive(state.data) - truth).sum()))
        if len(state.data) < length:
            stack += [byte_lm.push(state, b) for b in alphabet]
    return worst, bias, nodes


@pytest.mark.parametrize("encoder", [toy_bpe, toy_mpe], ids=["bpe", "mpe"])
def test_toy_vocabulary_exact_and_naive_biased(encoder):
    alphabet, length = b"ab", 10
    strings, transition = markov_strings(alphabet, length, order=2, seed=3)
    adapter = TokenizerAdapter(TOY_TOKENS, encoder)
    oracle = OracleLM(strings, encoder, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS)
    byte_lm = ByteSampler(oracle, adapter)

    worst, bias, nodes = walk(byte_lm, transition, alphabet, length,
                              naive=lambda y: naive_next_byte(oracle, adapter, y))
    logger.info("%s: %d prefixes, max |exact - true| = %.2e, naive TV max %.3f mean %.3f",
                encoder.__name__, nodes, worst, max(bias), np.mean(bias))
    assert nodes == 2 ** (length + 1) - 1
    assert worst < 1e-9
    assert max(bias) > 0.05  # naive prompting is biased (the size depends on the random chain)


def test_btr_identity_prefix_probability():
    """log P(X starts with y) from the covers equals the source's prefix probability."""
    alphabet, length = b"ab", 8
    strings, _ = markov_strings(alphabet, length, order=2, seed=5)
    oracle = OracleLM(strings, toy_bpe, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS)
    byte_lm = ByteSampler(oracle, TokenizerAdapter(TOY_TOKENS, toy_bpe))
    rng = np.random.default_rng(0)
    for _ in range(40):
        y = bytes(int(b) for b in rng.choice(list(alphabet), size=int(rng.integers(1, length + 1))))
        truth = sum(p for x, p in strings.items() if x.startswith(y))
        assert abs(byte_lm.start(y).prefix_logprob - np.log(truth)) < 1e-9
        assert abs(byte_lm.logprob(y) - np.log(truth)) < 1e-9


def test_incremental_state_equals_from_scratch():
    alphabet, length = b"ab", 10
    strings, _ = markov_strings(alphabet, length, order=2, seed=7)
    oracle = OracleLM(strings, toy_bpe, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS)
    byte_lm = ByteSampler(oracle, TokenizerAdapter(TOY_TOKENS, toy_bpe))
    text = b"aababbbaab"
    state = byte_lm.start(b"")
    for n, byte in enumerate(text, start=1):
        state = byte_lm.push(state, byte)
        fresh = byte_lm.start(text[:n])
        assert state.canonical == toy_bpe(text[:n])
        assert sorted(zip(state.starts.tolist(), state.tokens.tolist())) == sorted(
            zip(fresh.starts.tolist(), fresh.tokens.tolist()))
        np.testing.assert_allclose(byte_lm.next_byte_logprobs(state), byte_lm.next_byte_logprobs(fresh),
                                   atol=1e-12)


@pytest.mark.parametrize("alphabet,length", [(b"ab ", 6), (b"a\n", 8)], ids=["ab-space", "a-newline"])
def test_gpt2_vocabulary_restricted_to_few_bytes(alphabet, length):
    """GPT-2's real merges over {a, b, space} and {a, newline}: the whitespace-lookahead pre-tokenizer cases
    (``"a  " + "b"`` re-splits into ``"a" " " " b"``; ``"\n\n" + "a"`` re-splits into ``"\n" "\n" "a"``)."""
    tokenizer = Tokenizer.load(gpt2_tokenizer_json())
    adapter = TokenizerAdapter.from_tokenizer(tokenizer)
    strings, transition = markov_strings(alphabet, length, order=2, seed=11)
    eos = tokenizer.vocabulary.special_tokens["<|endoftext|>"]
    oracle = OracleLM(strings, adapter.encode, vocab_size=len(adapter), eos_id=eos)
    byte_lm = ByteSampler(oracle, adapter)
    worst, bias, nodes = walk(byte_lm, transition, alphabet, length,
                              naive=lambda y: naive_next_byte(oracle, adapter, y))
    logger.info("gpt2: %d prefixes, max |exact - true| = %.2e, naive TV max %.3f mean %.3f",
                nodes, worst, max(bias), np.mean(bias))
    assert worst < 1e-9
    assert max(bias) > 0.05
