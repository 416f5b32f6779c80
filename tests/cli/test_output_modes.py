"""Outputs of train, convert and transplant are readable by others under umask 0022, as a plain open() makes them."""

from __future__ import annotations

import os
import stat

import pytest
import torch
from click.testing import CliRunner
from transformers import LlamaConfig, LlamaForCausalLM

from lexkit.cli.main import main
from lexkit.embedded import default_corpus
from lexkit.transfer.tokenizer import TransferTokenizer


@pytest.fixture
def umask_0022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(folder) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


def test_train_convert_and_transplant_outputs_are_0644(tmp_path, umask_0022):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(default_corpus("prose")[:10]), encoding="utf-8")
    trained = tmp_path / "bpe"
    result = CliRunner().invoke(main, ["train", "bpe", "-n", "400", "-o", str(trained), "--special-token",
                                       "<|endoftext|>", "--no-progress", str(corpus)])
    assert result.exit_code == 0, result.output
    assert modes(trained) == {"lexkit.json": 0o644, "tokenizer.json": 0o644}

    converted = tmp_path / "vocab.tiktoken"
    result = CliRunner().invoke(main, ["convert", str(trained), "--to", "tiktoken", "-o", str(converted)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(converted.stat().st_mode) == 0o644

    source = tmp_path / "source"
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=400, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(source)
    TransferTokenizer.from_any(trained).hf.save_pretrained(source)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["transplant", "--model", str(source), "--tokenizer", str(trained),
                                       "-o", str(out), "-m", "mean"])
    assert result.exit_code == 0, result.output
    found = modes(out)
    assert "model.safetensors" in found and "transplant_report.json" in found
    assert set(found.values()) == {0o644}, found
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
