"""LoRA adapters in healing, on tiny in-test Llama models: frozen weights untouched, exact merge, resume, reload."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from lexkit.errors import LexkitError
from lexkit.transfer import Budget, HealConfig, heal
from lexkit.transfer._heal_lora import LoRALinear, attach_lora, lora_parameters, merge_lora

ADAPTED = ("q_proj", "v_proj")
ADAPTER_PARAMETERS = 2 * 4 * (32 + 32) + 2 * 4 * (32 + 16)  # 2 layers, rank 4: q 32->32, v 32->16 (2 KV heads)


def lora_heal(swapped, teacher, source_tokenizer, texts, steps, **options):
    config = HealConfig(**{"sequence_chars": 300, "learning_rate": 1e-2, "lora_rank": 4, **options})
    return heal(swapped, teacher, texts, budget=Budget(steps=steps), teacher_tokenizer=source_tokenizer,
                config=config, device="cpu")


def test_adapters_train_beside_bit_identical_weights_and_merge_to_the_same_function(make_llama):
    model = make_llama(100, seed=3)
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    names = attach_lora(model.base_model, ADAPTED, rank=4, alpha=8.0, seed=0)
    assert names == [f"layers.{i}.self_attn.{p}" for i in range(2) for p in ADAPTED]
    adapters = lora_parameters(model.base_model)
    assert sum(p.numel() for p in adapters) == ADAPTER_PARAMETERS and all(p.requires_grad for p in adapters)
    ids = torch.tensor([[5, 9, 17, 3, 44, 2]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, frozen_model_logits(make_llama, frozen, ids))  # B = 0
    optimizer = torch.optim.Adam(adapters, lr=1e-2)
    for _ in range(3):
        model(ids).logits.logsumexp(-1).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    wrapped = {n: m.base.weight for n, m in model.base_model.named_modules() if isinstance(m, LoRALinear)}
    for name, weight in wrapped.items():
        assert torch.equal(weight, frozen[f"model.{name}.weight"]), name  # never written while training
    with torch.no_grad():
        adapted = model(ids).logits
        assert not torch.allclose(adapted, frozen_model_logits(make_llama, frozen, ids))
        assert merge_lora(model.base_model) == 4
        torch.testing.assert_close(model(ids).logits, adapted, atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert set(model.state_dict()) == set(frozen)  # plain layers again: the original's state-dict names


def frozen_model_logits(make_llama, state, ids):
    plain = make_llama(100, seed=3)
    plain.load_state_dict(state)
    with torch.no_grad():
        return plain(ids).logits


def test_heal_with_lora_trains_rows_and_adapters_resumes_and_reloads(swapped, teacher, source_tokenizer, texts,
                                                                     tmp_path):
    result = lora_heal(swapped, teacher, source_tokenizer, texts, steps=3)
    info = result.info
    assert info["lora_layers"] == 4
    assert info["trainable_parameters"] == info["trainable_rows"] * 32 + ADAPTER_PARAMETERS
    start, after = swapped.model.state_dict(), result.model.state_dict()
    assert set(after) == set(start)
    for name, tensor in start.items():
        adapted = name.endswith(("q_proj.weight", "v_proj.weight"))
        if name in ("model.embed_tokens.weight", "lm_head.weight") or adapted:
            assert not torch.equal(after[name], tensor), name  # rows and merged adapters moved
        else:
            assert torch.equal(after[name], tensor), name
    rows_only = heal(swapped, teacher, texts, budget=Budget(steps=3), teacher_tokenizer=source_tokenizer,
                     config=HealConfig(sequence_chars=300, learning_rate=1e-2, lora_rank=0), device="cpu")
    name = "model.embed_tokens.weight"
    assert not torch.equal(rows_only.model.state_dict()[name], after[name])  # the adapters changed the rows' path

    kwargs = {"teacher_tokenizer": source_tokenizer, "device": "cpu", "checkpoint_dir": tmp_path / "ckpt",
              "config": HealConfig(sequence_chars=300, learning_rate=1e-2, lora_rank=4, checkpoint_every=1)}
    heal(swapped, teacher, texts, budget=Budget(steps=2), **kwargs)
    resumed = heal(swapped, teacher, texts, budget=Budget(steps=3), **kwargs)
    assert resumed.info["resumed_at"] == 2
    for key, tensor in after.items():
        torch.testing.assert_close(resumed.model.state_dict()[key], tensor, atol=0, rtol=0, msg=key)

    out = result.save(tmp_path / "healed")
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    ids = torch.tensor([result.tokenizer("class Parser:\n    pass")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, result.model(ids).logits)


def test_lora_options_are_checked(swapped, teacher, source_tokenizer, texts):
    with pytest.raises(LexkitError, match="lora_rank"):
        HealConfig(lora_rank=-1)
    with pytest.raises(LexkitError, match="lora_targets is empty"):
        HealConfig(lora_rank=2, lora_targets=())
    with pytest.raises(LexkitError, match="no linear layer is named wq"):
        lora_heal(swapped, teacher, source_tokenizer, texts, steps=1, lora_targets=("wq",))
