"""TR % / Pure % over distinct tokens and root preservation, on hand-made segmenters with known answers."""

from __future__ import annotations

import _resources

from lexkit.analysis.meaning import (
    OfflineJudge,
    meaning_report,
    root_preservation,
    tiktoken_segmenter,
    token_strings,
)
from lexkit.formats.hunspell import Hunspell
from lexkit.vocab.morph.turkish import TURKISH

JUDGE = OfflineJudge(words=["Ankara", "evler", "evde", "kitap"], stems=["ev", "kitap", "Ankara"],
                     affixes=["ler", "lar", "de", "da"], phonology=TURKISH)


def split_on(marks: str):
    """A segmenter cutting after every character in ``marks`` (and keeping the pieces' bytes exactly)."""
    def segment(text: str) -> list[bytes]:
        pieces, current = [], ""
        for char in text:
            current += char
            if char in marks:
                pieces.append(current.encode())
                current = ""
        return [*pieces, current.encode()] if current else pieces
    return segment


def test_judge_is_case_insensitive_with_turkish_rules() -> None:
    assert JUDGE.is_language_word("ankara") and JUDGE.is_language_word("EVLER") and JUDGE.is_language_word("ler")
    assert JUDGE.is_pure_morpheme("Ev") and not JUDGE.is_pure_morpheme("evler")
    assert not JUDGE.is_language_word("xyz")


def test_meaning_report_counts_distinct_tokens() -> None:
    whole_words = split_on(" ")
    # distinct strings: "evler", "evde", "xq" (repeats do not count twice); whitespace stripped.
    report = meaning_report(whole_words, ["evler evde evler xq"], JUDGE)
    assert (report.tokens, report.unique) == (4, 3)
    assert report.turkish_percent == round(100 * 2 / 3, 2) and report.pure_percent == 0.0
    counts, total = token_strings(whole_words, ["evler evler"])
    assert counts == {"evler": 2} and total == 2


def test_root_preservation() -> None:
    pairs = [("evlerde", "ev"), ("kitaplar", "kitap"), ("ev", "ev"), ("gitti", "git")]
    # cuts after "v" and "p": " ev|lerde", " kitap|lar" -> both lemma ends are boundaries; "gitti" has none.
    result = root_preservation(split_on("vp"), pairs, TURKISH)
    assert result == {"words": 3, "preserved": 2, "percent": round(200 / 3, 2)}


def test_real_hunspell_judge_and_o200k() -> None:
    folder = _resources.turkish_path("hunspell/tr_TR.dic").parent
    hunspell = Hunspell(folder / "tr_TR.dic", folder / "tr_TR.aff", limit=20000)
    judge = OfflineJudge(hunspell.words, [s for s, f in hunspell.entries.items() if f], ["lar", "ler"], TURKISH)
    assert judge.is_language_word("adamlar") and judge.is_pure_morpheme("adam") and not judge.is_pure_morpheme("adamlar")
    encoding = _resources.tiktoken_encoding("o200k_base")
    segment = tiktoken_segmenter(encoding)
    text = "Adamlar evlerde kitap okudular."
    report = meaning_report(segment, [text], judge)
    # The expectation straight from tiktoken and the dictionary files: distinct stripped token strings, each
    # looked up lower-cased among hunspell's expanded words, its stems with affix rules and the two affixes.
    pieces = [encoding.decode_single_token_bytes(t).decode() for t in encoding.encode_ordinary(text)]
    unique = list(dict.fromkeys(p.strip() for p in pieces if p.strip()))
    morphemes = {s.lower() for s, flags in hunspell.entries.items() if flags} | {"lar", "ler"}
    words = {w.lower() for w in hunspell.words} | morphemes
    turkish = [u for u in unique if u.lower() in words]
    assert (report.tokens, report.unique) == (len(pieces), len(unique))
    assert report.turkish_percent == round(100 * len(turkish) / len(unique), 2)
    assert report.pure_percent == round(100 * sum(u.lower() in morphemes for u in unique) / len(unique), 2)
    # "Adam" (a dictionary stem) and "lar" (an affix) count; o200k's "ud" fragment of "okudular" does not.
    assert {"Adam", "lar"} <= set(turkish) and "ud" in unique and "ud" not in turkish
    assert b"".join(segment("Adamlar evlerde")) == b"Adamlar evlerde"
