"""The real-model healing test: SmolLM2-135M (GGUF fixture) swapped to GPT-2's tokenizer, then healed briefly.

The mean init leaves GPT-2's 13k new rows at one shared vector; a few steps of either loss (next-token, the
default, and approximate likelihood matching to the original SmolLM2) must lower held-out bits per byte by a
margin, leave every frozen weight as it was, and save a folder the Auto classes reload.
"""

from __future__ import annotations

import pytest
import torch
from _resources import corpus_path, gpt2_tokenizer_json, smollm2_gguf
from transformers import AutoModelForCausalLM

from lexkit.transfer import Budget, HealConfig, heal, transplant
from lexkit.transfer._models import load_causal_lm

STEPS = 8
MARGIN = 0.005  # bits per byte the short heal must gain on held-out text (measured, ALM: 1.9846 -> 1.9726)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["next-token", "alm"])
def test_short_heal_of_smollm2_with_gpt2_tokenizer_lowers_held_out_bits_per_byte(tmp_path, loss):
    gguf = smollm2_gguf()
    teacher, _ = load_causal_lm(gguf)
    swapped = transplant(teacher, gpt2_tokenizer_json(), "mean", source_tokenizer=gguf, device="cpu")
    text = corpus_path().read_bytes()[:300_000].decode("utf-8", errors="ignore")
    train = [text[i:i + 4000] for i in range(0, 200_000, 4000)]
    held_out = [text[i:i + 300] for i in range(200_000, 300_000, 20_000)]  # disjoint from the training text
    result = heal(swapped, teacher, train, budget=Budget(steps=STEPS), teacher_tokenizer=gguf, device="cpu",
                  held_out=held_out, config=HealConfig(loss=loss, learning_rate=1e-2, batch_size=2, sequence_chars=500,
                                                      through_body=False, lora_rank=0))  # rows only
    start, healed = result.info["start_bpb"], result.info["final_bpb"]
    assert result.info["teacher_bpb"] < healed < start - MARGIN, (result.info["teacher_bpb"], start, healed)
    before, after = swapped.model.state_dict(), result.model.state_dict()
    new_rows = torch.tensor([p.status != "copied" for p in swapped.provenance])
    embedding = "model.embed_tokens.weight"
    assert torch.equal(after[embedding][~new_rows], before[embedding][~new_rows])
    assert all(torch.equal(after[k], v) for k, v in before.items() if k not in (embedding, "lm_head.weight"))
    out = result.save(tmp_path / "healed")
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(reloaded.get_input_embeddings().weight, result.model.get_input_embeddings().weight)
