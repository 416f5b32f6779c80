"""Bad input through lexkit's encode API, judged by each tokenizer's own library (issue 19, "Bad input").

Small versions of the inputs ``scripts/check_encode_parity.py`` and the 100 MB runs use: a text with no newline,
NUL bytes, long runs of one character, lone surrogates. ``test_engine.py`` covers GPT-2 and o200k against HF on
lexkit's export; here the references are independent (tiktoken, sentencepiece, HF on the published file) and the
tokenizers are the ones that run other engine paths: cl100k (HF engine, cut), Mistral (fastokens, cut by `prepend_tail`),
BERT (lexkit's WordPiece engine, cut, no BPE).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import _resources
import pytest

import lexkit.engine as engine_module
from lexkit import Tokenizer
from lexkit.errors import EncodingError
from lexkit.formats.hf import from_hf
from lexkit.formats.sentencepiece import from_sentencepiece
from lexkit.formats.tiktoken import from_tiktoken

PIECE = 4096  # PIECE_CHARS in these tests: long texts are cut into many pieces


def _cl100k_reference() -> Callable[[str], list[int]]:
    return _resources.tiktoken_encoding("cl100k_base").encode_ordinary


def _mistral_reference() -> Callable[[str], list[int]]:
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(_resources.mistral_sp_model()))
    return processor.encode


def _bert_reference() -> Callable[[str], list[int]]:
    from tokenizers import Tokenizer as HFTokenizer

    engine = HFTokenizer.from_file(str(_resources.minilm_dir() / "tokenizer.json"))
    engine.no_truncation()
    engine.no_padding()
    return lambda text: engine.encode(text, add_special_tokens=False).ids


CASES: dict[str, tuple[Callable[[], Tokenizer], Callable[[], Callable[[str], list[int]]]]] = {
    "cl100k_base": (lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))), _cl100k_reference),
    "mistral-v1": (lambda: Tokenizer(from_sentencepiece(_resources.mistral_sp_model())), _mistral_reference),
    "bert-minilm": (lambda: Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json")), _bert_reference),
}


@cache
def _case(name: str) -> tuple[Tokenizer, Callable[[str], list[int]]]:
    load, reference = CASES[name]
    return load(), reference()


@cache
def _no_newline(chars: int) -> str:
    with open(_resources.corpus_path("corpus_10M.txt"), encoding="utf-8") as handle:
        return handle.read(chars).replace("\n", " ")


def _bad_texts() -> dict[str, str]:
    return {
        "no newline": _no_newline(60_000),
        "NUL bytes": "a\x00b\x00\x00 c\x00 " * 2_000 + "\x00" * 5_000,
        "run of a": "a" * 50_000,
        "run of spaces": " " * 50_000 + "x",
        "run of newlines": "\n" * 50_000,
        "run of digits": "7" * 50_000,
        "run of emoji": "😀" * 20_000,
        "run of a combining mark": "\u0301" * 20_000,
    }


@pytest.mark.parametrize("name", CASES)
def test_bad_input_gives_the_reference_ids(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tok, reference = _case(name)
    real_split_points = engine_module.split_points
    cuts: list[int] = []

    def split_points(text: str, size: int) -> list[int]:
        points = real_split_points(text, size)
        cuts.extend(points)
        return points

    # the wrapper records where the engine cut
    monkeypatch.setattr(engine_module, "PIECE_CHARS", PIECE)
    monkeypatch.setattr(engine_module, "split_points", split_points)
    texts = _bad_texts()
    wrong = [label for label, text in texts.items() if tok.encode(text, disallowed_special=()) != reference(text)]
    assert not wrong, f"{name}: ids differ from the reference on {wrong}"
    batch = tok.encode_batch(list(texts.values()), disallowed_special=())
    assert batch == [reference(text) for text in texts.values()]
    engine = tok.encoder.engine  # long texts were cut wherever the pipeline allows it (Mistral: `prepend_tail`)
    assert bool(cuts) == (engine.splittable or engine.tail is not None)


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "mistral-v1"])
def test_lone_surrogate_in_a_long_text_names_the_text_and_character(name: str) -> None:
    """A cut text's error names the caller's text and character, not the piece's (regression: it said
    "text 4 ... at character 151423" for text 1, character 1,200,000)."""
    tok = (Tokenizer(from_hf(_resources.gpt2_tokenizer_json())) if name == "gpt2" else _case(name)[0])
    text = "word " * 120_000 + "\ud83d" + " end"
    assert len(text) > 2 * engine_module.PIECE_CHARS
    for call in (lambda: tok.encode_batch(["fine", text]), lambda: tok.encode_batch_flat(["fine", text])):
        with pytest.raises(EncodingError, match=r"^text 1 holds a lone surrogate U\+D83D at character 600000,") as info:
            call()
        assert "\n" not in str(info.value)
    with pytest.raises(EncodingError, match=r"^text 0 holds a lone surrogate U\+D83D at character 600000,"):
        tok.encode(text)
