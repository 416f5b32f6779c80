"""The morphological lexicon file: one JSON document per language, read by the ``morph`` trainer.

A lexicon lists roots, affix classes and the sound classes the realizer needs, so a new language needs a file,
not code. Format (``"format": "lexkit-morph-lexicon"``, ``"version": 1``; UTF-8 JSON)::

    {
      "format": "lexkit-morph-lexicon", "version": 1, "language": "tr",
      "source": "free text: where the entries come from",
      "phonology": {
        "vowels": "aeıioöuü",            # all vowels (lower case)
        "front": "eiöü",                 # front vowels; the others are back
        "rounded": "oöuü",               # rounded vowels
        "high": "ıiuü",                  # vowels that harmonize in rounding too (Turkish: the high ones)
        "voiceless": "çfhkpsşt",         # after these a suffix-initial voicing pair takes its voiceless member
        "voicing_pairs": ["dt", "cç", "gk"],   # "voiced voiceless" pairs alternating at a suffix start
        "lower": {"I": "ı", "İ": "i"}    # lower-casing pairs that differ from Unicode's
      },
      "roots": [                         # most useful first: the trainer keeps the first ones when its budget
        "ev",                            #   is smaller (after ranking by corpus frequency)
        {"forms": ["kitap", "kitab"]},   # citation form, then altered forms (used before vowel-initial affixes)
        {"forms": ["saat"], "harmony": "i"}    # the vowel suffix harmony follows, when not the root's own last one
      ],
      "affixes": [                       # one id per class (unique names); the realizer picks the allomorph
        {"name": "lAr", "forms": ["lar", "ler"]},
        {"name": "DA", "forms": ["da", "de", "ta", "te"]}
      ]
    }

Roots and affix forms are lower case. An allomorph class may list forms that differ by a leading buffer letter
(``yı``/``ı``, ``ım``/``m``): the realizer then uses the vowel- or consonant-final context. The control tokens
(``<uppercase>``, ``<unknown>``, space, newline, tab, ``<pad>``, ``<eos>``) are fixed and need no entry.
`lexkit morph build-lexicon` writes the Turkish lexicon from hunspell-tr (`lexkit.vocab.morph.turkish`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from lexkit.atomic import atomic_write_text
from lexkit.encoders.morph import Phonology
from lexkit.errors import FormatError

__all__ = ["FORMAT", "VERSION", "Root", "AffixClass", "Lexicon", "load_lexicon", "lexicon_from_json"]

FORMAT = "lexkit-morph-lexicon"
VERSION = 1


@dataclass(frozen=True)
class Root:
    """A root: citation form first, then altered forms sharing its id; optional harmony vowel."""

    forms: tuple[str, ...]
    harmony: str = ""


@dataclass(frozen=True)
class AffixClass:
    """Allomorphs sharing one id (``lar``/``ler``), with a readable name (``lAr``)."""

    name: str
    forms: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    """A language's roots, affix classes and phonology (see the module docstring for the file format)."""

    language: str
    phonology: Phonology
    roots: tuple[Root, ...]
    affixes: tuple[AffixClass, ...]
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object."""
        roots: list[Any] = []
        for root in self.roots:
            if len(root.forms) == 1 and not root.harmony:
                roots.append(root.forms[0])
            else:
                entry: dict[str, Any] = {"forms": list(root.forms)}
                if root.harmony:
                    entry["harmony"] = root.harmony
                roots.append(entry)
        return {
            "format": FORMAT, "version": VERSION, "language": self.language, "source": self.source,
            "phonology": self.phonology.to_json(), "roots": roots,
            "affixes": [{"name": a.name, "forms": list(a.forms)} for a in self.affixes], **dict(self.extra),
        }

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the lexicon atomically (one root or affix per line, so diffs stay readable)."""
        data = self.to_json()
        head = {k: v for k, v in data.items() if k not in ("roots", "affixes")}
        lines = ["{"]
        lines += [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
        for key in ("affixes", "roots"):
            items = ",\n".join(f"    {json.dumps(item, ensure_ascii=False)}" for item in data[key])
            lines.append(f'  "{key}": [\n{items}\n  ]' + ("," if key == "affixes" else ""))
        lines.append("}")
        return atomic_write_text(Path(path), "\n".join(lines) + "\n")


def load_lexicon(path: str | PathLike[str]) -> Lexicon:
    """Read a lexicon file.

    Raises:
        FormatError: the file is missing, not JSON, not a lexicon, or an entry is malformed (the message
            names the file and the entry).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(
            f"{path}: no such lexicon file; build one with `lexkit morph build-lexicon` or see "
            "lexkit.vocab.morph.lexicon for the format"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: not a UTF-8 JSON lexicon ({exc}); see lexkit.vocab.morph.lexicon") from None
    return lexicon_from_json(data, name=str(path))


def lexicon_from_json(data: Any, *, name: str = "<lexicon>") -> Lexicon:
    """Validate and convert a lexicon's JSON object.

    Raises:
        FormatError: as `load_lexicon`.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FormatError(f'{name}: not a morph lexicon (expected "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise FormatError(f"{name}: lexicon version {data.get('version')!r} is not supported (this lexkit reads 1)")
    phonology_data = data.get("phonology")
    if not isinstance(phonology_data, dict) or not isinstance(phonology_data.get("vowels"), str):
        raise FormatError(f'{name}: "phonology" must be an object with at least "vowels" (a string of letters)')
    phonology = Phonology.from_json(phonology_data)
    for pair in phonology.voicing_pairs:
        if len(pair) != 2:
            raise FormatError(f'{name}: voicing pair {pair!r} must be two letters, "voiced voiceless"')
    roots = tuple(_root(entry, index, name) for index, entry in enumerate(_list(data, "roots", name)))
    affixes = tuple(_affix(entry, index, name) for index, entry in enumerate(_list(data, "affixes", name)))
    names = [affix.name for affix in affixes]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise FormatError(f"{name}: affix class name {duplicate!r} is used twice; names must be unique")
    known = {"format", "version", "language", "source", "phonology", "roots", "affixes"}
    return Lexicon(
        language=str(data.get("language", "")), phonology=phonology, roots=roots, affixes=affixes,
        source=str(data.get("source", "")), extra={k: v for k, v in data.items() if k not in known},
    )


def _list(data: dict[str, Any], key: str, name: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise FormatError(f'{name}: "{key}" must be a list')
    return value


def _forms(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value or not all(
            isinstance(form, str) and form and not any(c in " \n\t" for c in form) for form in value):
        raise FormatError(f"{name}: {where}: forms must be a non-empty list of non-empty strings without whitespace")
    return tuple(value)


def _root(entry: Any, index: int, name: str) -> Root:
    if isinstance(entry, str):
        return Root(_forms([entry], f"root {index}", name))
    if not isinstance(entry, dict):
        raise FormatError(f'{name}: root {index} must be a string or an object with "forms"')
    harmony = entry.get("harmony", "")
    if not isinstance(harmony, str) or len(harmony) > 1:
        raise FormatError(f"{name}: root {index} ({entry.get('forms')}): harmony must be one vowel")
    return Root(_forms(entry.get("forms"), f"root {index}", name), harmony)


def _affix(entry: Any, index: int, name: str) -> AffixClass:
    if not isinstance(entry, dict):
        raise FormatError(f'{name}: affix class {index} must be an object with "name" and "forms"')
    forms = _forms(entry.get("forms"), f"affix class {index} ({entry.get('name')!r})", name)
    if len(set(forms)) != len(forms):
        raise FormatError(f"{name}: affix class {index} ({entry.get('name')!r}) lists a form twice: {forms}")
    return AffixClass(str(entry.get("name") or forms[0]), forms)
