"""Sample passages for the token viewer: picked from a corpus to show where tokenizers differ.

`pick_passages` scans the start of a corpus in windows of whole lines and keeps, per trait, the window that shows
it most: numbers, code, rare words, whitespace runs, non-Latin script. `default_passages` (``lexkit view``
without text) takes English prose and code from the embedded corpus and adds two short texts written for lexkit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from lexkit.analysis.viewer import Passage

__all__ = [
    "MAX_VIEW_BYTES", "PASSAGE_CHARS", "SCAN_CHARS", "TURKISH", "NUMBERS", "pick_passages",
    "default_passages",
]

MAX_VIEW_BYTES = 200_000  # one page renders every token as an element: keep passages readable and the page light
PASSAGE_CHARS = 420
SCAN_CHARS = 2_000_000

#: Written for lexkit (no outside source): agglutinative Turkish and digit-heavy text.
TURKISH = ("Türkiye'nin başkenti Ankara'dır; en kalabalık şehri ise İstanbul'dur. Çocuklar okuldan "
           "döndüklerinde ödevlerini yapıyorlardı, öğretmenlerinin söylediklerini unutmamışlardı.\n"
           "Görüşemediklerimizden misiniz? Kitaplarımızı kütüphaneye geri götürmeyi unutmayalım.")
NUMBERS = ("Invoice 2024-11-07 #000417: 3 × 12.50 EUR = 37.50 EUR; total 1,234,567.89 (0x1F4A, 3.14159265358979).\n"
           "Call +1 (555) 013-2046 before 23:59:59 UTC; order ids 9007199254740993 and 12345678901234567890.")

_DIGITS = re.compile(r"\d{3,}")
_WORD = re.compile(r"[^\W\d_]{3,}")
_CODE = re.compile(r"[{}()\[\];=<>]|^\s{2,}\S", re.M)
_SPACES = re.compile(r"[ \t]{3,}|\n[ \t]*\n[ \t]*\n|\t")


def _non_latin(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if ord(c) > 0x24F) / len(letters) if letters else 0.0


def _windows(texts: Iterable[str], width: int, budget: int) -> list[str]:
    """Consecutive whole lines up to ``width`` characters (a longer line is cut), from the first ``budget``."""
    windows: list[str] = []
    current = ""
    seen = 0
    for text in texts:
        for line in text.splitlines(keepends=True):
            seen += len(line)
            if current and len(current) + len(line) > width:
                windows.append(current)
                current = ""
            current += line[:width]
            if seen >= budget:
                break
        if seen >= budget:
            break
    if current:
        windows.append(current)
    return [w for w in windows if w.strip()]


def pick_passages(corpus: str, texts: Iterable[str], *, limit: int = 4, width: int = PASSAGE_CHARS) -> list[Passage]:
    """Up to ``limit`` windows of ``texts`` that show numbers, code, rare words, whitespace runs or non-Latin
    script (the strongest traits first); the opening window when none shows any."""
    windows = _windows(texts, width, SCAN_CHARS)
    if not windows:
        return []
    words = Counter(w.lower() for window in windows for w in _WORD.findall(window))

    def rare(window: str) -> float:
        found = _WORD.findall(window)
        return sum(1 for w in found if words[w.lower()] == 1 and len(w) >= 7) / max(len(found), 1)

    traits: list[tuple[str, Callable[[str], float], float]] = [
        ("non-Latin script", _non_latin, 0.2),
        ("numbers", lambda w: len(_DIGITS.findall(w)) / max(len(w) / 100, 1), 0.5),
        ("code", lambda w: len(_CODE.findall(w)) / max(len(w) / 100, 1), 2.0),
        ("whitespace runs", lambda w: len(_SPACES.findall(w)) / max(len(w) / 100, 1), 0.5),
        ("rare words", rare, 0.1),
    ]
    picked: list[Passage] = []
    used: set[int] = set()
    scored = []
    for label, score, threshold in traits:
        values = [score(w) for w in windows]
        best = max(range(len(windows)), key=lambda i: (values[i], -i))
        if values[best] >= threshold:
            scored.append((values[best] / threshold, label, best))
    for _, label, index in sorted(scored, reverse=True):
        if index in used or len(picked) >= limit:
            continue
        used.add(index)
        picked.append(Passage(f"{corpus} \u00b7 {label}", windows[index]))
    return picked or [Passage(f"{corpus} \u00b7 opening", windows[0])]


def default_passages() -> list[Passage]:
    """English prose and Python code from the embedded corpus, then Turkish and numbers (written for lexkit)."""
    from lexkit.embedded import code_documents, prose_documents

    prose = _windows(prose_documents()[:40], PASSAGE_CHARS, 200_000)
    code = _windows(code_documents(200_000), PASSAGE_CHARS, 200_000)
    english = max(prose[:200], key=lambda w: (len(_WORD.findall(w)) - 5 * len(_CODE.findall(w)), -prose.index(w)))
    source = max(code[:200], key=lambda w: (len(_CODE.findall(w)) + len(_SPACES.findall(w)), -code.index(w)))
    return [Passage("English (Python reference manual)", english), Passage("code (Python standard library)", source),
            Passage("Turkish", TURKISH), Passage("numbers", NUMBERS)]
