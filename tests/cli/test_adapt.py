"""``lexkit adapt`` on a tiny model: the whole workflow, its report against an independent recomputation, resuming,
and one-line errors that write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _resources import minilm_dir
from click.testing import CliRunner
from transformers import AutoModelForCausalLM, AutoTokenizer

from lexkit import LexkitError
from lexkit.cli.adapt import REPORT_HTML, REPORT_JSON, adapt, replay_pieces, split_held_out, tokens_per_byte
from lexkit.cli.main import main
from lexkit.embedded import default_corpus
from lexkit.transfer import HealConfig, evaluate
from lexkit.transfer.evaluate import chunk_text
from lexkit.transfer.tokenizer import TransferTokenizer

VOCAB = 420
CHARS = 300


class HashEmbedder:
    """A stand-in auxiliary space for unit tests: a fixed random vector per string (deterministic)."""

    def embed(self, texts):
        return np.stack([np.random.default_rng(sum(t.encode())).standard_normal(16) for t in texts]).astype("float32")


@pytest.fixture
def model_dir(tmp_path, make_llama, source_tokenizer):
    """A tiny 2-layer Llama saved with its prose-trained tokenizer."""
    folder = tmp_path / "model"
    make_llama(len(source_tokenizer.vocabulary), seed=1).save_pretrained(folder)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def code_text() -> str:
    """The domain: Python source, which the prose tokenizer cuts into many pieces."""
    return "\n".join(default_corpus("code")[:3])[:40_000]


def test_split_holds_out_the_tail_of_every_text():
    first, second = "a " * 500, "b " * 500
    training, held_out = split_held_out([first, second], fraction=0.2, chunk_chars=100)
    assert len(training) == 16 and len(held_out) == 4
    assert held_out == ["a " * 50] * 2 + ["b " * 50] * 2 and "".join(training + held_out).count("a") == 500


def test_adapt_api_report_matches_an_independent_recomputation(tmp_path, model_dir, code_text):
    out = tmp_path / "adapted"
    lines: list[str] = []
    report = adapt(model_dir, [code_text], vocabulary="replace", vocab_size=VOCAB, output=out, aux=HashEmbedder(),
                   steps=2, general=["\n".join(default_corpus("prose")[:40])], eval_documents=4, device="cpu",
                   workers=1,
                   heal_config=HealConfig(sequence_chars=CHARS, batch_size=2), echo=lines.append)
    assert [line[:5] for line in lines if line.startswith("[")] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]
    assert set(report.stages) == {"train", "transplant", "heal", "evaluate", "write"}
    # Written: a model and tokenizer the Auto classes reload, the lexkit tokenizer, both reports; no work folder.
    assert {"config.json", "tokenizer.json", "tokenizer", REPORT_JSON, REPORT_HTML} <= {p.name for p in out.iterdir()}
    assert not (tmp_path / "adapted.adapt-work").exists()
    adapted = AutoModelForCausalLM.from_pretrained(out)
    hf = AutoTokenizer.from_pretrained(out)
    assert adapted.config.vocab_size == len(hf) >= VOCAB
    # The code-trained tokenizer needs fewer tokens on held-out code than the prose tokenizer (measured: 0.593 vs
    # 0.707 tokens per byte, 16 % fewer).
    _, held_out = split_held_out([code_text], fraction=0.1, chunk_chars=CHARS)
    original_tpb = tokens_per_byte(AutoTokenizer.from_pretrained(model_dir), held_out)
    adapted_tpb = tokens_per_byte(hf, held_out)
    assert report.tokens_per_byte["domain"] == pytest.approx({"original": original_tpb, "adapted": adapted_tpb},
                                                             abs=1e-5)
    assert report.saving("domain") > 10
    # Bits per byte of the saved adapted model, recomputed on the scored pieces.
    spread = [held_out[int(i * len(held_out) / 4)] for i in range(4)] if len(held_out) > 4 else held_out
    again = evaluate(adapted, hf, {"domain": spread}, chunk_chars=CHARS)
    assert report.bpb["domain"]["adapted"] == pytest.approx(again.bpb, abs=1e-4)
    saved = json.loads((out / REPORT_JSON).read_text(encoding="utf-8"))
    assert saved["bpb"] == report.bpb and saved["percent_fewer_tokens"]["domain"] == round(report.saving(), 3)
    page = (out / REPORT_HTML).read_text(encoding="utf-8")
    assert f"{report.saving():+.1f}%" in page and f"{report.bpb['domain']['adapted']:.4f}" in page


def test_adapt_resumes_from_its_work_folder(tmp_path, model_dir, code_text):
    work = tmp_path / "work"
    common = dict(vocabulary="replace", vocab_size=VOCAB, aux=HashEmbedder(), general=["\n".join(default_corpus("prose")[:10])],
                  eval_documents=2, device="cpu", workers=1, work_dir=work,
                  heal_config=HealConfig(sequence_chars=CHARS, batch_size=2, checkpoint_every=1))
    adapt(model_dir, [code_text], output=tmp_path / "first", steps=2, **common)
    lines: list[str] = []
    report = adapt(model_dir, [code_text], output=tmp_path / "second", steps=3, echo=lines.append, **common)
    assert sum("reused" in line for line in lines) == 2, lines  # tokenizer and transplant
    assert report.info["heal"]["resumed_at"] == 2 and report.info["heal"]["steps"] == 3


def test_cli_adapt_happy_path(tmp_path, model_dir, code_text):
    corpus = tmp_path / "code.txt"
    corpus.write_text(code_text, encoding="utf-8")
    out = tmp_path / "adapted"
    result = CliRunner().invoke(main, ["adapt", "--vocabulary", "replace", "--model", str(model_dir), "--corpus", str(corpus),
                                       "-n", str(VOCAB),
                                       "-o", str(out), "--aux", str(minilm_dir()), "--steps", "1", "--device", "cpu",
                                       "--sequence-chars", str(CHARS), "--eval-documents", "2", "--workers", "1",
                                       "--general", str(corpus), "--dtype", "bfloat16", "--loss", "alm"])
    assert result.exit_code == 0, result.output
    assert "[5/5]" in result.stderr and "fewer tokens" in result.stdout and "wrote" in result.stdout
    report = json.loads((out / REPORT_JSON).read_text(encoding="utf-8"))
    assert report["settings"]["method"] == "heuristic" and report["stages"]["heal"] > 0
    assert report["settings"]["heal"]["dtype"] == "bfloat16" == report["heal"]["compute_dtype"]
    assert report["settings"]["heal"]["loss"] == "alm"  # --loss reaches HealConfig (the default is next-token)


def test_cli_adapt_errors_are_one_line_and_leave_nothing(tmp_path, model_dir, code_text):
    corpus = tmp_path / "code.txt"
    corpus.write_text(code_text, encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n", encoding="utf-8")
    small = tmp_path / "small.txt"
    small.write_text("def f(x):\n    return x\n" * 30, encoding="utf-8")
    bare = tmp_path / "bare"
    AutoModelForCausalLM.from_pretrained(model_dir).save_pretrained(bare)
    existing = tmp_path / "existing"
    existing.mkdir()
    out = tmp_path / "adapted"
    base = ["adapt", "--vocabulary", "replace", "-n", str(VOCAB), "--steps", "1", "--device", "cpu",
            "--sequence-chars", str(CHARS), "--workers", "1", "--aux", str(minilm_dir())]
    cases = [
        ([*base, "--model", str(model_dir), "--corpus", str(empty), "-o", str(out)], "holds no text"),
        ([*base[:3], "--vocab-size", *base[4:], "--model", str(model_dir), "--corpus", str(empty), "-o", str(out)],
         "holds no text"),  # lexkit train's spelling of -n is accepted too
        ([*base, "--model", str(model_dir), "--corpus", str(small), "-o", str(out)], "too small for -n 420"),
        ([*base, "--model", str(bare), "--corpus", str(corpus), "-o", str(out)], "holds no tokenizer"),
        ([*base, "--model", str(model_dir), "--corpus", str(corpus), "-o", str(existing)], "already exists"),
        ([*base[:5], *base[7:], "--model", str(model_dir), "--corpus", str(corpus), "-o", str(out)],
         "no healing budget"),
        (["adapt", *base[3:], "--algorithm", "domain", "--model", str(model_dir), "--corpus", str(corpus), "-o", str(out)],
         "does not apply to --vocabulary extend"),
        (["adapt", *base[3:], "--model", str(model_dir), "--corpus", str(small), "-o", str(out)],
         "too small for -n (new tokens) 420"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, args)
        errors = [line for line in result.output.splitlines() if "error:" in line]
        assert result.exit_code != 0 and len(errors) == 1 and message in errors[0], result.output
        assert not out.exists() and list(existing.iterdir()) == []


def test_adapt_extend_keeps_every_old_row_and_token(tmp_path, model_dir, code_text):
    """``vocabulary="extend"``: the model's tokenizer gains ``new_tokens`` code tokens; old ids, tokens and
    embedding rows stay bit-identical through transplant and heal, and only the new rows change."""
    out = tmp_path / "extended"
    report = adapt(model_dir, [code_text], vocabulary="extend", new_tokens=60, output=out, steps=2,
                   general=["\n".join(default_corpus("prose")[:40])], eval_documents=2, device="cpu", workers=1,
                   heal_config=HealConfig(sequence_chars=CHARS, batch_size=2, learning_rate=1e-2))
    original = AutoModelForCausalLM.from_pretrained(model_dir)
    adapted = AutoModelForCausalLM.from_pretrained(out)
    before, after = AutoTokenizer.from_pretrained(model_dir), AutoTokenizer.from_pretrained(out)
    rows = len(before)
    assert len(after) == rows + 60 and adapted.get_input_embeddings().weight.shape[0] == rows + 60
    assert all(after.convert_ids_to_tokens(i) == before.convert_ids_to_tokens(i) for i in range(rows))
    old, new = original.get_input_embeddings().weight, adapted.get_input_embeddings().weight
    assert torch.equal(new[:rows], old)
    assert report.info["heal"]["trainable_rows"] == 60
    assert report.settings["vocabulary"] == "extend" and report.settings["method"] == "subword-mean"
    # Fewer tokens on held-out code (measured: 0.707 -> 0.599 tokens per byte, 15.2 % fewer), and no more on prose
    # (measured: 1.7 % fewer, where a code token also applies).
    assert report.saving("domain") > 10 and report.saving("general") >= 0, report.tokens_per_byte


def test_adapt_sizes_must_match_the_vocabulary_mode(tmp_path, model_dir, code_text):
    with pytest.raises(LexkitError, match="takes new_tokens="):
        adapt(model_dir, [code_text], vocabulary="extend", vocab_size=500, output=tmp_path / "x", steps=1)
    with pytest.raises(LexkitError, match="needs vocab_size="):
        adapt(model_dir, [code_text], vocabulary="replace", output=tmp_path / "x", steps=1)
    with pytest.raises(LexkitError, match="needs new_tokens="):
        adapt(model_dir, [code_text], output=tmp_path / "x", steps=1)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5, 0.9])
def test_replay_takes_its_share_and_never_a_scored_piece(share):
    general = [f"general {i}" for i in range(100)]
    scored = {general[i] for i in (0, 25, 50, 75)}  # the four pieces the general slice scores
    replayed = replay_pieces(general, scored=4, training=30, share=share)
    assert not set(replayed) & scored and len(set(replayed)) == len(replayed)
    assert len(replayed) == min(96, round(30 * share / (1 - share)))  # 0, 8, 30, then all 96 the slice leaves
    with pytest.raises(LexkitError, match="replay=1 must be at least 0 and below 1"):
        replay_pieces(general, scored=4, training=30, share=1)


def test_adapt_heals_on_the_domain_and_the_replayed_general_pieces(tmp_path, model_dir, code_text, monkeypatch):
    import lexkit.transfer

    trained_on: list[str] = []
    real_heal = lexkit.transfer.heal

    def heal(model, teacher, texts, **options):
        trained_on.extend(texts)
        return real_heal(model, teacher, texts, **options)

    monkeypatch.setattr(lexkit.transfer, "heal", heal)
    general = "\n".join(default_corpus("prose")[:40])
    report = adapt(model_dir, [code_text], new_tokens=20, output=tmp_path / "out", steps=1, general=[general],
                   replay=0.5, eval_documents=4, device="cpu", workers=1,
                   heal_config=HealConfig(sequence_chars=CHARS, batch_size=2))
    training, _ = split_held_out([code_text], fraction=0.1, chunk_chars=CHARS)
    pieces = [p for p in chunk_text(general, CHARS) if p.strip()]
    scored = {pieces[int(i * len(pieces) / 4)] for i in range(4)}
    replayed = trained_on[len(training):]
    assert trained_on[:len(training)] == training
    assert len(replayed) == report.info["slices"]["replay_pieces"] == min(len(training), len(pieces) - 4) > 0
    assert set(replayed) <= set(pieces) and not set(replayed) & scored
    assert report.settings["replay"] == 0.5
