"""`lexkit encode --input FILE` streams the file block by block and prints the ids of the whole text.

HF ``tokenizers`` encoding the whole text at once is the reference. Small read blocks (an odd size, so blocks end
inside UTF-8 characters) make a small file cross many block boundaries.
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

BLOCK = 4093


@cache
def _gpt2() -> Tokenizer:
    return Tokenizer.load(_resources.gpt2_tokenizer_json())


def _hf_ids(tokenizer: Tokenizer, text: str) -> list[str]:
    return [str(i) for i in tokenizer.encoder.backend.encode(text, add_special_tokens=False).ids]


def _corpus(chars: int) -> str:
    with open(_resources.corpus_path("corpus_10M.txt"), encoding="utf-8") as handle:
        return handle.read(chars)


def _encode(path: Path, *args: str, tokenizer: Path | None = None) -> tuple[int, str]:
    tokenizer = tokenizer or _resources.gpt2_tokenizer_json()
    result = CliRunner().invoke(main, ["encode", "-t", str(tokenizer), "-i", str(path), *args])
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "READ_BYTES", BLOCK)


def test_streamed_ids_equal_the_whole_text(tmp_path: Path) -> None:
    text = _corpus(200_000) + " tail  \n\n" + "word " * 3000 + "é日本語😀 end\n  \r\n\t x"
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    code, output = _encode(path)
    assert code == 0, output
    assert output.endswith("\n") and output.count("\n") == 1  # one line: the documented format
    assert output.split() == _hf_ids(_gpt2(), text)


def test_output_file_is_written_whole(tmp_path: Path) -> None:
    text = _corpus(50_000)
    path, out = tmp_path / "in.txt", tmp_path / "ids.txt"
    path.write_text(text, encoding="utf-8")
    code, output = _encode(path, "-o", str(out))
    assert code == 0, output
    assert output == ""
    assert out.read_text().split() == _hf_ids(_gpt2(), text)


def test_one_megabyte_single_line(tmp_path: Path) -> None:
    """A 1 MB line (no newline at all) and a 1 MB run of one character: same ids as HF on the whole."""
    line = _corpus(1_100_000).replace("\n", " ")[:1_000_000]
    for name, text in (("line.txt", line), ("run.txt", "x" * 1_000_000)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        code, output = _encode(path)
        assert code == 0, output
        assert output.split() == _hf_ids(_gpt2(), text), name


def test_blocks_are_encoded_as_they_are_read(tmp_path: Path) -> None:
    """Bounded memory: a 1 MB file is encoded in about one piece per block, not held whole."""
    text = _corpus(1_000_000)
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    pieces = list(stream_module.encode_file(_gpt2(), path))
    assert len(pieces) > len(text.encode()) // BLOCK - 5
    assert [str(i) for piece in pieces for i in piece.tolist()] == _hf_ids(_gpt2(), text)


def test_stuck_without_a_cut_position_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "run.txt"
    path.write_text("y" * 50_000, encoding="utf-8")
    with pytest.raises(stream_module.FormatError, match="hold no space or newline after a letter"):
        list(stream_module.encode_file(_gpt2(), path, max_carry_chars=20_000))


def test_empty_file_prints_an_empty_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert _encode(path) == (0, "\n")


@pytest.mark.parametrize("where", [120, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 7])
def test_invalid_utf8_names_its_byte_and_leaves_no_output(tmp_path: Path, where: int) -> None:
    body = ("hello wörld\n" * 2000).encode()
    path, out = tmp_path / "bad.txt", tmp_path / "ids.txt"
    path.write_bytes(body[:where] + b"\xff" + body[where:])
    code, output = _encode(path, "-o", str(out))
    assert code == 1
    assert output.strip().splitlines() == [f"lexkit: error: {path}: invalid UTF-8 at byte {where} (0xff); convert "
                                           "the file to UTF-8 first (e.g. iconv -f LATIN1 -t UTF-8)"]
    assert list(tmp_path.iterdir()) == [path]  # no ids file, no temporary file


def test_truncated_character_at_the_end_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "cut.txt"
    path.write_bytes(b"abc " * 3000 + "é".encode()[:1])
    code, output = _encode(path)
    assert code == 1 and f"invalid UTF-8 at byte {4 * 3000} (0xc3)" in output


def test_special_tokens_across_blocks(tmp_path: Path) -> None:
    text = ("some words here<|endoftext|>and more " * 800).strip()
    path = tmp_path / "specials.txt"
    path.write_text(text, encoding="utf-8")
    code, output = _encode(path)
    assert code == 1 and "special token '<|endoftext|>'" in output and str(path) in output
    code, output = _encode(path, "--allow-special")
    assert code == 0, output
    assert output.split() == [str(i) for i in _gpt2().encode(text, allowed_special="all")]


def test_sentencepiece_bpe_streams_with_sentencepiece_ids(tmp_path: Path) -> None:
    """Mistral prepends its word marker to the text: cut by the engine's tail rule (`lexkit.engine.prepend_tail`),
    block by block, with sentencepiece's ids on the whole text; allowed specials next to the cuts too."""
    import sentencepiece as spm

    from lexkit.formats.sentencepiece import from_sentencepiece

    model = _resources.mistral_sp_model()
    processor = spm.SentencePieceProcessor(model_file=str(model))
    mistral = Tokenizer(from_sentencepiece(model))
    assert stream_module.streamable(mistral) and stream_module.joinable(mistral) is None
    text = "  " + _corpus(150_000) + " tail  \n\n" + "word " * 3000 + "é日本語😀 end\n  \r\n\t x "
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    pieces = list(stream_module.encode_file(mistral, path))
    assert len(pieces) > len(text.encode()) // BLOCK - 5  # streamed, not read whole
    code, output = _encode(path, tokenizer=model)
    assert code == 0, output
    assert output.split() == [str(i) for i in processor.encode(text)]
    text = ("some words </s>here<s> x <s>and more " * 400).strip()
    path.write_text(text, encoding="utf-8")
    code, output = _encode(path, "--allow-special", tokenizer=model)
    assert code == 0, output
    assert output.split() == [str(i) for i in mistral.encode(text, allowed_special="all")]


def test_unstreamable_tokenizer_reads_the_whole_file(tmp_path: Path) -> None:
    """GPT-2 with ``add_prefix_space`` marks the text's start only, and no engine rule cuts it: the file is read
    whole (with a warning), same ids as HF."""
    import json

    data = json.loads(_resources.gpt2_tokenizer_json().read_text(encoding="utf-8"))
    data["pre_tokenizer"]["add_prefix_space"] = True
    saved = tmp_path / "tokenizer.json"
    saved.write_text(json.dumps(data), encoding="utf-8")
    tokenizer = Tokenizer.load(saved)
    assert not stream_module.streamable(tokenizer)
    text = _corpus(30_000)
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    assert len(list(stream_module.encode_file(tokenizer, path))) == 1
    code, output = _encode(path, tokenizer=saved)
    assert code == 0, output
    assert output.split() == _hf_ids(tokenizer, text)
