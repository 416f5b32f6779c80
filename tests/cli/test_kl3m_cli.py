"""``lexkit train domain|char``: happy paths through the saved files, and bad term lists."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer as HFTokenizer

from lexkit import Tokenizer
from lexkit.cli.main import main
from lexkit.embedded import default_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "legal.txt"
    citation = "Compare 42 U.S.C. § 1983 with 123 F.3d 456 (9th Cir. 1999).\n"
    path.write_text("".join(default_corpus("prose")[:30]) + citation * 20, encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_train_domain_with_a_term_file(corpus, tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("# my citations\nCal. Rptr. 5th\n\\s¶\n", encoding="utf-8")
    out = tmp_path / "domain"
    result = run("train", "domain", "-n", "2048", "-o", str(out), "--terms", str(terms), "--term-set", "legal",
                 "--no-progress", "--json", "--workers", "1", str(corpus))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["vocab_size"] == 2048
    tokenizer = Tokenizer.load(out)
    text = "See 1 Cal. Rptr. 5th 2 and 42 U.S.C. § 1983."
    ids = tokenizer.encode(text)
    assert {b" Cal. Rptr. 5th", b" U.S.C."} <= {tokenizer.token_to_bytes(i) for i in ids}
    hf = HFTokenizer.from_file(str(out / "tokenizer.json"))
    assert hf.encode(text, add_special_tokens=False).ids == ids
    assert tokenizer.vocabulary.normalizer is not None and tokenizer.vocabulary.tokens[0].text == "<|start|>"


def test_train_char_caps_learned_tokens(corpus, tmp_path):
    out = tmp_path / "char"
    result = run("train", "char", "-n", "1024", "--max-chars", "3", "-o", str(out), "--no-progress",
                 "--workers", "1", str(corpus))
    assert result.exit_code == 0, result.output
    vocabulary = Tokenizer.load(out).vocabulary
    assert len(vocabulary) == 1024
    assert max(len(t.content) for t in vocabulary.tokens if t.kind.value == "normal") == 3


@pytest.mark.parametrize(("content", "fragment"), [
    ("F.3d\n\nU.S.C.\n", "terms.txt:2: empty line between terms"),
    ("F.3d\nF.3d\n", "terms.txt:2: term 'F.3d' repeats line 1"),
    ("ok\nbell\x07\n", "terms.txt:2: control or invisible character U+0007"),
    ("y" * 80 + "\n", "terms.txt:1: term of 80 characters is longer than the limit of 64"),
])
def test_bad_term_file_is_a_one_line_error_naming_file_and_line(corpus, tmp_path, content, fragment):
    terms = tmp_path / "terms.txt"
    terms.write_text(content, encoding="utf-8")
    out = tmp_path / "never"
    result = run("train", "domain", "-n", "4096", "-o", str(out), "--terms", str(terms), "--no-progress",
                 str(corpus))
    assert result.exit_code == 1
    assert fragment in result.output and result.output.count("\n") == 1
    assert not out.exists()


def test_recipe_options_belong_to_their_algorithm(corpus, tmp_path):
    result = run("train", "bpe", "-n", "300", "-o", str(tmp_path / "x"), "--max-chars", "3", str(corpus))
    assert result.exit_code == 1 and "--max-chars is not an option of `lexkit train bpe`; it belongs to `lexkit train char`" in result.output
    result = run("train", "char", "-n", "300", "-o", str(tmp_path / "y"), "--terms", str(corpus), str(corpus))
    assert result.exit_code == 1 and "--terms is not an option of `lexkit train char`; it belongs to `lexkit train domain`" in result.output
