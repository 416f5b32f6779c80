"""Cover enumeration against brute force on tiny vocabularies, and invalid-encoding masking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lexkit.sampling import EOS, ByteSampler, TokenizerAdapter
from lexkit.sampling._oracles import TOY_EOS, TOY_TOKENS, toy_bpe, toy_mpe


class UniformLM:
    """Every next token equally likely: puts mass on non-canonical sequences, so masking matters."""

    def __init__(self, vocab_size: int, eos_id: int) -> None:
        self.vocab_size, self.eos_id, self.forward_calls = vocab_size, eos_id, 0

    def next_token_logprobs(self, prefixes):
        self.forward_calls += len(prefixes)
        lp = -np.log(self.vocab_size)
        return np.array([lp * len(p) for p in prefixes]), np.full((len(prefixes), self.vocab_size), lp)


def brute_force_covers(x: bytes, encode, canonical_only: bool) -> set[tuple[int, ...]]:
    """Every token sequence whose tokens before the last decode to a proper prefix of x and that covers x."""
    out = set()
    for k in range(1, len(x) + 1):
        for seq in itertools.product(range(len(TOY_TOKENS)), repeat=k):
            head = b"".join(TOY_TOKENS[t] for t in seq[:-1])
            whole = head + TOY_TOKENS[seq[-1]]
            if len(head) < len(x) and whole.startswith(x) and x.startswith(head):
                if not canonical_only or list(seq) == encode(whole):
                    out.add(seq)
    return out


def _lm_for(encode, mask: bool) -> ByteSampler:
    eos = TOY_EOS
    return ByteSampler(UniformLM(eos + 1, eos), TokenizerAdapter(TOY_TOKENS, encode), mask_invalid=mask)


@pytest.mark.parametrize("encode", [toy_bpe, toy_mpe], ids=["bpe", "mpe"])
@pytest.mark.parametrize("x", [b"a", b"ab", b"aab", b"abab", b"bbaab", b"aabba"])
def test_covers_equal_brute_force(encode, x):
    byte_lm = _lm_for(encode, mask=True)
    covers = {tuple(c) for c in byte_lm.covers(byte_lm.start(x))}
    assert covers == brute_force_covers(x, encode, canonical_only=True)
    assert tuple(encode(x)) in covers


@pytest.mark.parametrize("x", [b"aab", b"abab"])
def test_unmasked_covers_keep_non_canonical_last_tokens(x):
    """Without masking the last token is unconstrained (the prefix is still encode(x[:i])); of the sequences that
    end exactly at len(x) only T_n is kept, because only T_n is extended."""
    byte_lm = _lm_for(toy_bpe, mask=False)
    covers = {tuple(c) for c in byte_lm.covers(byte_lm.start(x))}
    expected = {c for c in brute_force_covers(x, toy_bpe, canonical_only=False)
                if list(c[:-1]) == toy_bpe(b"".join(TOY_TOKENS[t] for t in c[:-1]))
                and (len(b"".join(TOY_TOKENS[t] for t in c)) > len(x) or list(c) == toy_bpe(x))}
    assert covers == expected
    assert covers > brute_force_covers(x, toy_bpe, canonical_only=True)


def test_masking_gives_the_distribution_over_canonical_sequences():
    """With masking, P(next byte) is the sum over canonical covers of the model's mass (brute force)."""
    x = b"aab"
    eos = TOY_EOS
    lp = -np.log(eos + 1)
    weights = np.zeros(EOS + 1)
    for cover in brute_force_covers(x, toy_bpe, canonical_only=True):
        whole = b"".join(TOY_TOKENS[t] for t in cover)
        if len(whole) > len(x):
            weights[whole[len(x)]] += np.exp(lp * len(cover))
    for t, token in enumerate(TOY_TOKENS):  # the extensions of T_n = encode(x)
        if toy_bpe(x + token) == [*toy_bpe(x), t]:
            weights[token[0]] += np.exp(lp * (len(toy_bpe(x)) + 1))
    weights[EOS] = np.exp(lp * (len(toy_bpe(x)) + 1))
    masked = _lm_for(toy_bpe, mask=True)
    unmasked = _lm_for(toy_bpe, mask=False)
    np.testing.assert_allclose(masked.next_byte_probs(x), weights / weights.sum(), atol=1e-12)
    assert np.abs(unmasked.next_byte_probs(x) - weights / weights.sum()).max() > 1e-3


def test_tokens_with_prefix_is_the_sorted_range():
    adapter = TokenizerAdapter(TOY_TOKENS, toy_bpe)
    for prefix in [b"", b"a", b"aa", b"ab", b"b", b"aabb", b"ba"]:
        expected = {i for i, t in enumerate(TOY_TOKENS) if t.startswith(prefix)}
        assert set(adapter.tokens_with_prefix(prefix).tolist()) == expected


def test_naive_and_healing_baselines_on_the_oracle():
    """`init="naive"` is the first-byte marginal after encode(x); `"healing"` constrains the backed-off token."""
    from lexkit.sampling._oracles import OracleLM, markov_strings, naive_next_byte

    strings, _ = markov_strings(b"ab", 8, seed=1)
    oracle = OracleLM(strings, toy_bpe, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS)
    adapter = TokenizerAdapter(TOY_TOKENS, toy_bpe)
    byte_lm = ByteSampler(oracle, adapter)
    checked = 0
    for x in [b"aab", b"abba", b"bbab", b"ab", b"ba", b"bab"]:
        if oracle.next_token_logprobs([toy_bpe(x)])[0][0] == -np.inf:
            continue  # the oracle never emits encode(x) as a prefix: naive prompting is undefined there
        checked += 1
        np.testing.assert_allclose(byte_lm.next_byte_probs(x, init="naive"), naive_next_byte(oracle, adapter, x))
        canonical = toy_bpe(x)
        removed = TOY_TOKENS[canonical[-1]]
        _, rows = oracle.next_token_logprobs([canonical[:-1]])
        healed = np.zeros(EOS + 1)
        for t, token in enumerate(TOY_TOKENS):
            if token.startswith(removed):
                target = token[len(removed)] if len(token) > len(removed) else None
                if target is None:  # the removed token itself: its own next-token distribution follows
                    _, after = oracle.next_token_logprobs([canonical])
                    for u, nxt in enumerate(TOY_TOKENS):
                        healed[nxt[0]] += np.exp(rows[0][t] + after[0][u])
                    healed[EOS] += np.exp(rows[0][t] + after[0][TOY_EOS])
                else:
                    healed[target] += np.exp(rows[0][t])
        np.testing.assert_allclose(byte_lm.next_byte_probs(x, init="healing"), healed / healed.sum(), atol=1e-12)
    assert checked >= 3


def test_adapter_refuses_a_non_byte_level_tokenizer():
    from lexkit import EncodingError, Tokenizer, Vocabulary

    vocabulary = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b")])
    with pytest.raises(EncodingError, match="byte-level BPE"):
        TokenizerAdapter.from_tokenizer(Tokenizer(vocabulary))
