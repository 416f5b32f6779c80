"""heal() in bf16 on tiny in-test Llama models, on the CPU: the code path a GPU runs with ``dtype="bfloat16"``.

bf16 autocast for the transformer bodies, float32 master rows, adapters and softmax; a model loaded in bf16
keeps its dtype. Seconds each.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from lexkit.errors import LexkitError
from lexkit.transfer import Budget, HealConfig, heal, transplant
from lexkit.transfer._heal_precision import resolve_precision
from lexkit.transfer._heal_rows import RowAdam
from lexkit.transfer.heal import CHECKPOINT_FILE

EMBEDDING = "model.embed_tokens.weight"


@pytest.fixture(scope="module")
def bf16_teacher(source_tokenizer, make_llama):
    """The tiny teacher, loaded in bf16."""
    return make_llama(len(source_tokenizer.vocabulary), seed=1, dtype=torch.bfloat16)


@pytest.fixture(scope="module")
def bf16_swapped(bf16_teacher, source_tokenizer, target_tokenizer):
    """The bf16 teacher moved to the target tokenizer (the transplant keeps bf16)."""
    result = transplant(bf16_teacher, target_tokenizer, "mean", source_tokenizer=source_tokenizer, device="cpu")
    assert result.model.get_input_embeddings().weight.dtype == torch.bfloat16
    return result


def bf16_heal(swapped, teacher, source_tokenizer, texts, steps, **options):
    kwargs = {k: options.pop(k) for k in ("checkpoint_dir",) if k in options}
    config = HealConfig(**{"sequence_chars": 300, "learning_rate": 1e-2, "dtype": "bfloat16", **options})
    return heal(swapped, teacher, texts, budget=Budget(steps=steps), teacher_tokenizer=source_tokenizer,
                config=config, device="cpu", **kwargs)


def test_auto_is_float32_on_the_cpu_and_bad_names_are_refused():
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    assert resolve_precision("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(LexkitError, match="not a healing precision"):
        HealConfig(dtype="float16")  # type: ignore[arg-type]


def test_row_adam_keeps_float32_masters_so_steps_below_a_bf16_rounding_add_up():
    matrix = torch.ones(4, 8, dtype=torch.bfloat16)
    adam = RowAdam(matrix, torch.tensor([True, True, False, True]), lr=1e-4)  # one step: 1e-4 < half a bf16 ulp
    rows = torch.tensor([0, 1])
    for _ in range(100):
        adam.step(rows, torch.ones(2, 8))
    torch.testing.assert_close(adam.values(rows), torch.full((2, 8), 1 - 100 * 1e-4), atol=1e-5, rtol=0)
    assert (matrix[:2] < 1).all() and (matrix[2:] == 1).all()  # the rounding of the masters; others untouched
    naive = torch.ones(8, dtype=torch.bfloat16)
    assert torch.equal((naive.float() - 1e-4).to(torch.bfloat16), naive)  # what bf16 storage alone would lose
    restored = RowAdam(torch.ones(4, 8, dtype=torch.bfloat16), adam.trainable, lr=1e-4)
    restored.load_state(adam.state())
    assert torch.equal(restored.values(rows), adam.values(rows))


def test_bf16_heal_lowers_its_loss_keeps_frozen_weights_and_the_dtype(bf16_swapped, bf16_teacher, source_tokenizer,
                                                                     texts):
    before = {k: v.clone() for k, v in bf16_swapped.model.state_dict().items()}
    result = bf16_heal(bf16_swapped, bf16_teacher, source_tokenizer, texts[:1], steps=24, batch_size=4,
                       through_body=False, lora_rank=0, loss="alm")
    losses = [h.loss for h in result.history]
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.7 * first, losses
    after = result.model.state_dict()
    assert all(t.dtype == before[k].dtype for k, t in after.items())
    new_rows = torch.tensor([p.status != "copied" for p in bf16_swapped.provenance])
    for name, tensor in before.items():
        if name == EMBEDDING:
            assert torch.equal(after[name][~new_rows], tensor[~new_rows])
            assert (after[name] != tensor).any(1)[new_rows].sum() == result.info["rows_updated"] > 0
        elif name != "lm_head.weight":
            assert torch.equal(after[name], tensor), name
    assert result.info["compute_dtype"] == "bfloat16" and result.info["model_dtype"] == "bfloat16"


def test_bf16_autocast_is_what_runs_and_stays_close_to_float32(swapped, teacher, source_tokenizer, texts):
    # a float32 model: bf16 autocast changes the numbers a little, float32 results stay as they were
    options = {"sequence_chars": 300, "learning_rate": 1e-2, "through_body": True, "lora_rank": 4}
    runs = {dtype: heal(swapped, teacher, texts, budget=Budget(steps=3), teacher_tokenizer=source_tokenizer,
                        config=HealConfig(**options, dtype=dtype), device="cpu")
            for dtype in ("float32", "auto", "bfloat16")}
    assert torch.equal(runs["auto"].model.state_dict()[EMBEDDING], runs["float32"].model.state_dict()[EMBEDDING])
    exact, mixed = runs["float32"].history[0].loss, runs["bfloat16"].history[0].loss
    assert exact != mixed and abs(mixed - exact) < 0.05 * exact, (exact, mixed)
    assert runs["bfloat16"].model.get_input_embeddings().weight.dtype == torch.float32  # stored dtype kept


def test_bf16_checkpoints_resume_to_the_uninterrupted_result(bf16_swapped, bf16_teacher, source_tokenizer, texts,
                                                             tmp_path):
    options = {"lora_rank": 4, "checkpoint_every": 1}  # rows from both sides and adapters: the default path
    straight = bf16_heal(bf16_swapped, bf16_teacher, source_tokenizer, texts, steps=4, **options)
    bf16_heal(bf16_swapped, bf16_teacher, source_tokenizer, texts, steps=2, checkpoint_dir=tmp_path, **options)
    assert (tmp_path / CHECKPOINT_FILE).exists()
    resumed = bf16_heal(bf16_swapped, bf16_teacher, source_tokenizer, texts, steps=4, checkpoint_dir=tmp_path,
                        **options)
    assert resumed.info["resumed_at"] == 2
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
    with pytest.raises(LexkitError, match="another healing run"):  # a float32 run does not take a bf16 checkpoint
        bf16_heal(bf16_swapped, bf16_teacher, source_tokenizer, texts, steps=5, checkpoint_dir=tmp_path,
                  **{**options, "dtype": "float32"})


def test_bf16_result_reloads_with_auto_classes_in_bf16(bf16_swapped, bf16_teacher, source_tokenizer, texts,
                                                        tmp_path):
    for dtype in ("bfloat16", "float32"):  # a float32 run of a bf16 model trains a float32 copy, saves bf16
        result = bf16_heal(bf16_swapped, bf16_teacher, source_tokenizer, texts, steps=2, lora_rank=4, dtype=dtype)
        out = result.save(tmp_path / dtype)
        reloaded = AutoModelForCausalLM.from_pretrained(out)
        assert reloaded.dtype == torch.bfloat16 and result.model.dtype == torch.bfloat16
        for name, tensor in result.model.state_dict().items():
            assert torch.equal(reloaded.state_dict()[name], tensor), name
        start = bf16_swapped.model.state_dict()
        frozen = [k for k in start if "embed" not in k and "lm_head" not in k and "q_proj" not in k
                  and "v_proj" not in k]
        assert frozen and all(torch.equal(reloaded.state_dict()[k], start[k]) for k in frozen)
