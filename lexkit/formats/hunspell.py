"""Read a hunspell dictionary (``.dic`` + ``.aff``) into stems and the word forms its suffix rules generate.

Handles what word lists need: ``SET UTF-8``; ``FLAG`` num, long and single-character flags; ``SFX``/``PFX``
rules with strip strings and conditions (prefixes and suffixes applied independently, no cross products or
continuation classes, which hunspell-tr does not use). Used to build the Turkish lexicon (`lexkit.vocab.morph`),
as the offline "is this a Turkish word" predicate of `lexkit.analysis.meaning`, and (`read_aff` alone) for the
English gold segmentations of `lexkit.analysis.morph_gold`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from os import PathLike
from pathlib import Path

from lexkit.errors import FormatError

__all__ = ["AffixFile", "AffixRule", "Hunspell", "read_aff"]


@dataclass(frozen=True)
class AffixRule:
    """One affix rule line: strip this, add that, when the word matches the condition."""

    strip: str
    add: str
    condition: re.Pattern[str] | None  # None for ".": every word
    prefix: bool = False

    def apply(self, stem: str) -> str | None:
        """The derived form, or None when the condition or strip does not fit the stem."""
        if self.prefix:
            if (self.condition and not self.condition.match(stem)) or not stem.startswith(self.strip):
                return None
            return self.add + stem[len(self.strip):]
        if (self.condition and not self.condition.search(stem)) or not stem.endswith(self.strip):
            return None
        return stem[:len(stem) - len(self.strip)] + self.add


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such hunspell file; pass the .dic and .aff of one dictionary") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: byte {exc.start}: not UTF-8; only SET UTF-8 dictionaries are read") from None


@dataclass(frozen=True)
class AffixFile:
    """What a hunspell ``.aff`` file says: flag -> its affix rules, and how ``.dic`` entries spell flags."""

    rules: dict[str, list[AffixRule]]
    flag_mode: str  # "char" (one character per flag), "long" (two) or "num" (comma-separated numbers)


def read_aff(aff_path: str | PathLike[str]) -> AffixFile:
    """Read the ``SET``, ``FLAG``, ``PFX`` and ``SFX`` lines of a hunspell ``.aff`` file.

    Raises:
        FormatError: the file is missing or not UTF-8, ``SET`` names another encoding, or a rule line has fewer
            than 5 fields (each message names the line).
    """
    path = Path(aff_path)
    rules: dict[str, list[AffixRule]] = {}
    flag_mode = "char"
    for number, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "SET" and len(parts) > 1 and parts[1].upper() != "UTF-8":
            raise FormatError(f"{path}: line {number}: SET {parts[1]} is not supported (UTF-8 only)")
        if parts[0] == "FLAG" and len(parts) > 1:
            flag_mode = parts[1]
        if parts[0] not in ("SFX", "PFX") or (len(parts) == 4 and parts[2] in ("Y", "N")):
            continue  # not a rule line (a class header is "SFX flag Y count")
        if len(parts) < 5:
            raise FormatError(f"{path}: line {number}: affix rule {line!r} has fewer than 5 fields")
        strip = "" if parts[2] == "0" else parts[2]
        add = parts[3].split("/", 1)[0]
        add = "" if add == "0" else add
        condition = None if parts[4] == "." else re.compile(
            ("^" + parts[4]) if parts[0] == "PFX" else (parts[4] + "$"))
        rules.setdefault(parts[1], []).append(AffixRule(strip, add, condition, parts[0] == "PFX"))
    return AffixFile(rules, flag_mode)


class Hunspell:
    """A parsed hunspell dictionary.

    Args:
        dic_path: the ``.dic`` word list.
        aff_path: the ``.aff`` affix file.
        limit: read only the first ``limit`` dictionary entries (fast tests).
    """

    def __init__(self, dic_path: str | PathLike[str], aff_path: str | PathLike[str], *, limit: int | None = None):
        self.dic_path, self.aff_path = Path(dic_path), Path(aff_path)
        affixes = read_aff(self.aff_path)
        self.rules: dict[str, list[AffixRule]] = affixes.rules
        self.flag_mode = affixes.flag_mode
        #: dictionary entries in file order: word -> its affix flags (empty for plain words)
        self.entries: dict[str, tuple[str, ...]] = {}
        self._read_dic(limit)

    def _flags(self, text: str) -> tuple[str, ...]:
        if self.flag_mode == "num":
            return tuple(flag for flag in text.split(",") if flag)
        if self.flag_mode == "long":
            return tuple(text[i:i + 2] for i in range(0, len(text), 2))
        return tuple(text)

    def _read_dic(self, limit: int | None) -> None:
        lines = _read_lines(self.dic_path)
        for line in lines[1:] if lines and lines[0].strip().isdigit() else lines:
            word, _, flags = line.strip().partition("/")
            if not word:
                continue
            flags = flags.split()[0] if flags.strip() else ""
            self.entries[word] = self._flags(flags)
            if limit is not None and len(self.entries) >= limit:
                break

    def forms(self, stem: str) -> list[str]:
        """The stem and every form its affix flags generate."""
        out = [stem]
        for flag in self.entries.get(stem, ()):
            for rule in self.rules.get(flag, ()):
                form = rule.apply(stem)
                if form is not None:
                    out.append(form)
        return out

    @cached_property
    def words(self) -> frozenset[str]:
        """Every word form the dictionary accepts (case as written in the dictionary)."""
        return frozenset(form for stem in self.entries for form in self.forms(stem))

    @cached_property
    def suffix_strings(self) -> dict[str, int]:
        """Suffix string -> number of dictionary stems that carry it (what the affix rules add)."""
        counts: dict[str, int] = {}
        for flags in self.entries.values():
            for flag in flags:
                for rule in self.rules.get(flag, ()):
                    if not rule.prefix and rule.add:
                        counts[rule.add] = counts.get(rule.add, 0) + 1
        return counts
