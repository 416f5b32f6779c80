"""heal() on tiny in-test Llama models: exact log-probabilities, frozen weights, resume, save/reload, bad input."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from lexkit.errors import LexkitError
from lexkit.transfer import Budget, HealConfig, heal, transplant
from lexkit.transfer.heal import CHECKPOINT_FILE, _Trainer


def run(swapped, teacher, source_tokenizer, texts, steps=6, **options):
    # head-side rows, transformer frozen, unless a test asks for more (the default adds LoRA and the body)
    config = HealConfig(**{"sequence_chars": 300, "learning_rate": 1e-2, "through_body": False, "lora_rank": 0,
                           **options})
    return heal(swapped, teacher, texts, budget=Budget(steps=steps), teacher_tokenizer=source_tokenizer,
                config=config, device="cpu")


def test_student_logprobs_are_the_models_exact_log_softmax(swapped, teacher, source_tokenizer):
    from lexkit.transfer.tokenizer import TransferTokenizer

    student = swapped.model
    trainer = _Trainer(student, TransferTokenizer.from_any(swapped.tokenizer), teacher,
                       TransferTokenizer.from_any(source_tokenizer), HealConfig(lora_rank=0), torch.device("cpu"))
    ids = torch.tensor([swapped.tokenizer("def parse(self, text):\n    return text")["input_ids"]])
    with torch.no_grad():
        expected = torch.log_softmax(student(ids).logits[0, :-1], -1).gather(-1, ids[0, 1:, None]).squeeze(-1)
        hidden = student.base_model(input_ids=ids).last_hidden_state[0, :-1]
    active = trainer.rows_out.active(ids[0])
    rows = trainer.rows_out.matrix[active].clone()
    got = trainer._student_logprobs(hidden, ids[0, 1:], active, rows)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_alm_healing_lowers_its_loss_and_keeps_every_frozen_weight_bit_identical(swapped, teacher, source_tokenizer,
                                                                                   texts):
    before = {k: v.clone() for k, v in swapped.model.state_dict().items()}
    result = run(swapped, teacher, source_tokenizer, texts[:1], steps=24, batch_size=4, loss="alm")  # same pieces
    losses = [h.loss for h in result.history]
    assert len(losses) == 24 and min(losses) >= 0  # binary KL to the teacher's chunk likelihoods
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.7 * first, losses
    after = result.model.state_dict()
    new_rows = torch.tensor([p.status != "copied" for p in swapped.provenance])
    for name, tensor in before.items():
        if name == "model.embed_tokens.weight":
            assert torch.equal(after[name][~new_rows], tensor[~new_rows])  # anchors untouched
            changed = (after[name] != tensor).any(1)
            assert changed[new_rows].sum() == result.info["rows_updated"] > 0
        elif name != "lm_head.weight":  # tied: the same tensor as the embedding
            assert torch.equal(after[name], tensor), name
    assert all(torch.equal(v, swapped.model.state_dict()[k]) for k, v in before.items())  # caller's model kept
    info = result.info
    assert info["trainable_rows"] == int(new_rows.sum())
    assert info["trainable_parameters"] == info["trainable_rows"] * 32
    assert info["tokens_per_second"] > 0 and info["peak_memory_mb"] > 0


def test_next_token_baseline_all_rows_and_through_body_options(swapped, teacher, source_tokenizer, texts):
    plain = run(swapped, teacher, source_tokenizer, texts, steps=3, loss="next-token", rows="all")
    assert plain.info["trainable_rows"] == len(swapped.provenance)
    assert plain.history[0].loss > 1.0  # nats per token, not a chunk distance
    embedding = "model.embed_tokens.weight"
    anchors = torch.tensor([p.status == "copied" for p in swapped.provenance])
    moved = (plain.model.state_dict()[embedding] != swapped.model.state_dict()[embedding]).any(1)
    assert moved[anchors].any()  # rows="all" may move anchors
    head_only = run(swapped, teacher, source_tokenizer, texts, steps=2)
    both = run(swapped, teacher, source_tokenizer, texts, steps=2, through_body=True)
    assert not torch.equal(head_only.model.state_dict()[embedding], both.model.state_dict()[embedding])


def test_untied_student_trains_head_rows_and_keeps_the_rest(teacher, source_tokenizer, target_tokenizer, texts):
    untied = transplant(teacher, target_tokenizer, "mean", source_tokenizer=source_tokenizer, tie="untied",
                        device="cpu")
    result = run(untied, teacher, source_tokenizer, texts, steps=2)
    state, start = result.model.state_dict(), untied.model.state_dict()
    assert not torch.equal(state["lm_head.weight"], start["lm_head.weight"])
    assert torch.equal(state["model.embed_tokens.weight"], start["model.embed_tokens.weight"])  # head side only
    both = run(untied, teacher, source_tokenizer, texts, steps=2, through_body=True)
    assert not torch.equal(both.model.state_dict()["model.embed_tokens.weight"], start["model.embed_tokens.weight"])


def test_resume_from_a_checkpoint_gives_the_uninterrupted_result(swapped, teacher, source_tokenizer, texts, tmp_path):
    straight = run(swapped, teacher, source_tokenizer, texts, steps=4)
    config = HealConfig(sequence_chars=300, learning_rate=1e-2, checkpoint_every=1, through_body=False, lora_rank=0)
    kwargs = {"teacher_tokenizer": source_tokenizer, "config": config, "device": "cpu",
              "checkpoint_dir": tmp_path}
    heal(swapped, teacher, texts, budget=Budget(steps=2), **kwargs)
    assert (tmp_path / CHECKPOINT_FILE).exists()
    resumed = heal(swapped, teacher, texts, budget=Budget(steps=4), **kwargs)
    assert resumed.info["resumed_at"] == 2 and [h.step for h in resumed.history] == [3, 4]
    name = "model.embed_tokens.weight"
    assert torch.equal(resumed.model.state_dict()[name], straight.model.state_dict()[name])
    with pytest.raises(LexkitError, match="another healing run"):
        heal(swapped, teacher, texts, budget=Budget(steps=5), **{**kwargs, "config": HealConfig(learning_rate=0.5)})


def test_saved_result_reloads_with_auto_classes_and_reports_progress(swapped, teacher, source_tokenizer, texts,
                                                                     tmp_path):
    seen = []
    result = heal(swapped, teacher, texts, budget=Budget(steps=2), teacher_tokenizer=source_tokenizer,
                  held_out=texts[-2:], config=HealConfig(sequence_chars=300, eval_every=1), device="cpu",
                  progress=seen.append)
    assert [s.step for s in seen] == [1, 2] and all(s.bpb is not None and s.bpb > 0 for s in seen)
    assert result.info["start_bpb"] > 0 and result.info["final_bpb"] == seen[-1].bpb
    out = result.save(tmp_path / "healed")
    assert (out / "heal_report.json").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    ids = torch.tensor([result.tokenizer("class Parser:\n    pass")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, result.model(ids).logits)


def test_eval_steps_score_the_held_out_slices_at_exactly_those_steps(swapped, teacher, source_tokenizer, texts):
    held_out = {"prose": texts[-2:], "more": texts[-4:-2]}
    seen = []
    result = heal(swapped, teacher, texts, budget=Budget(steps=5), teacher_tokenizer=source_tokenizer,
                  held_out=held_out, config=HealConfig(sequence_chars=300, eval_steps=[2, 5, 9]), device="cpu",
                  progress=seen.append)
    marks = [s for s in seen if s.bpb is not None]
    assert [s.step for s in marks] == [2, 5]  # 9 lies beyond the budget
    assert all(s.bpb_slices is None for s in seen if s.bpb is None)
    for mark in marks:
        assert mark.bpb_slices is not None and set(mark.bpb_slices) == {"prose", "more"}
        low, high = sorted(mark.bpb_slices.values())
        assert low <= mark.bpb <= high  # the overall figure pools the slices' bytes
    assert marks[-1].bpb == result.info["final_bpb"]
    assert result.info["config"]["eval_steps"] == (2, 5, 9)
    with pytest.raises(LexkitError, match="eval_steps"):
        HealConfig(eval_steps=(0, 3))


def test_bad_input_gets_one_line_errors_and_writes_nothing(swapped, teacher, source_tokenizer, texts, make_llama,
                                                          tmp_path):
    other = make_llama(len(source_tokenizer.vocabulary), hidden=48)
    with pytest.raises(LexkitError, match="not the same architecture.*hidden_size 32 vs 48"):
        heal(swapped, other, texts, budget=1, teacher_tokenizer=source_tokenizer)
    for empty in ([], ["   \n"]):
        with pytest.raises(LexkitError, match="holds no text"):
            heal(swapped, teacher, empty, budget=1, teacher_tokenizer=source_tokenizer)
    with pytest.raises(LexkitError, match="too small for one step"):
        Budget(steps=0)
    with pytest.raises(LexkitError, match="budget is empty"):
        Budget()
    with pytest.raises(LexkitError, match="shorter than one healing step"):
        heal(swapped, teacher, texts, budget=1e-7, teacher_tokenizer=source_tokenizer, checkpoint_dir=tmp_path)
    assert not list(tmp_path.iterdir())
    with pytest.raises(LexkitError, match="not a healing loss"):
        HealConfig(loss="kl")  # type: ignore[arg-type]
