"""Byte-level ensembles of LMs with different tokenizers, checked against exact oracles of Markov sources.

Two exact byte LMs of one source, built over different vocabularies (the toy BPE and a second merge-rank BPE
over the same bytes), are both the source; so any mixture of them, and their product with weights summing to 1,
must give the source's transitions at every prefix.
"""

from __future__ import annotations

import numpy as np
import pytest

from lexkit import LexkitError
from lexkit.sampling import EOS, ByteEnsemble, ByteSampler, TokenizerAdapter
from lexkit.sampling._oracles import (
    TOY_EOS,
    TOY_TOKENS,
    OracleLM,
    markov_texts,
    next_byte_truth,
    rank_bpe,
    toy_bpe,
)

OTHER_MERGES = ((b"b", b"a"), (b"b", b"b"), (b"ba", b"a"), (b"a", b"bb"), (b"baa", b"a"))


def members(strings: dict[bytes, float]) -> list[ByteSampler]:
    """Exact byte LMs of ``strings`` through two different tokenizers."""
    other_tokens, other_bpe = rank_bpe(b"ab", OTHER_MERGES)
    first = ByteSampler(OracleLM(strings, toy_bpe, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS),
                   TokenizerAdapter(TOY_TOKENS, toy_bpe))
    second = ByteSampler(OracleLM(strings, other_bpe, vocab_size=len(other_tokens) + 1, eos_id=len(other_tokens)),
                    TokenizerAdapter(other_tokens, other_bpe))
    return [first, second]


def walk(model, truth, combine=None) -> tuple[float, int]:
    """Max |model - expected| over every prefix of positive probability; expected is ``truth`` or ``combine``."""
    worst, nodes = 0.0, 0
    stack = [(b"", model.start(b""))]
    while stack:
        text, state = stack.pop()
        nodes += 1
        got = np.exp(model.next_byte_logprobs(state))
        expected = truth(text) if combine is None else combine(text)
        worst = max(worst, float(np.abs(got - expected).max()))
        stack += [(text + bytes([b]), model.push(state, b)) for b in np.flatnonzero(truth(text)[:EOS]).tolist()]
    return worst, nodes


@pytest.fixture(scope="module")
def source():
    strings = markov_texts([b"a", b"b", b"ab"], 5, seed=8)
    return strings, next_byte_truth(strings)


@pytest.mark.parametrize("mode,weights", [("product", [0.5, 0.5]), ("product", [0.8, 0.2]),
                                          ("mixture", [0.3, 0.7]), ("mixture", None)])
def test_ensemble_of_two_exact_members_is_the_source(source, mode, weights):
    strings, truth = source
    ensemble = ByteEnsemble(members(strings), mode=mode, weights=weights)
    worst, nodes = walk(ensemble, truth)
    assert nodes > 100
    assert worst < 1e-9


def test_product_weights_are_exponents_and_mixture_is_the_weighted_average():
    """Members of two different sources: the combined rows follow the formulas, outcome by outcome."""
    first_strings = markov_texts([b"a", b"b"], 4, seed=1)
    second_strings = markov_texts([b"a", b"b"], 4, seed=2)
    first, second = members(first_strings)[0], members(second_strings)[1]
    t1, t2 = next_byte_truth(first_strings), next_byte_truth(second_strings)

    mixture = ByteEnsemble([first, second], mode="mixture", weights=[1.0, 3.0])
    worst, _ = walk(mixture, lambda y: t1(y) + t2(y), combine=lambda y: 0.25 * t1(y) + 0.75 * t2(y))
    assert worst < 1e-9

    def product(y: bytes) -> np.ndarray:
        with np.errstate(divide="ignore"):
            q = np.exp(0.7 * np.log(t1(y)) + 0.6 * np.log(t2(y)))
        return q / q.sum()

    ensemble = ByteEnsemble([first, second], mode="product", weights=[0.7, 0.6])
    worst, _ = walk(ensemble, lambda y: t1(y) * t2(y), combine=product)
    assert worst < 1e-9


def test_zero_probability_policy():
    """A product vetoes what any member forbids and fails with a clear error when nothing is left; a floor
    lifts the veto; a mixture drops a member that gave the pushed byte probability 0."""
    only_a = {b"aa": 1.0}
    only_b = {b"bb": 1.0}
    a, b = members(only_a)[0], members(only_b)[1]
    with pytest.raises(LexkitError, match="floor="):
        ByteEnsemble([a, b], mode="product").next_byte_probs(b"")
    lifted = ByteEnsemble([a, b], mode="product", floor=1e-3).next_byte_probs(b"")
    np.testing.assert_allclose(lifted[[ord("a"), ord("b")]], [0.5, 0.5])

    mixture = ByteEnsemble([a, b], mode="mixture")
    state = mixture.push(mixture.start(b""), ord("a"))
    assert state.states[1] is None
    assert mixture.next_byte_probs(b"a")[ord("a")] == pytest.approx(1.0)
    assert mixture.generate(b"", 10, temperature=0) in (b"aa", b"bb")
    assert mixture.logprob(b"aa") == pytest.approx(np.log(0.5))


def test_ensemble_of_a_model_with_itself_equals_the_model():
    strings = markov_texts([b"a", b"b"], 4, seed=3)
    member = members(strings)[0]
    ensemble = ByteEnsemble([member, member], mode="product")
    for prefix in [b"", b"a", b"ab", b"bba"]:
        np.testing.assert_allclose(ensemble.next_byte_probs(prefix), member.next_byte_probs(prefix), atol=1e-12)
    assert ensemble.generate(b"a", 8, seed=5) == member.generate(b"a", 8, seed=5)


def test_bad_ensemble_arguments():
    member = members({b"ab": 1.0})[0]
    for kwargs in [{"weights": [1.0]}, {"weights": [-1.0, 2.0]}, {"mode": "average"}, {"floor": 1.5}]:
        with pytest.raises(LexkitError):
            ByteEnsemble([member, member], **kwargs)
    with pytest.raises(LexkitError, match="no members"):
        ByteEnsemble([])


def test_real_tokenizers_gpt2_and_mistral_sentencepiece_ensemble_is_exact():
    """Exact members through GPT-2's byte-level BPE and Mistral's SentencePiece (dummy prefix, byte fallback):
    the product of the two is the source at every prefix, though their token boundaries differ."""
    from _resources import gpt2_tokenizer_json, mistral_sp_model

    from lexkit import Tokenizer
    from lexkit.formats.sentencepiece import from_sentencepiece

    strings = markov_texts([b"a", b"b", b" "], 3, seed=9)
    gpt2 = TokenizerAdapter.from_tokenizer(Tokenizer.load(gpt2_tokenizer_json()))
    mistral = TokenizerAdapter.from_tokenizer(Tokenizer(from_sentencepiece(mistral_sp_model())))
    sp_oracle = OracleLM(strings, lambda x: mistral.encode(b" " + x) if x else [], vocab_size=len(mistral), eos_id=2)
    ensemble = ByteEnsemble([ByteSampler(OracleLM(strings, gpt2.encode, vocab_size=len(gpt2), eos_id=50256), gpt2),
                             ByteSampler(sp_oracle, mistral)], mode="product")
    worst, nodes = walk(ensemble, next_byte_truth(strings))
    assert nodes == len(strings)
    assert worst < 1e-9
