"""``lexkit transplant`` and ``lexkit evaluate``: one happy path and the one-line error path each."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

from lexkit.cli.main import LexkitGroup
from lexkit.cli.transfer import evaluate, transplant
from lexkit.transfer.tokenizer import TransferTokenizer


@click.group(cls=LexkitGroup)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """The two commands on lexkit's main-group error handling (the lead registers them in cli/main.py)."""
    ctx.obj = {"verbose": False}


cli.add_command(transplant)
cli.add_command(evaluate)


@pytest.fixture
def folders(tmp_path, make_llama, source_tokenizer, target_tokenizer):
    source = tmp_path / "source"
    make_llama(len(source_tokenizer.vocabulary)).save_pretrained(source)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(source)
    target = target_tokenizer.save(tmp_path / "target")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The quick brown fox.\n\ndef f(x):\n    return x\n" * 20, encoding="utf-8")
    return source, target, corpus


def test_transplant_then_evaluate(tmp_path, folders):
    source, target, corpus = folders
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["transplant", "--model", str(source), "--tokenizer", str(target), "-o",
                                      str(out), "--method", "subword-mean", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["method"] == "subword-mean" and "provenance" not in summary["matrices"]["input"]
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size == summary["target_tokenizer_size"]
    text = CliRunner().invoke(cli, ["transplant", "--model", str(source), "--tokenizer", str(target), "-o",
                                    str(tmp_path / "again"), "-m", "mean"])
    assert text.exit_code == 0 and "anchors" in text.stdout and "wrote" in text.stdout
    scored = CliRunner().invoke(cli, ["evaluate", "--model", str(out), "--corpus", f"mix={corpus}",
                                      "--documents", "3", "--document-chars", "200", "--json"])
    assert scored.exit_code == 0, scored.output
    payload = json.loads(scored.stdout)
    assert payload["slices"]["mix"]["documents"] == 3 and payload["overall"]["bpb"] > 0
    plain = CliRunner().invoke(cli, ["evaluate", "--model", str(source), "--corpus", str(corpus),
                                     "--document-chars", "500"])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.startswith("corpus: ") and "bits per byte" in plain.stdout


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, folders):
    source, target, corpus = folders
    out = tmp_path / "out"
    cases = [
        ["transplant", "--model", str(tmp_path / "missing"), "--tokenizer", str(target), "-o", str(out), "-m", "mean"],
        ["transplant", "--model", str(source), "--tokenizer", str(target), "-o", str(out)],  # omp without donor
        ["evaluate", "--model", str(source), "--corpus", str(tmp_path / "none.txt")],
    ]
    for args in cases:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert result.output.startswith("lexkit: error: ") and result.output.count("\n") == 1
    assert not out.exists()


def test_transplant_centred_omp_with_a_donor_folder(tmp_path, folders, make_llama, target_tokenizer):
    source, target, _ = folders
    donor = tmp_path / "donor"
    make_llama(len(target_tokenizer.vocabulary), seed=1).save_pretrained(donor)
    TransferTokenizer.from_any(target_tokenizer).hf.save_pretrained(donor)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["transplant", "--model", str(source), "--tokenizer", str(target), "-o",
                                      str(out), "--donor", str(donor), "-k", "2", "--center", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "transplant_report.json").read_text(encoding="utf-8"))
    matrix = report["matrices"]["input"]
    assert matrix["params"]["center"] is True
    omp_rows = [p for p in matrix["provenance"] if p.get("estimate") == "omp"]
    assert omp_rows and all(abs(p["mean_weight"] - (1 - sum(p["weights"]))) < 1e-4 for p in omp_rows)
