"""Bits per byte: equals a hand computation on a tiny model; prefix policy (BOS, EOS, text), batching, slices, comparisons."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lexkit import LexkitError, Tokenizer
from lexkit.transfer import compare_bpb, evaluate
from lexkit.transfer.evaluate import TEXT_PREFIX, chunk_text
from lexkit.transfer.tokenizer import TransferTokenizer
from lexkit.vocab import BPEConfig, train

TEXTS = ["The quick brown fox jumps over the lazy dog; <|endoftext|> is plain text here.",
         "def f(x):\n    return x + 1  # naïve café\n", "Short."]


def hand_nll(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    return -sum(logprobs[i, ids[i + 1]].item() for i in range(len(ids) - 1))


@pytest.fixture
def model(make_llama, target_tokenizer):
    return make_llama(len(target_tokenizer.vocabulary), seed=3)


def test_bits_per_byte_equals_a_hand_computation(model, target_tokenizer):
    result = evaluate(model, target_tokenizer, TEXTS, batch_size=2)
    nll = sum(hand_nll(model, [0, *target_tokenizer.encode_ordinary(text)]) for text in TEXTS)
    size = sum(len(text.encode()) for text in TEXTS)
    assert result.overall.n_bytes == size
    assert result.overall.n_tokens == sum(len(target_tokenizer.encode_ordinary(t)) for t in TEXTS)
    assert result.bpb == pytest.approx(nll / (size * math.log(2)), rel=1e-5)
    assert result.overall.byte_perplexity == pytest.approx(math.exp(nll / size), rel=1e-5)
    assert [d.n_bytes for d in result.slices["all"].documents] == [len(t.encode()) for t in TEXTS]


def test_batching_and_chunking_do_not_change_per_chunk_scores(model, target_tokenizer):
    one = evaluate(model, target_tokenizer, TEXTS, batch_size=1)
    many = evaluate(model, target_tokenizer, TEXTS, batch_size=3)
    assert many.bpb == pytest.approx(one.bpb, rel=1e-5)
    chunked = evaluate(model, target_tokenizer, TEXTS, chunk_chars=20)
    chunks = [c for t in TEXTS for c in chunk_text(t, 20)]
    nll = sum(hand_nll(model, [0, *target_tokenizer.encode_ordinary(c)]) for c in chunks)
    assert chunked.overall.nll == pytest.approx(nll, rel=1e-5)


def test_without_bos_or_eos_a_text_prefix_conditions_the_chunk_and_every_byte_is_scored(make_llama, prose):
    plain = Tokenizer(train(prose[:400], BPEConfig(vocab_size=300), workers=1, progress=False))
    assert TransferTokenizer.from_any(plain).hf.bos_token_id is None
    model = make_llama(300, seed=4)
    text = "Hello there, general reader."
    ids, prefix = plain.encode_ordinary(text), plain.encode_ordinary(TEXT_PREFIX)
    result = evaluate(model, plain, [text])
    assert result.overall.n_bytes == len(text.encode()) and result.overall.n_tokens == len(ids)
    # a causal model: the chunk's terms are the whole sequence's minus the prefix's own
    expected = hand_nll(model, [*prefix, *ids]) - hand_nll(model, prefix)
    assert result.overall.nll == pytest.approx(expected, rel=1e-5)


def test_without_bos_the_eos_token_conditions_the_chunk(model, target_tokenizer):
    from tokenizers import Tokenizer as Backend
    from transformers import PreTrainedTokenizerFast

    from lexkit.formats.hf import dumps, to_hf

    backend = Backend.from_str(dumps(to_hf(target_tokenizer.vocabulary)))
    eos_only = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    assert eos_only.bos_token_id is None and eos_only.eos_token_id == 0
    result = evaluate(model, eos_only, TEXTS)
    assert result.overall.n_bytes == sum(len(t.encode()) for t in TEXTS)
    nll = sum(hand_nll(model, [0, *target_tokenizer.encode_ordinary(text)]) for text in TEXTS)
    assert result.overall.nll == pytest.approx(nll, rel=1e-5)


def test_slices_model_paths_and_comparisons(tmp_path, model, make_llama, target_tokenizer):
    model.save_pretrained(tmp_path / "m")
    TransferTokenizer.from_any(target_tokenizer).hf.save_pretrained(tmp_path / "m")
    result = evaluate(tmp_path / "m", None, {"prose": TEXTS[:1], "code": TEXTS[1:]})
    assert set(result.slices) == {"prose", "code"}
    assert result.overall.n_bytes == result.slices["prose"].n_bytes + result.slices["code"].n_bytes
    assert result.to_json()["slices"]["code"]["documents"] == 2
    variant = make_llama(len(target_tokenizer.vocabulary), seed=5)
    compared = compare_bpb(evaluate(variant, target_tokenizer, {"prose": TEXTS[:1], "code": TEXTS[1:]}), result)

    def bits(lm, texts):  # hand bits per byte over ``texts``, BOS 0 first
        nll = sum(hand_nll(lm, [0, *target_tokenizer.encode_ordinary(t)]) for t in texts)
        return nll / (sum(len(t.encode()) for t in texts) * math.log(2))

    delta = bits(variant, TEXTS) - bits(model, TEXTS)
    assert compared["overall"].delta == pytest.approx(delta, rel=1e-5)
    assert compared["overall"].ratio == pytest.approx(2 ** delta, rel=1e-5)
    # one prose document: every bootstrap resample is that document, so the interval is the point
    prose = bits(variant, TEXTS[:1]) - bits(model, TEXTS[:1])
    assert compared["prose"].low == pytest.approx(prose, rel=1e-5) == compared["prose"].high
    # two code documents: resamples {a, a}, {a, b}, {b, b}; a quarter of 1000 draws are each pure one, so the 2.5th
    # and 97.5th percentiles are the two single-document deltas
    singles = [bits(variant, [t]) - bits(model, [t]) for t in TEXTS[1:]]
    assert (compared["code"].low, compared["code"].high) == pytest.approx((min(singles), max(singles)), rel=1e-5)
    other = evaluate(model, target_tokenizer, {"prose": TEXTS[:1], "code": TEXTS[1:2]})  # one code text fewer
    with pytest.raises(LexkitError, match="different documents"):
        compare_bpb(other, result)


def test_bad_evaluation_input(model, make_llama, target_tokenizer):
    cases = [
        (lambda: evaluate(model, target_tokenizer, "just one string"), "non-empty list"),
        (lambda: evaluate(model, target_tokenizer, []), "non-empty list"),
        (lambda: evaluate(make_llama(300), target_tokenizer, TEXTS), "do not belong together"),
        (lambda: evaluate(model, target_tokenizer, ["word " * 3000], chunk_chars=20000), "context is 512"),
        (lambda: evaluate(model, None, TEXTS), "tokenizer is unknown"),
        (lambda: evaluate(model, target_tokenizer, TEXTS, chunk_chars=0), "must be positive"),
    ]
    for call, message in cases:
        with pytest.raises(LexkitError, match=message):
            call()


@given(st.text(alphabet="ab \n", max_size=300), st.integers(min_value=1, max_value=40))
def test_chunking_is_lossless_and_bounded(text, size):
    chunks = chunk_text(text, size)
    assert "".join(chunks) == text
    assert all(0 < len(c) <= size for c in chunks)
    assert chunk_text(text, size) == chunks


def test_chunks_encode_through_the_engine_and_fall_back_to_transformers_on_a_disagreement(
        model, target_tokenizer, monkeypatch, caplog):
    side = TransferTokenizer.from_any(target_tokenizer)
    hf_tokens = sum(len(side.hf(t, add_special_tokens=False, split_special_tokens=True)["input_ids"]) for t in TEXTS)
    engine = evaluate(model, target_tokenizer, TEXTS)
    assert engine.overall.n_tokens == hf_tokens
    real = Tokenizer.encode_batch_flat

    def shifted(self, texts, **options):
        ids, offsets = real(self, texts, **options)
        return ids + 1, offsets

    monkeypatch.setattr(Tokenizer, "encode_batch_flat", shifted)
    fallback = evaluate(model, target_tokenizer, TEXTS)
    assert "disagree" in caplog.text
    assert fallback.bpb == pytest.approx(engine.bpb, rel=1e-6) and fallback.overall.n_tokens == hf_tokens
