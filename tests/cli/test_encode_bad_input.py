"""`lexkit encode --input` on bad input (issue 19): NUL bytes, no newline at all, runs of one character, and
surrogates written into a file; small versions of the 100 MB inputs, read in small odd-sized blocks.

References are the tokenizers' own libraries on the whole text: tiktoken for cl100k (which runs on the HF engine
and is cut between blocks), sentencepiece for Mistral (cut by the engine's tail rule, `lexkit.engine.prepend_tail`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import _resources
import pytest
from click.testing import CliRunner

import lexkit.stream as stream_module
from lexkit import Tokenizer
from lexkit.cli.main import main
from lexkit.formats.tiktoken import from_tiktoken

BLOCK = 4093


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "READ_BYTES", BLOCK)


@pytest.fixture(scope="module")
def cl100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cl100k")
    Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))).save(folder)
    return folder


@cache
def _no_newline(chars: int) -> str:
    with open(_resources.corpus_path("corpus_10M.txt"), encoding="utf-8") as handle:
        return handle.read(chars).replace("\n", " ")


def _encode(tokenizer: Path, path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["encode", "-t", str(tokenizer), "-i", str(path), *args])
    return result.exit_code, result.output


def _bad_texts() -> dict[str, str]:
    return {
        "NUL bytes": "words\x00 and\x00\x00 NULs \x00" * 1_500 + "\x00" * 5_000 + "tail",
        "no newline": _no_newline(100_000),
        "run of one character": "z" * 60_000,
        "run of spaces": "a" + " " * 30_000 + "b",
    }


def test_bad_text_gives_tiktoken_ids_across_blocks(cl100k: Path, tmp_path: Path) -> None:
    """The bad texts one after another in one file (one CLI call: loading cl100k takes seconds)."""
    text = "".join(_bad_texts().values())
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    code, output = _encode(cl100k, path)
    assert code == 0, output
    assert output.split() == [str(i) for i in _resources.tiktoken_encoding("cl100k_base").encode_ordinary(text)]


def test_sentencepiece_bpe_on_bad_text_gives_sentencepiece_ids(tmp_path: Path) -> None:
    import sentencepiece as spm

    model = _resources.mistral_sp_model()  # named tokenizer.model.v1, as Mistral publishes it
    processor = spm.SentencePieceProcessor(model_file=str(model))
    text = "".join(_bad_texts().values())
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    code, output = _encode(model, path)
    assert code == 0, output
    assert output.split() == [str(i) for i in processor.encode(text)]


@pytest.mark.parametrize("surrogate", [b"\xed\xa0\x80", b"\xed\xbf\xbf"])  # U+D800 and U+DFFF as UTF-8 would spell them
def test_surrogate_bytes_in_a_file_are_a_one_line_error(tmp_path: Path, surrogate: bytes) -> None:
    """A file cannot hold a lone surrogate as UTF-8: its bytes are invalid UTF-8, named by offset."""
    where = 3 * BLOCK - 1  # the bad sequence straddles a block boundary
    body = ("plain words " * 2_000).encode()
    path, out = tmp_path / "surrogate.txt", tmp_path / "ids.txt"
    path.write_bytes(body[:where] + surrogate + body[where:])
    code, output = _encode(_resources.gpt2_tokenizer_json(), path, "-o", str(out))
    assert code == 1
    assert output.strip().splitlines() == [f"lexkit: error: {path}: invalid UTF-8 at byte {where} (0xed); convert "
                                           "the file to UTF-8 first (e.g. iconv -f LATIN1 -t UTF-8)"]
    assert not out.exists()


def test_invalid_utf8_on_standard_input_is_named_by_byte() -> None:
    """Regression: it was decoded with surrogate escapes and reported as "a lone surrogate U+DCFF"."""
    runner = CliRunner()
    args = ["encode", "-t", str(_resources.gpt2_tokenizer_json())]
    result = runner.invoke(main, args, input=b"ab\xffc \x00")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["lexkit: error: standard input: invalid UTF-8 at byte 2 (0xff); "
                                                  "convert it to UTF-8 first (e.g. iconv -f LATIN1 -t UTF-8)"]
    result = runner.invoke(main, args, input="a\x00b é😀".encode())
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(i) for i in _resources.gpt2_tiktoken().encode_ordinary("a\x00b é😀")]


def test_special_token_text_as_ordinary_text_gives_sentencepiece_ids(tmp_path: Path) -> None:
    """``--disallowed-special none`` (the API's ``disallowed_special=()``): a Mistral corpus that mentions ``<s>``
    and ``</s>`` encodes as sentencepiece encodes it (it never reads control pieces from text); without the flag
    it is a one-line error naming both fixes."""
    import sentencepiece as spm

    model = tmp_path / "tokenizer.model.v1"
    model.write_bytes(_resources.mistral_sp_model().read_bytes())
    processor = spm.SentencePieceProcessor(model_file=str(model))
    words = _no_newline(20_000).split(" ")
    text = " ".join(w + (" <s>" if i % 97 == 0 else "</s>" if i % 89 == 0 else "") for i, w in enumerate(words))
    path = tmp_path / "tags.txt"
    path.write_text(text, encoding="utf-8")
    code, output = _encode(model, path)
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert "special token '<s>'" in output and "--disallowed-special none" in output
    code, output = _encode(model, path, "--disallowed-special", "none")
    assert code == 0, output
    assert output.split() == [str(i) for i in processor.encode(text)]
    short = CliRunner().invoke(main, ["encode", "-t", str(model), "--disallowed-special", "none", "a <s> b</s>"])
    assert short.exit_code == 0 and short.output.split() == [str(i) for i in processor.encode("a <s> b</s>")]
    assert "disallowed_special" in CliRunner().invoke(main, ["encode", "--help"]).output
