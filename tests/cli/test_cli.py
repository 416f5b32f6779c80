"""The lexkit command: one happy path and the error paths per command (click's test runner)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer as HFTokenizer
from transformers import PreTrainedTokenizerFast

from lexkit import Tokenizer
from lexkit.cli.main import main
from lexkit.embedded import default_corpus


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for i, document in enumerate(default_corpus("prose")[:40]):
        (folder / f"doc{i:02d}.txt").write_text(document, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(corpus_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "bpe"
    result = CliRunner().invoke(main, ["train", "bpe", "--vocab-size", "1000", "-o", str(out),
                                       "--special-token", "<|endoftext|>", "--no-progress", "--json",
                                       str(corpus_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["vocab_size"] == 1000
    return out


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def test_train_output_loads_in_hf_and_transformers_and_encodes_identically(trained):
    text = "Hello, world! The quick brown fox jumps over 13 lazy dogs.\n\tdef f(x): return x  😀"
    ours = Tokenizer.load(trained).encode(text)
    assert HFTokenizer.from_file(str(trained / "tokenizer.json")).encode(text).ids == ours
    fast = PreTrainedTokenizerFast(tokenizer_file=str(trained / "tokenizer.json"))
    assert fast.encode(text, add_special_tokens=False) == ours


def test_train_is_deterministic(corpus_dir, trained, tmp_path):
    again = tmp_path / "again"
    assert run("train", "bpe", "-n", "1000", "-o", str(again), "--special-token", "<|endoftext|>", "--no-progress",
               str(corpus_dir)).exit_code == 0
    for name in ("lexkit.json", "tokenizer.json"):
        assert (again / name).read_bytes() == (trained / name).read_bytes()


def test_encode_decode_inspect_convert(trained, tmp_path):
    ids = run("encode", "-t", str(trained), "Hello world").output.split()
    assert run("decode", "-t", str(trained), *ids).output == "Hello world\n"
    payload = json.loads(run("encode", "-t", str(trained), "--json", "Hello").output)
    assert "".join(payload["tokens"]) == "Hello"
    assert run("decode", "-t", str(trained), input=" ".join(ids)).output == "Hello world\n"
    summary = json.loads(run("inspect", str(trained), "--json").output)
    assert summary["size"] == 1000 and summary["kinds"]["special"] == 1
    assert "longest tokens" in run("inspect", str(trained)).output
    converted = run("convert", str(trained / "tokenizer.json"), "--to", "lexkit", "-o", str(tmp_path / "x"))
    assert converted.exit_code == 0, converted.output
    assert Tokenizer.load(tmp_path / "x").encode("Hello world") == [int(i) for i in ids]


@pytest.mark.parametrize("case", ["empty", "binary", "invalid-utf8", "tiny-vocab", "missing"])
def test_train_bad_input_is_one_line_nonzero_and_leaves_no_output(case, tmp_path, corpus_dir):
    source = tmp_path / "in"
    source.mkdir()
    size = "1000"
    if case == "empty":
        (source / "a.txt").write_text("")
    elif case == "binary":
        (source / "a.bin").write_bytes(bytes(range(256)) * 10)
    elif case == "invalid-utf8":
        (source / "a.txt").write_bytes(b"hello\nworld \xff\xfe here\n")
    elif case == "tiny-vocab":
        (source / "a.txt").write_text("hello world\n")
        size = "100"
    else:
        source = tmp_path / "does-not-exist"
    out = tmp_path / "out"
    result = run("train", "bpe", "-n", size, "-o", str(out), "--no-progress", str(source))
    assert result.exit_code != 0
    message = result.output.strip()
    assert message.startswith("lexkit: error:") and "\n" not in message, message
    assert not out.exists()
    if case == "invalid-utf8":
        assert "a.txt" in message and "byte 12" in message
    if case == "tiny-vocab":
        assert "256" in message


@pytest.mark.parametrize("algorithm", ["bpe", "char"])
def test_skip_binary_leaves_binary_files_out(algorithm, tmp_path, caplog):
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.bin").write_bytes(bytes(range(256)) * 10)
    (source / "b.txt").write_text("hello world\n" * 20)
    out = tmp_path / "out"
    result = run("train", algorithm, "-n", "300", "--min-frequency", "1", "-o", str(out), "--no-progress",
                 "--skip-binary", str(source))
    assert result.exit_code == 0, result.output
    assert "a.bin: skipped" in caplog.text
    assert Tokenizer.load(out).decode(Tokenizer.load(out).encode("hello world")) == "hello world"


def test_truncated_tokenizer_json_is_one_line_error(trained, tmp_path):
    broken = tmp_path / "tokenizer.json"
    broken.write_bytes((trained / "tokenizer.json").read_bytes()[:5000])
    result = run("encode", "-t", str(broken), "hi")
    assert result.exit_code == 1
    assert result.output.startswith("lexkit: error:") and str(broken) in result.output
    assert result.output.count("\n") == 1


def test_encode_refuses_special_text_unless_allowed(trained):
    result = run("encode", "-t", str(trained), "a<|endoftext|>")
    assert result.exit_code == 1 and "allowed_special" in result.output
    ok = run("encode", "-t", str(trained), "--allow-special", "a<|endoftext|>")
    assert ok.exit_code == 0 and "0" in ok.output.split()


def test_help_and_version():
    assert run("--help").exit_code == 0
    assert "lexkit" in run("--version").output
    for command in ("train", "encode", "decode", "convert", "inspect", "demo"):
        assert run(command, "--help").exit_code == 0


def test_train_has_one_subcommand_per_trainer_with_only_its_own_options():
    from lexkit.vocab import TRAINERS

    listing = run("train", "--help").output
    assert all(name in listing for name in TRAINERS)
    bpe = run("train", "bpe", "--help").output
    for foreign in ("--byte-lm", "--fill", "--terms", "--max-chars", "--lexicon", "--codes", "--scheduler",
                    "--reduce-min-count", "--no-reactivation", "--lbpe-inference"):
        assert foreign not in bpe, foreign
    for shared in ("--vocab-size", "--output", "--min-frequency", "--workers", "--engine", "--utf8-errors"):
        assert shared in bpe, shared
    bytespan = run("train", "bytespan", "--help").output
    assert "--byte-lm" in bytespan and "--fill" in bytespan and "--engine" not in bytespan
    assert "--codes" in run("train", "visual-bpe", "--help").output
    assert "--lexicon" in run("train", "morph", "--help").output and "--pre-tokenizer" not in run(
        "train", "morph", "--help").output


def test_flat_algorithm_form_still_trains_the_same_files(corpus_dir, trained, tmp_path):
    for args in (["--algorithm", "bpe"], ["-a", "bpe"], []):  # no --algorithm meant bpe
        out = tmp_path / "-".join(args or ["default"])
        result = run("train", *args, "-n", "1000", "-o", str(out), "--special-token", "<|endoftext|>",
                     "--no-progress", str(corpus_dir))
        assert result.exit_code == 0, result.output
        for name in ("lexkit.json", "tokenizer.json"):
            assert (out / name).read_bytes() == (trained / name).read_bytes()
    unknown = run("train", "--algorithm", "nope", "-n", "300", "-o", str(tmp_path / "x"), str(corpus_dir))
    assert unknown.exit_code != 0 and "nope" in unknown.output and not (tmp_path / "x").exists()
