"""``lexkit heal``: a happy path that resumes from its checkpoint, and one-line errors that write nothing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

from lexkit.cli.main import main
from lexkit.embedded import default_corpus
from lexkit.transfer import transplant
from lexkit.transfer.tokenizer import TransferTokenizer


@pytest.fixture
def folders(tmp_path, make_llama, source_tokenizer, target_tokenizer):
    teacher = tmp_path / "teacher"
    model = make_llama(len(source_tokenizer.vocabulary), seed=1)
    model.save_pretrained(teacher)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(teacher)
    student = transplant(model, target_tokenizer, "mean", source_tokenizer=source_tokenizer, device="cpu")
    student.save(tmp_path / "student")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(default_corpus("prose")[:12]), encoding="utf-8")
    return tmp_path / "student", teacher, corpus


def test_heal_writes_a_reloadable_folder_and_resumes(tmp_path, folders):
    student, teacher, corpus = folders
    out = tmp_path / "healed"
    args = ["heal", "--model", str(student), "--teacher", str(teacher), "--corpus", str(corpus), "--steps", "2",
            "--sequence-chars", "300", "--held-out-documents", "2", "-o", str(out)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "step 2: loss" in first.stdout and "held-out bits per byte" in first.stdout and "wrote" in first.stdout
    assert (tmp_path / "healed.heal-checkpoint" / "heal_checkpoint.pt").exists()
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size == 460
    again = CliRunner().invoke(main, [*args[:8], "3", *args[9:], "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["resumed_at"] == 2 and [h["step"] for h in report["history"]] == [3]


def test_heal_with_lora_adapters_and_eval_steps(tmp_path, folders):
    student, teacher, corpus = folders
    out = tmp_path / "healed"
    args = ["heal", "--model", str(student), "--teacher", str(teacher), "--corpus", str(corpus), "--steps", "2",
            "--sequence-chars", "300", "--held-out-documents", "2", "--lora-rank", "2", "--eval-steps", "1",
            "-o", str(out), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["lora_layers"] == 4 and report["config"]["lora_rank"] == 2
    assert [h["bpb"] is not None for h in report["history"]] == [True, False]
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name, _ in reloaded.named_parameters())


def test_heal_dtype_bfloat16_heals_a_bf16_model_and_saves_it_in_bf16(tmp_path, make_llama, source_tokenizer,
                                                                       target_tokenizer):
    import torch

    teacher = tmp_path / "teacher"
    model = make_llama(len(source_tokenizer.vocabulary), seed=1, dtype=torch.bfloat16)
    model.save_pretrained(teacher)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(teacher)
    transplant(model, target_tokenizer, "mean", source_tokenizer=source_tokenizer, device="cpu").save(
        tmp_path / "student")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(default_corpus("prose")[:6]), encoding="utf-8")
    out = tmp_path / "healed"
    result = CliRunner().invoke(main, ["heal", "--model", str(tmp_path / "student"), "--teacher", str(teacher),
                                       "--corpus", str(corpus), "--steps", "1", "--sequence-chars", "300",
                                       "--held-out-documents", "0", "--lora-rank", "2", "--dtype", "bfloat16",
                                       "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["compute_dtype"], report["model_dtype"], report["config"]["dtype"]) == ("bfloat16",) * 3
    assert AutoModelForCausalLM.from_pretrained(out).dtype == torch.bfloat16


def test_heal_errors_are_one_line_and_leave_nothing(tmp_path, folders, make_llama):
    student, teacher, corpus = folders
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    out = tmp_path / "healed"
    base = ["heal", "--model", str(student), "--teacher", str(teacher), "-o", str(out), "--sequence-chars", "300"]
    cases = [
        ([*base, "--corpus", str(empty), "--steps", "1"], "holds no text"),
        ([*base, "--corpus", str(corpus)], "no budget"),
        ([*base, "--corpus", str(corpus), "--minutes", "0.0000001"], "shorter than one healing step"),
    ]
    other = tmp_path / "other"
    make_llama(455, hidden=48).save_pretrained(other)
    TransferTokenizer.from_any(teacher).hf.save_pretrained(other)
    cases.append((["heal", "--model", str(student), "--teacher", str(other), "-o", str(out), "--corpus",
                   str(corpus), "--steps", "1"], "not the same architecture"))
    for args, message in cases:
        result = CliRunner().invoke(main, args)
        errors = [line for line in result.output.splitlines() if "error:" in line]  # besides progress bars
        assert result.exit_code != 0 and len(errors) == 1 and message in errors[0], result.output
        assert not out.exists()


def test_cli_learning_rate_default_is_heal_configs():
    from lexkit.cli.adapt import adapt_command
    from lexkit.cli.heal import heal
    from lexkit.transfer import HealConfig

    for command in (heal, adapt_command):
        option = next(p for p in command.params if p.name == "learning_rate")
        assert option.default == HealConfig().learning_rate == 3e-3  # the measured default (docs/healing.md)


def test_cli_capacity_defaults_are_heal_configs():
    from lexkit.cli.adapt import adapt_command
    from lexkit.cli.heal import heal
    from lexkit.transfer import HealConfig

    defaults = {p.name: p.default for p in heal.params}
    config = HealConfig()  # the measured default (docs/healing.md): rows from both sides plus rank-8 LoRA
    assert (defaults["through_body"], defaults["lora_rank"]) == (config.through_body, config.lora_rank) == (True, 8)
    adapt_defaults = {p.name: p.default for p in adapt_command.params}
    assert (adapt_defaults["through_body"], adapt_defaults["lora_rank"]) == (config.through_body, config.lora_rank)
    assert defaults["dtype"] == adapt_defaults["dtype"] == config.dtype == "auto"
