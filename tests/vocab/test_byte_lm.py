"""Byte LMs behind ByteSpan: the n-gram model against a brute-force oracle, the transformer, the HF adapter, and
the checks that turn a misbehaving model into a clear error."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from lexkit.errors import ByteLMError
from lexkit.vocab.byte_lm import ByteSignals, checked_scores, load_byte_lm
from lexkit.vocab.byte_lm.ngram import NgramByteLM
from lexkit.vocab.byte_lm.transformer import TransformerByteLM, TransformerByteLMConfig

TINY = TransformerByteLMConfig(d_model=16, layers=1, heads=2, context=16, steps=60, batch_size=8,
                               learning_rate=1e-2)


def _random_texts(seed: int, count: int = 120) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.choice(b"abcde ") for _ in range(rng.randint(1, 30))) for _ in range(count)]


def _oracle(texts: list[bytes], order: int):
    """Witten-Bell interpolation computed the slow way: the full next-byte distribution per context."""
    tables = {k: Counter((t[i - k:i], t[i]) for t in texts for i in range(k, len(t))) for k in range(1, order)}
    unigram = Counter(b for t in texts for b in t)
    total = sum(unigram.values())

    def prob(byte: int, context: bytes) -> float:
        if not context:
            return (unigram[byte] + 1) / (total + 256)
        table = tables[len(context)]
        seen = {b: n for (c, b), n in table.items() if c == context}
        if not seen:
            return prob(byte, context[1:])
        count, types = sum(seen.values()), len(seen)
        return (seen.get(byte, 0) + types * prob(byte, context[1:])) / (count + types)

    return prob


def test_ngram_matches_the_brute_force_interpolated_model():
    texts = _random_texts(0)
    lm = NgramByteLM.train(texts, order=4)
    prob = _oracle(texts, 4)
    probes = [b"abcab", b"eee d", b"zzab", b"a"]
    for text, signals in zip(probes, lm.score(probes)):
        for i in range(len(text)):
            context = text[max(0, i - 3):i]
            while context and not any(c == context for c, _ in _context_keys(texts, len(context))):
                context = context[1:]  # the model backs off to the longest context seen in training
            dist = np.array([prob(b, context) for b in range(256)])
            assert dist.sum() == pytest.approx(1.0)
            assert signals.surprisal[i] == pytest.approx(-math.log(dist[text[i]]), abs=1e-9)
            assert signals.entropy[i] == pytest.approx(float(-(dist * np.log(dist)).sum()), abs=1e-9)


def _context_keys(texts: list[bytes], k: int) -> set[tuple[bytes, int]]:
    return {(t[i - k:i], t[i]) for t in texts for i in range(k, len(t))}


def test_ngram_learns_structure_and_round_trips_through_a_file(tmp_path):
    lm = NgramByteLM.train([b"the cat sat on the mat. " * 20], order=5)
    signals = lm.score([b"the cat sat"])[0]
    assert signals.surprisal[0] > signals.surprisal[-1]  # 't' after "e ca" is near certain
    lm.save(tmp_path)
    again = load_byte_lm(tmp_path)
    assert isinstance(again, NgramByteLM)
    probe = [b"the mat", b"xyz"]
    for a, b in zip(lm.score(probe), again.score(probe)):
        assert np.array_equal(a.surprisal, b.surprisal) and np.array_equal(a.entropy, b.entropy)


def test_ngram_rejects_an_unsupported_order():
    with pytest.raises(ByteLMError, match="order 9"):
        NgramByteLM.train([b"abc"], order=9)


class _Broken:
    """A byte LM that misbehaves in one chosen way."""

    name = "broken"

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def score(self, texts):
        out = [ByteSignals(np.ones(len(t)), np.ones(len(t))) for t in texts]
        if self.fault == "count":
            return out[:-1]
        if self.fault == "shape":
            return [ByteSignals(np.ones(len(t) + 1), np.ones(len(t))) for t in texts]
        if self.fault == "nan":
            out[0].entropy[1] = np.nan
        if self.fault == "negative":
            out[0].surprisal[0] = -2.0
        if self.fault == "entropy":
            out[0].entropy[0] = 9.0
        return out


@pytest.mark.parametrize(("fault", "message"), [
    ("count", "returned 1 results for 2 texts"),
    ("shape", r"surprisal of shape \(4,\) for text 0 of 3 bytes"),
    ("nan", "returned nan as entropy at byte 1 of text 0"),
    ("negative", "surprisal -2 at byte 0"),
    ("entropy", "entropy 9 at byte 0"),
])
def test_misbehaving_byte_lms_are_rejected_clearly(fault, message):
    with pytest.raises(ByteLMError, match=message):
        checked_scores(_Broken(fault), [b"abc", b"de"])


def test_transformer_trains_saves_and_loads(tmp_path):
    texts = [b"abcabcabcabcabcabcabc"] * 8
    untrained = TransformerByteLM.train(texts, TransformerByteLMConfig(**{**TINY.__dict__, "steps": 1}))
    lm = TransformerByteLM.train(texts, TINY)
    assert lm.history["steps"] == TINY.steps
    before = untrained.score([b"abcabcabc"])[0].surprisal[3:].mean()
    after = lm.score([b"abcabcabc"])[0].surprisal[3:].mean()
    assert after < before / 2  # the pattern was learned
    lm.save(tmp_path / "lm")
    again = load_byte_lm(tmp_path / "lm")
    assert isinstance(again, TransformerByteLM)
    a, b = lm.score([b"cabca"])[0], again.score([b"cabca"])[0]
    np.testing.assert_allclose(a.entropy, b.entropy, rtol=1e-5)
    with pytest.raises(ByteLMError, match="not a lexkit byte transformer"):
        (tmp_path / "lm" / "byte_lm.pt").write_bytes(b"junk")
        TransformerByteLM.load(tmp_path / "lm")


def test_sliding_windows_cover_long_texts_and_agree_with_one_pass_on_short_ones():
    import torch

    lm = TransformerByteLM.train([b"hello world " * 4], TINY)
    long_text = b"hello world " * 10  # 120 bytes, context 16
    signals = checked_scores(lm, [long_text, b"hi"])
    assert signals[0].entropy.shape == (120,) and signals[1].surprisal.shape == (2,)
    # One pass by hand over a text that fits one window.
    text = b"hello wor"
    with torch.inference_mode():
        logits = lm.model(torch.tensor([[256, *text[:-1]]]))
        log_probs = torch.log_softmax(logits, -1)[0]
    expected = -log_probs[torch.arange(len(text)), torch.tensor(list(text))].numpy()
    np.testing.assert_allclose(lm.score([text])[0].surprisal, expected, rtol=1e-5, atol=1e-6)


def test_hf_causal_lm_over_bytes_is_accepted(tmp_path):
    import torch
    import transformers

    from lexkit.vocab.byte_lm.hf import HFByteLM, byte_token_ids

    tokenizer = transformers.ByT5Tokenizer()
    ids = byte_token_ids(tokenizer)
    assert ids.tolist() == [b + 3 for b in range(256)]  # ByT5: pad, eos, unk, then the bytes
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=259, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
    model = transformers.LlamaForCausalLM(config)
    lm = HFByteLM(model, ids, bos_id=tokenizer.eos_token_id)
    text = b"byte level"
    signals = checked_scores(lm, [text, b"x" * 70])[0]  # the second text needs several windows
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([[1, *(b + 3 for b in text[:-1])]])).logits[0][:, 3:]
    log_probs = torch.log_softmax(logits, -1)  # renormalised over the byte tokens only
    np.testing.assert_allclose(signals.entropy, -(log_probs.exp() * log_probs).sum(-1).numpy(), rtol=1e-5)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_byte_lm(tmp_path)  # a folder with config.json: the HF adapter, byte ids found from the tokenizer
    assert isinstance(loaded, HFByteLM) and loaded.byte_ids.tolist() == ids.tolist()
    np.testing.assert_allclose(loaded.score([text])[0].entropy, signals.entropy, rtol=1e-5)

    class WordTokenizer:  # a vocabulary of words, not bytes
        unk_token_id = 0

        def convert_tokens_to_ids(self, token: str) -> int:
            return 0

    with pytest.raises(ByteLMError, match="has no token for each of the 256 bytes"):
        byte_token_ids(WordTokenizer())


def test_load_byte_lm_names_what_it_looked_for(tmp_path):
    with pytest.raises(ByteLMError, match="no byte LM found"):
        load_byte_lm(tmp_path)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy CI machine spinning threads cost seconds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
