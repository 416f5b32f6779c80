"""The one slow test: SmolLM2-135M (GGUF fixture) gets GPT-2's tokenizer; save, reload, score bits per byte."""

from __future__ import annotations

import math

import pytest
import torch
from _resources import gpt2_tokenizer_json, smollm2_gguf
from transformers import AutoModelForCausalLM

from lexkit.transfer import compare_bpb, evaluate, transplant
from lexkit.transfer._models import load_causal_lm

TEXTS = ["The capital of France is Paris. It is known for the Eiffel Tower and its museums.",
         "To install the package, run the following command and restart the server afterwards."]


@pytest.mark.slow
def test_smollm2_to_gpt2_round_trip_and_bits_per_byte(tmp_path):
    gguf = smollm2_gguf()
    model, _ = load_causal_lm(gguf)  # de-quantized to float32
    original = evaluate(model, gguf, TEXTS)
    result = transplant(model, gpt2_tokenizer_json(), "subword-mean", source_tokenizer=gguf, device="cpu")
    report = result.reports["input"]
    # 36,960 shared strings; GPT-2 has no pad and no chat template, so SmolLM2's <|im_end|> (pad)
    # and <|im_start|> (written by the kept template) are carried with their rows
    assert result.info["special_tokens"]["ids"] == {"<|im_end|>": 50257, "<|im_start|>": 50258}
    assert report.anchors == {"exact": 36961, "role": 2, "total": 36963}
    assert report.counts() == {"copied": 36963, "approximated": 13275, "fallback": 21}  # 21 bytes SmolLM2 lacks
    assert result.info["tied"] and result.info["numeric_probe"]["match"] is False  # digits vs 1-3 digit groups
    out = result.save(tmp_path / "smollm2-gpt2")  # GGUF quantizer markers removed, so this saves
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert reloaded.config.vocab_size == 50259 and reloaded.config.bos_token_id == 50256
    ids = torch.tensor([result.tokenizer("Hello world, transplanted.")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, result.model(ids).logits)
    transplanted = evaluate(reloaded, out, TEXTS)
    delta = compare_bpb(transplanted, original)["overall"].delta
    # measured: 1.085 -> 1.341 bits per byte (+0.256) on these two texts; the run is deterministic on CPU, so the
    # bound 0.30 leaves ~0.04 for library drift only (it was 2.0, which let through 8x the measured loss).
    assert math.isfinite(transplanted.bpb) and 0 < delta < 0.30, (original.bpb, transplanted.bpb)
