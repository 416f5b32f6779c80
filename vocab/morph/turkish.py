"""The Turkish lexicon, built from hunspell-tr: roots with altered forms, affix allomorph classes, phonology.

Roots are the hunspell dictionary entries that carry affix rules (lower-cased, letters only). Altered forms
are accepted only when the dictionary attests them before a vowel: consonant softening (``kitap`` ->
``kitab``ı, ``renk`` -> ``reng``i), high-vowel drop (``burun`` -> ``burn``u) and stem-final vowel drop before
the progressive (``başla`` -> ``başl``ıyor). A root whose attested suffix vowels disagree with its own last
vowel records the vowel harmony follows (``saat`` -> ``saat``i: harmony ``i``).

Affix classes come from the archiphonemic templates below (``A`` = a/e, ``I`` = ı/i/u/ü, ``D`` = d/t, ``C`` =
c/ç, a parenthesised letter is a buffer present only in some forms); each template expands to its allomorphs,
and only allomorphs that occur in a segmentation of the strings hunspell-tr's suffix rules add are kept, so
the affix inventory is what the dictionary attests. Sources: Göksel and Kerslake, *Turkish: A Comprehensive
Grammar* (suffix inventory and notation); Debian ``hunspell-tr`` 1:7.5.0-1 (``tr_TR.dic``, ``tr_TR.aff``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable

from lexkit.encoders.morph import Phonology
from lexkit.formats.hunspell import Hunspell
from lexkit.vocab.morph.lexicon import AffixClass, Lexicon, Root

__all__ = [
    "TURKISH", "TEMPLATES", "expand_template", "affix_classes", "attested_affixes", "root_variant",
    "harmony_vowel", "build_turkish_lexicon", "conllu_lemmas",
]

logger = logging.getLogger(__name__)

TURKISH = Phonology(
    vowels="aeıioöuü", front="eiöü", rounded="oöuü", high="ıiuü", voiceless="çfhkpsşt",
    voicing_pairs=("dt", "cç", "gk"), lower={"I": "ı", "İ": "i"},
)

#: Suffix templates (name = template). Nominal inflection, copula and person, verbal inflection, derivation.
TEMPLATES: tuple[str, ...] = (
    "lAr", "(y)I", "(y)A", "DA", "DAn", "(n)In", "(y)lA", "ki", "(I)m", "(I)n", "(s)I", "(I)mIz", "(I)nIz",
    "lArI", "n", "nA", "nDA", "nDAn", "nI", "DAki",
    "DIr", "(y)DI", "(y)mIş", "(y)sA", "(y)ken", "(y)Im", "sIn", "(y)Iz", "sInIz", "m", "k", "nIz", "lArDIr",
    "Iyor", "(y)AcAk", "(y)AcAğ", "Ar", "Ir", "r", "mAz", "mA", "mAk", "mAktA", "mAdAn", "(y)Abil", "(y)AmA",
    "(y)In", "(y)InIz", "sInlAr", "(y)ArAk", "(y)Ip", "(y)IncA", "(y)An", "DIk", "DIğ", "(y)Iş", "mAlI",
    "(y)AlI", "(y)AyIm", "(y)AlIm", "Il", "t", "DIr", "Iş", "mI",
    "CI", "lIk", "lIğ", "sIz", "lI", "CA", "CIk", "CIğ", "(I)msI", "sAl", "DAş", "lAş", "lAn", "lA", "CAsInA",
)

_ARCHIPHONEMES = {"A": ("a", "e"), "D": ("d", "t"), "C": ("c", "ç")}
_HIGH = {(False, False): "ı", (True, False): "i", (False, True): "u", (True, True): "ü"}


def expand_template(template: str) -> list[str]:
    """All allomorphs of a template, vowels harmonizing inside the suffix.

    >>> expand_template("lAr")
    ['lar', 'ler']
    >>> expand_template("(y)I")
    ['ı', 'yı', 'u', 'yu', 'i', 'yi', 'ü', 'yü']
    """
    forms: list[str] = []
    optional = template.startswith("(")
    body = template[3:] if optional else template
    lead = template[1] if optional else ""
    for front, rounded in itertools.product((False, True), (False, True)):
        for voicing in itertools.product((0, 1), repeat=sum(body.count(c) for c in "DC")):
            chars = []
            voices = iter(voicing)
            round_now = rounded
            for char in body:
                if char == "A":
                    chars.append("e" if front else "a")
                    round_now = False
                elif char == "I":
                    chars.append(_HIGH[(front, round_now)])
                elif char in _ARCHIPHONEMES:
                    chars.append(_ARCHIPHONEMES[char][next(voices)])
                else:
                    if char in TURKISH.vowels:
                        round_now = char in TURKISH.rounded
                    chars.append(char)
            core = "".join(chars)
            if lead == "I":
                full = [core, _HIGH[(front, rounded)] + core]
            elif lead:
                full = [core, lead + core]
            else:
                full = [core]
            for form in full:
                if form not in forms:
                    forms.append(form)
    return forms


def affix_classes(templates: Iterable[str] = TEMPLATES) -> list[AffixClass]:
    """One class per template; a template whose forms equal an earlier class's is dropped."""
    classes: list[AffixClass] = []
    seen: set[frozenset[str]] = set()
    for template in templates:
        forms = expand_template(template)
        key = frozenset(forms)
        if key not in seen:
            seen.add(key)
            classes.append(AffixClass(template, tuple(forms)))
    return classes


def attested_affixes(classes: list[AffixClass], suffixes: dict[str, int],
                     derived: Iterable[str] = ()) -> tuple[list[AffixClass], float]:
    """Keep the allomorphs hunspell attests; also the share of its suffix strings the inventory segments.

    An allomorph is attested when it occurs in the fewest-pieces split of a suffix string the affix rules add
    (dynamic programming over the inventory), or when it is the remainder of a ``derived`` form (a dictionary
    stem that is another root plus one allomorph: ``kitapçı``). Strings with no split count against the share.
    """
    inventory = {form for cls in classes for form in cls.forms}
    longest = max(map(len, inventory))
    used: set[str] = {form for form in derived if form in inventory}
    covered = 0
    for string in suffixes:
        best: list[list[str] | None] = [[]] + [None] * len(string)
        for end in range(1, len(string) + 1):
            for start in range(max(0, end - longest), end):
                prefix = best[start]
                piece = string[start:end]
                if prefix is not None and piece in inventory:
                    candidate = [*prefix, piece]
                    current = best[end]
                    if current is None or len(candidate) < len(current):
                        best[end] = candidate
        split = best[-1]
        if split is not None:
            covered += 1
            used.update(split)
    kept = [AffixClass(c.name, tuple(f for f in c.forms if f in used)) for c in classes]
    return [c for c in kept if c.forms], covered / max(1, len(suffixes))


def _letters(word: str) -> bool:
    return word.isalpha() and all(char.islower() for char in word)


def root_variant(root: str, words: frozenset[str], roots: set[str]) -> str | None:
    """The attested altered form of a root (softened, high vowel dropped, final vowel dropped), if any."""
    vowels, high = TURKISH.vowels, TURKISH.high
    candidates: list[tuple[str, tuple[str, ...]]] = []
    softening = {"p": "b", "ç": "c", "t": "d", "k": "ğ"}
    if root.endswith("nk"):
        candidates.append((root[:-1] + "g", ("ı", "i", "u", "ü", "a", "e")))
    elif root[-1] in softening and len(root) > 1 and root[-2] in vowels:
        candidates.append((root[:-1] + softening[root[-1]], ("ı", "i", "u", "ü", "a", "e")))
    if len(root) >= 4 and root[-2] in high and root[-1] not in vowels and root[-3] not in vowels:
        candidates.append((root[:-2] + root[-1], tuple(high)))
    if len(root) >= 3 and root[-1] in vowels:
        candidates.append((root[:-1], ("ıyor", "iyor", "uyor", "üyor")))
    for variant, endings in candidates:
        # subtle: the dictionary must attest the altered form and not the plain one before the same endings
        # (``yapar`` exists, so ``yaba`` does not make ``yab`` a form of ``yap``).
        if variant not in roots and any(variant + ending in words for ending in endings) and not any(
                root + ending in words for ending in endings):
            return variant
    return None


def harmony_vowel(root: str, words: frozenset[str]) -> str:
    """The high vowel the dictionary attests after ``root`` when it differs from the root's own harmony."""
    vowels = TURKISH.vowels
    last = next((c for c in reversed(root) if c in vowels), "")
    if not last or root[-1] in vowels:
        return ""
    expected = _HIGH[(last in TURKISH.front, last in TURKISH.rounded)]
    attested = [vowel for vowel in "ıiuü" if root + vowel in words and root + vowel + "n" in words]
    if len(attested) == 1 and attested[0] != expected:
        return attested[0]
    return ""


def build_turkish_lexicon(hunspell: Hunspell, *, min_root_length: int = 2,
                          treebank_lemmas: Iterable[str] = ()) -> Lexicon:
    """Build the Turkish lexicon from a parsed hunspell-tr dictionary.

    Args:
        hunspell: the dictionary (`Hunspell`; ``limit=`` reads a prefix for quick runs).
        min_root_length: shortest root kept (single letters are covered by the BPE fallback's bytes).
        treebank_lemmas: lemmas to check the roots against (the share found is recorded in the file).

    Returns:
        The lexicon; roots ordered by how many affix rules the dictionary gives them (most productive first).
    """
    lower = TURKISH.lower_text
    words = frozenset(lower(word) for word in hunspell.words)
    productivity: dict[str, int] = {}
    for stem, flags in hunspell.entries.items():
        root = lower(stem)
        if flags and len(root) >= min_root_length and _letters(root):
            productivity[root] = max(productivity.get(root, 0), len(flags))
    ordered = sorted(productivity, key=lambda root: (-productivity[root], root))
    root_set = set(ordered)
    roots = []
    for root in ordered:
        variant = root_variant(root, words, root_set)
        roots.append(Root((root, variant) if variant else (root,), harmony_vowel(variant or root, words)))
    classes = affix_classes()
    longest = max(len(form) for cls in classes for form in cls.forms)
    derived = [root[cut:] for root in ordered for cut in range(max(1, len(root) - longest), len(root))
               if root[:cut] in root_set]
    affixes, share = attested_affixes(classes, hunspell.suffix_strings, derived)
    lemmas = {lower(lemma) for lemma in treebank_lemmas if lemma and _letters(lower(lemma))}
    extra: dict[str, object] = {
        "stats": {
            "roots": len(roots), "roots_with_variants": sum(len(r.forms) > 1 for r in roots),
            "roots_with_harmony": sum(bool(r.harmony) for r in roots), "affix_classes": len(affixes),
            "affix_forms": sum(len(a.forms) for a in affixes),
            "hunspell_suffix_strings": len(hunspell.suffix_strings),
            "hunspell_suffix_strings_segmented": round(share, 4),
            "treebank_lemmas": len(lemmas),
            "treebank_lemmas_in_roots": round(len(lemmas & root_set) / len(lemmas), 4) if lemmas else None,
        }
    }
    logger.info("Turkish lexicon: %s", extra["stats"])
    return Lexicon(
        language="tr", phonology=TURKISH, roots=tuple(roots), affixes=tuple(affixes), extra=extra,
        source=f"hunspell {hunspell.dic_path.name} + {hunspell.aff_path.name} (Debian hunspell-tr); "
               "affix templates after Göksel and Kerslake",
    )


def conllu_lemmas(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(form, lemma) of every syntactic word in CoNLL-U files (multi-word ranges and empty nodes skipped)."""
    out: list[tuple[str, str]] = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip() or line.startswith("#"):
                    continue
                columns = line.rstrip("\n").split("\t")
                if len(columns) >= 3 and columns[0].isdigit():
                    out.append((columns[1], columns[2]))
    return out
