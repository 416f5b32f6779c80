"""Gold morphological segmentations assembled from a hunspell dictionary's affix rules.

No English gold segmentation set installs offline as a package, but a hunspell dictionary lists stems
with the affix classes they take, and its ``.aff`` file (read by `lexkit.formats.hunspell.read_aff`) spells each class out (``SFX G 0 ing [^e]``: add ``ing``
to stems not ending in ``e``). Applying each rule once to each stem gives words with one known boundary:
``walk`` + ``ing``, ``un`` + ``able``. Only rules that strip nothing are used, so the boundary is exactly where
the stem ends; rules whose condition is a bare ``e`` (``bake`` + ``d``) are left out because there the
morpheme boundary (``bak|ed`` or ``bake|d``) is a matter of convention; the possessive ``'s`` is left out too
(pre-tokenizers split it off). Words that two rules derive differently are dropped. Restricting the result to
words frequent in a corpus (`corpus_word_counts`) keeps the set about words a tokenizer has seen.

The output is the ``word<TAB>morph morph`` file that `lexkit.analysis.metrics.morph_boundary_f1` and
`lexkit.analysis.metrics.morph_score` read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path

from lexkit.formats.hunspell import read_aff

__all__ = ["affix_segmentations", "corpus_word_counts", "write_gold"]

_WORD = re.compile(r"[a-z]+")
_EXCLUDED_AFFIXES = frozenset({"'s"})


def affix_segmentations(
    dic_path: str | PathLike[str], aff_path: str | PathLike[str], *, word_counts: Mapping[str, int] | None = None,
    min_count: int = 1, min_stem: int = 3,
) -> dict[str, tuple[str, str]]:
    """Words derived by exactly one boundary-preserving affix rule, as (first morph, second morph).

    Args:
        dic_path: the ``.dic`` file (``stem/FLAGS`` per line after a count line).
        aff_path: the ``.aff`` file.
        word_counts: keep only derived words counted at least ``min_count`` times here (None: keep all).
        min_count: see ``word_counts``.
        min_stem: shortest stem used, in characters (short stems give noisy derivations such as ``be`` + ``ing``).

    Returns:
        Derived word -> (prefix, stem) or (stem, suffix), sorted by word.
    """
    rules = read_aff(aff_path).rules
    found: dict[str, set[tuple[str, str]]] = {}
    lines = Path(dic_path).read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        stem, _, flags = line.partition("/")
        if len(stem) < min_stem or not _WORD.fullmatch(stem):
            continue
        for flag in flags.split("\t")[0]:
            for rule in rules.get(flag, ()):
                condition = rule.condition
                if rule.strip or not rule.add or rule.add in _EXCLUDED_AFFIXES or (
                        condition is not None and condition.pattern == "e$"):
                    continue
                if (condition is not None and not condition.search(stem)) or not _WORD.fullmatch(rule.add):
                    continue
                parts = (rule.add, stem) if rule.prefix else (stem, rule.add)
                found.setdefault("".join(parts), set()).add(parts)
    out = {}
    for word in sorted(found):
        if len(found[word]) != 1:
            continue  # two rules disagree on the boundary
        if word_counts is not None and word_counts.get(word, 0) < min_count:
            continue
        out[word] = next(iter(found[word]))
    return out


def corpus_word_counts(texts: Iterable[str]) -> Counter[str]:
    """Counts of the all-lower-case alphabetic words of a corpus (capitalised forms are left out)."""
    counts: Counter[str] = Counter()
    pattern = re.compile(r"(?<![A-Za-z])[a-z]+(?![A-Za-z])")
    for text in texts:
        counts.update(pattern.findall(text))
    return counts


def write_gold(segmentations: Mapping[str, tuple[str, ...]], path: str | PathLike[str]) -> Path:
    """Write ``word<TAB>morph morph`` lines (atomically); returns the path."""
    from lexkit.atomic import atomic_write_text

    lines = [f"{word}\t{' '.join(morphs)}\n" for word, morphs in segmentations.items()]
    return atomic_write_text(Path(path), "# word<TAB>morphs, from hunspell affix rules\n" + "".join(lines))
