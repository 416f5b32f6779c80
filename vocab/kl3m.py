"""KL3M recipes: the ``domain`` tokenizer and the character-level ``char`` tokenizer.

Source: Bommarito, Katz and Bommarito, "KL3M Tokenizers: A Family of Domain-Specific and Character-Level
Tokenizers for Legal, Financial, and Preprocessing Applications" (2025).
Both recipes are byte-level BPE on the shared engine (GPT-2 regex, no prefix space, NFKC; lowercase for the
uncased variant) with KL3M's 13 special tokens, and pad the result to a power of two.

- ``domain`` (`DomainConfig`): trains BPE to ``vocab_size`` minus the curated terms, then adds the terms as
  non-special added tokens (HF semantics: matched leftmost-longest on the normalized text before
  pre-tokenization). Built-in term sets ship as data files (legal citation abbreviations, enumerations such as
  ``(a)`` and ``(iv)``, years 1900-2030, whitespace runs); users add term files (`load_term_list`). lexkit's own
  additions: each term also gets a space-prefixed variant (``" F.3d"``, on by default), because an added token
  cuts the text before pre-tokenization and would otherwise leave the preceding space as a token of its own;
  and terms starting with a letter or digit match only as whole words (`add_terms`). Remaining side effect
  (as in KL3M): a space-prefixed variant also matches the start of a longer word (`` 19995`` ->
  `` 1999`` + ``5``), so the built-in lists hold abbreviations and numbers, not plain words.
- ``char`` (`CharConfig`): BPE whose learned tokens have at most ``max_chars`` symbols (3 for the 4k and 8k
  presets, 4 for 16k, as KL3M ships), so a typo only moves the token boundaries next to it. Symbols are the
  byte-level surface characters, i.e. bytes (a leading space counts as one, as in KL3M's files). The limit is
  inclusive; ``length_rule="hf"`` instead trains with HF's exclusive ``max_token_length = max_chars + 1``,
  KL3M's exact setting, giving HF ``BpeTrainer``'s merge list.

Vocabulary size: ``vocab_size`` counts every token, specials and added terms included; the
padding step then rounds the size up to the next power of two (an exact power stays as it is).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from lexkit.errors import FormatError, VocabularyError
from lexkit.formats.surface import bytes_to_unicode
from lexkit.vocab._merge_engine import LengthRule
from lexkit.vocab.bpe import BPEConfig, BPETrainer, NormalizerName
from lexkit.vocabulary import AddedTokenOptions, Token, TokenKind, Vocabulary

__all__ = [
    "KL3M_SPECIAL_TOKENS", "TERM_SETS", "CHAR_PRESETS", "Padding", "parse_term_list", "load_term_list",
    "builtin_term_set", "DomainConfig", "CharConfig", "DomainTrainer", "CharTrainer", "add_terms",
    "next_power_of_two", "pad_to_power_of_two",
]

logger = logging.getLogger(__name__)

#: KL3M-004's special tokens (ids 0..12): generative-LM markers, masked-LM markers and chat roles.
KL3M_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|start|>", "<|end|>", "<|pad|>", "<|unk|>", "<|sep|>", "<|cls|>", "<|mask|>",
    "<|system|>", "</|system|>", "<|user|>", "</|user|>", "<|instruction|>", "</|instruction|>",
)
#: Built-in term sets (data files ``lexkit/data/kl3m-<name>.txt``, in the `load_term_list` format).
TERM_SETS: tuple[str, ...] = ("legal", "enumerations", "years", "whitespace")
#: KL3M's character-level presets: name -> (vocabulary size, longest learned token in symbols).
CHAR_PRESETS: dict[str, tuple[int, int]] = {"4k": (4096, 3), "8k": (8192, 3), "16k": (16384, 4)}

Padding = Literal["whitespace", "reserved"]
_ESCAPES = {"s": " ", "t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
_WHITESPACE_ESCAPES = {" ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


# ----------------------------------------------------------------------------------------------------------------
# term lists
def parse_term_list(data: bytes, source: str, *, max_chars: int = 64,
                    reserved: Collection[str] = ()) -> tuple[str, ...]:
    """Parse a term list: one term per line, UTF-8.

    Format: ``# `` (hash, space) or a lone ``#`` starts a comment line; the escapes ``\\s`` (space), ``\\t``,
    ``\\n``, ``\\r`` and ``\\\\`` write whitespace and backslashes, so a term may start or end with whitespace
    only through an escape. Blank lines may only end the file.

    Args:
        data: the file's bytes.
        source: the file name used in error messages.
        max_chars: the longest allowed term, in characters after unescaping.
        reserved: texts a term may not be (the special tokens).

    Returns:
        The terms in file order.

    Raises:
        FormatError: naming ``source:line`` for invalid UTF-8, a blank line before the last term, a raw tab or
            other control or invisible format character, leading or trailing raw whitespace, an unknown
            escape, a term shorter than 2 bytes or longer than ``max_chars``, a repeated or a reserved term.

    >>> parse_term_list(b"# citations\\nF.3d\\n\\\\s\\\\s\\n", "terms.txt")
    ('F.3d', '  ')
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    while lines and not lines[-1].strip(b"\r"):
        lines.pop()  # blank lines at the end of the file
    terms: list[str] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        where = f"{source}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"{where}: invalid UTF-8 at byte {exc.start} of the line; save the term list as UTF-8"
            ) from None
        if line.endswith("\r"):
            line = line[:-1]  # Windows line endings
        if line == "#" or line.startswith("# "):
            continue
        if not line:
            raise FormatError(
                f"{where}: empty line between terms; remove it (blank lines may only end the file, "
                "comments start with '# ')"
            )
        term = _check_term(line, where, max_chars=max_chars)
        if term in reserved:
            raise FormatError(f"{where}: term {term!r} is a special token already; remove the line")
        if term in first_line:
            raise FormatError(
                f"{where}: term {term!r} repeats line {first_line[term]}; remove one of the two lines"
            )
        first_line[term] = number
        terms.append(term)
    return tuple(terms)


def _check_term(line: str, where: str, *, max_chars: int) -> str:
    """Unescape and validate one term line (see `parse_term_list`)."""
    for position, char in enumerate(line):
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn") or char in "\u2028\u2029":
            hint = f"write it as {_WHITESPACE_ESCAPES[char]}" if char in _WHITESPACE_ESCAPES else "remove it"
            raise FormatError(
                f"{where}: control or invisible character U+{ord(char):04X} at column {position + 1}; {hint}"
            )
    if line != line.strip():
        raise FormatError(
            f"{where}: term {line!r} starts or ends with raw whitespace; remove it, or write intended "
            "whitespace as \\s (space), \\t, \\n or \\r"
        )
    chars: list[str] = []
    position = 0
    while position < len(line):
        char = line[position]
        if char == "\\":
            escape = line[position + 1 : position + 2]
            if escape not in _ESCAPES:
                raise FormatError(
                    f"{where}: unknown escape '\\{escape}' at column {position + 1}; the escapes are \\s \\t \\n "
                    "\\r and \\\\ (a literal backslash)"
                )
            chars.append(_ESCAPES[escape])
            position += 2
        else:
            chars.append(char)
            position += 1
    term = "".join(chars)
    if len(term.encode("utf-8")) < 2:
        raise FormatError(
            f"{where}: term {term!r} is a single byte, which is already a base token; remove the line"
        )
    if len(term) > max_chars:
        raise FormatError(
            f"{where}: term of {len(term)} characters is longer than the limit of {max_chars} "
            f"({term[:20]!r}...); shorten it or raise max_term_chars (--max-term-chars)"
        )
    return term


def load_term_list(path: str | PathLike[str], *, max_chars: int = 64,
                   reserved: Collection[str] = ()) -> tuple[str, ...]:
    """Read a term file in the `parse_term_list` format.

    Raises:
        FormatError: the file is missing or invalid (the message names ``file:line``).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the term list ({exc.strerror}); pass an existing file") from None
    return parse_term_list(data, str(path), max_chars=max_chars, reserved=reserved)


def builtin_term_set(name: str) -> tuple[str, ...]:
    """The terms of a built-in set (one of `TERM_SETS`).

    Raises:
        VocabularyError: unknown set name.
    """
    if name not in TERM_SETS:
        raise VocabularyError(f"unknown term set {name!r}; the built-in sets are {', '.join(TERM_SETS)}")
    data = resources.files("lexkit").joinpath("data", f"kl3m-{name}.txt").read_bytes()
    return parse_term_list(data, f"lexkit/data/kl3m-{name}.txt")


def _normalize(text: str, normalizer: str) -> str:
    """The text as the pipeline's normalizer leaves it (added terms are matched on normalized text)."""
    if "nfkc" in normalizer:
        text = unicodedata.normalize("NFKC", text)
    if "lowercase" in normalizer:
        text = text.lower()
    return text


def _garbled_by_hf_decoder(term: str) -> bool:
    """HF's ByteLevel decoder reads an added token made only of byte-table characters as byte-level text,
    which turns Latin-1 letters such as ``§`` or ``ü`` into invalid bytes (lexkit's own decode is exact)."""
    table = set(bytes_to_unicode().values())
    return not term.isascii() and all(char in table for char in term)


# ----------------------------------------------------------------------------------------------------------------
# configurations
@dataclass(frozen=True)
class _KL3MConfig(BPEConfig):
    """Settings shared by the KL3M recipes (see `DomainConfig`, `CharConfig`)."""

    special_tokens: tuple[str, ...] = KL3M_SPECIAL_TOKENS
    normalizer: NormalizerName = "nfkc"
    cased: bool = True
    pad_to_power_of_two: bool = True
    padding: Padding = "whitespace"

    def __post_init__(self) -> None:
        if not self.cased and "lowercase" not in self.normalizer:
            lowered = {"none": "lowercase", "nfkc": "nfkc-lowercase"}[self.normalizer]
            object.__setattr__(self, "normalizer", lowered)
        super().__post_init__()
        if self.padding not in ("whitespace", "reserved"):
            raise VocabularyError(f"padding {self.padding!r} is not 'whitespace' or 'reserved'; pass one of those")

    @property
    def length_rule(self) -> LengthRule:
        """How the engine reads ``max_token_length``."""
        return "hf"

    def added_terms(self) -> tuple[str, ...]:
        """The normalized terms added after training (none for the character-level recipe)."""
        return ()


@dataclass(frozen=True)
class DomainConfig(_KL3MConfig):
    """Settings of a KL3M domain tokenizer (the paper's domain recipe).

    Args:
        vocab_size: total size before padding: specials, bytes, merges and added terms.
        cased: False lowercases text and terms (KL3M's uncased model).
        term_sets: built-in term sets to add (`TERM_SETS`).
        term_files: user term files (`load_term_list` format), added after the built-in sets.
        terms: more terms given directly (each written as a term-file line, escapes included).
        space_variants: also add ``" " + term`` for every term not starting with whitespace.
        max_term_chars: the longest allowed term in characters.
        pad_to_power_of_two: pad the result to the next power of two.
        padding: filler for the padding: ``"whitespace"`` (KL3M: runs of spaces and newlines, as added tokens)
            or ``"reserved"`` (special tokens ``<|reserved_N|>``).

    Other fields as in `BPEConfig`; the defaults are KL3M's (NFKC, GPT-2 regex, 13 specials).

    Raises:
        VocabularyError: unknown term set, a term equal to a special token, or a vocabulary too small for the
            alphabet, the specials and the terms.
        FormatError: an invalid term file (the message names ``file:line``).
    """

    term_sets: tuple[str, ...] = TERM_SETS
    term_files: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    space_variants: bool = True
    max_term_chars: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("term_sets", "term_files", "terms"):
            object.__setattr__(self, name, tuple(str(item) for item in getattr(self, name)))
        if self.max_term_chars < 2:
            raise VocabularyError(f"max_term_chars must be >= 2; got {self.max_term_chars}")
        resolved = self._resolve_terms()
        object.__setattr__(self, "_terms", resolved)
        floor = 256 + len(self.special_tokens) + len(resolved)
        if self.vocab_size < floor:
            raise VocabularyError(
                f"vocab size {self.vocab_size} leaves no room to train: 256 bytes + {len(self.special_tokens)} "
                f"specials + {len(resolved)} added terms = {floor}; pass --vocab-size {floor + 1} or more, or "
                "fewer terms"
            )

    def _resolve_terms(self) -> tuple[str, ...]:
        """All terms, normalized, deduplicated across sources, with space variants, in source order."""
        sources: list[tuple[str, tuple[str, ...]]] = [(f"set {name}", builtin_term_set(name))
                                                      for name in self.term_sets]
        sources += [(path, load_term_list(path, max_chars=self.max_term_chars, reserved=self.special_tokens))
                    for path in self.term_files]
        inline = tuple(_check_term(term, f"terms[{index}]", max_chars=self.max_term_chars)
                       for index, term in enumerate(self.terms))
        sources.append(("terms", inline))
        specials = set(self.special_tokens)
        resolved: dict[str, None] = {}
        for source, terms in sources:
            for term in terms:
                normalized = _normalize(term, self.normalizer)
                if normalized in specials:  # inline terms, or a file term that normalizes to a special
                    raise VocabularyError(
                        f"{source}: term {term!r} is also a special token; remove it from the term list"
                    )
                variants = [normalized]
                if self.space_variants and not normalized[0].isspace():
                    variants.append(" " + normalized)
                for variant in variants:
                    resolved.setdefault(variant, None)
        return tuple(resolved)

    def added_terms(self) -> tuple[str, ...]:
        """The normalized terms (with space variants) added after training, in order."""
        terms: tuple[str, ...] = self.__dict__["_terms"]
        return terms


@dataclass(frozen=True)
class CharConfig(_KL3MConfig):
    """Settings of a KL3M character-level tokenizer (the paper's character-level recipe).

    Args:
        vocab_size: total size before padding (KL3M: 4096, 8192, 16384; see `CHAR_PRESETS`).
        max_chars: longest learned token in byte-level symbols; None picks KL3M's value for the size
            (3 up to 8192, else 4).
        hf_length_rule: train as KL3M did with HF (``max_token_length = max_chars + 1`` under HF's exclusive
            rule; same lengths, HF's exact merge list) instead of lexkit's inclusive limit.

    Other fields as in `BPEConfig`; ``max_token_length`` is derived from ``max_chars``.
    """

    max_chars: int | None = None
    hf_length_rule: bool = False

    def __post_init__(self) -> None:
        if self.max_chars is None:
            object.__setattr__(self, "max_chars", 3 if self.vocab_size <= 8192 else 4)
        assert self.max_chars is not None
        if self.max_chars < 2:
            raise VocabularyError(f"max_chars must be >= 2 (a merge joins two symbols); got {self.max_chars}")
        limit = self.max_chars + 1 if self.hf_length_rule else self.max_chars
        if self.max_token_length not in (None, limit):
            raise VocabularyError(
                f"max_token_length {self.max_token_length} contradicts max_chars {self.max_chars}; set only "
                "max_chars (--max-chars) for the char recipe"
            )
        object.__setattr__(self, "max_token_length", limit)
        super().__post_init__()

    @classmethod
    def preset(cls, name: str, **options: Any) -> CharConfig:
        """KL3M's ``4k``, ``8k`` or ``16k`` character-level settings (`CHAR_PRESETS`), plus ``options``.

        Raises:
            VocabularyError: unknown preset.
        """
        if name not in CHAR_PRESETS:
            raise VocabularyError(f"unknown char preset {name!r}; pick one of {', '.join(CHAR_PRESETS)}")
        vocab_size, max_chars = CHAR_PRESETS[name]
        return cls(vocab_size=vocab_size, max_chars=max_chars, **options)

    @property
    def length_rule(self) -> LengthRule:
        """``"hf"`` with `hf_length_rule`, else ``"inclusive"``."""
        return "hf" if self.hf_length_rule else "inclusive"


# ----------------------------------------------------------------------------------------------------------------
# trainers
class _KL3MTrainer(BPETrainer):
    """Byte-level BPE trained to a reserved budget, then added terms and power-of-two padding."""

    config: _KL3MConfig

    def train_from_counts(self, counts: Mapping[str, int], *, progress: bool = False) -> Vocabulary:
        """Learn merges from pre-token counts, then add the terms and pad (see the module docstring).

        Args:
            counts: pre-token surface string -> count, as `lexkit.corpus.count_pre_tokens` returns them.
            progress: show a progress bar of the merges on stderr.

        Returns:
            The vocabulary: specials, 256 bytes, merges, added terms, padding.
        """
        from lexkit.vocab._hf_compat import hf_words, learn_with_progress

        config = self.config
        terms = config.added_terms()
        prepared = hf_words(
            counts, special_tokens=list(config.special_tokens), initial_alphabet=list(bytes_to_unicode().values()),
        )
        result = learn_with_progress(
            prepared, vocab_size=config.vocab_size - len(terms), min_frequency=config.min_frequency,
            max_token_length=config.max_token_length, length_rule=config.length_rule, progress=progress,
        )
        vocabulary = self._vocabulary(result, counts)
        trained_size = len(vocabulary)
        vocabulary, in_model = add_terms(vocabulary, terms)
        added_size = len(vocabulary)
        if config.pad_to_power_of_two:
            vocabulary = pad_to_power_of_two(vocabulary, filler=config.padding)
        metadata = dict(vocabulary.metadata)
        metadata.update({
            "model_size": vocabulary.model_size, "encoder_size": len(vocabulary), "trained_size": trained_size,
            "added_terms": added_size - trained_size, "terms_already_learned": in_model,
            "padding_tokens": len(vocabulary) - added_size, "length_rule": config.length_rule,
        })
        garbled = [term for term in terms if _garbled_by_hf_decoder(term)]
        if garbled:
            logger.warning(
                "%d added terms (e.g. %r) are Latin-1-only: HF tokenizers' ByteLevel decoder garbles them when "
                "decoding from tokenizer.json (lexkit's decode is exact); prefix them with \\s in the term file",
                len(garbled), garbled[0],
            )
        return vocabulary.replace(metadata=metadata)


class DomainTrainer(_KL3MTrainer):
    """Trains a KL3M-style domain tokenizer (`DomainConfig`).

    >>> from lexkit.vocab import DomainConfig, train
    >>> config = DomainConfig(vocab_size=512, min_frequency=1, term_sets=(), terms=("F.3d",))
    >>> vocabulary = train(["See 12 F.3d 34 and 56 F.3d 78."] * 20, config, progress=False, workers=1)
    >>> len(vocabulary), vocabulary.metadata["added_terms"]
    (512, 2)
    >>> from lexkit import Tokenizer
    >>> tokenizer = Tokenizer(vocabulary)
    >>> [tokenizer.token_to_bytes(i) for i in tokenizer.encode("See 56 F.3d 78")]
    [b'See', b' 56', b' F.3d', b' 78']
    """

    name = "domain"
    config: DomainConfig

    def __init__(self, config: DomainConfig) -> None:
        super().__init__(config)


class CharTrainer(_KL3MTrainer):
    """Trains a KL3M-style character-level tokenizer (`CharConfig`): short tokens, stable boundaries.

    >>> from lexkit.vocab import CharConfig, train
    >>> vocabulary = train(["the theory of the thermal theme"] * 20, CharConfig(vocab_size=512, min_frequency=1),
    ...                    progress=False, workers=1)
    >>> max(len(t.content) for t in vocabulary.tokens if t.kind.value == "normal")
    3
    """

    name = "char"
    config: CharConfig

    def __init__(self, config: CharConfig) -> None:
        super().__init__(config)


# ----------------------------------------------------------------------------------------------------------------
# added terms and padding
def add_terms(vocabulary: Vocabulary, terms: Sequence[str]) -> tuple[Vocabulary, int]:
    """Add ``terms`` as non-special added tokens, matched on the normalized text before pre-tokenization.

    A term that starts with a word character (letter, digit, ``_``) gets HF's ``single_word`` option, so it
    is not cut out of a longer word or number (``paid.`` keeps ``id.`` whole, ``19995`` keeps ``1999``);
    a space-prefixed variant or a term starting with punctuation (``(a)`` in ``552(a)``) matches anywhere.
    A term the trainer already learned stays an ordinary token: HF can give an added token the model's id
    only when the byte-level surface equals the text, and forcing a learned word (``the``) out of longer
    words (``there``) would only cost tokens.

    Returns:
        The new vocabulary and how many terms were already tokens.
    """
    tokens = list(vocabulary.tokens)
    in_model = 0
    for term in terms:
        content = term.encode("utf-8")
        if vocabulary.id_of(content) is not None:
            in_model += 1
            continue
        options = AddedTokenOptions(single_word=term[0].isalnum() or term[0] == "_", normalized=True)
        tokens.append(Token(len(tokens), content, TokenKind.ADDED, added=options))
    return vocabulary.replace(tokens=tuple(tokens)), in_model


def next_power_of_two(size: int) -> int:
    """The smallest power of two >= ``size`` (an exact power of two is returned unchanged).

    >>> next_power_of_two(32768), next_power_of_two(32769), next_power_of_two(1)
    (32768, 65536, 1)
    """
    return 1 << max(size - 1, 0).bit_length()


def pad_to_power_of_two(vocabulary: Vocabulary, *, filler: Padding = "whitespace") -> Vocabulary:
    """Append filler tokens until the size is a power of two (KL3M's padding, without its doubling bug).

    Args:
        vocabulary: the vocabulary to pad.
        filler: ``"whitespace"``: runs of k spaces and k newlines for k = 2, 3, ..., alternately, skipping
            runs that already exist, as non-special added tokens; ``"reserved"``: special tokens
            ``<|reserved_N|>``.

    Returns:
        The padded vocabulary (the same object when the size is already a power of two).
    """
    missing = next_power_of_two(len(vocabulary)) - len(vocabulary)
    if not missing:
        return vocabulary
    tokens = list(vocabulary.tokens)
    present = {token.content for token in tokens}
    k = 2
    number = 0
    while missing:
        if filler == "whitespace":
            candidates = [b" " * k, b"\n" * k]
            k += 1
        else:
            candidates = [f"<|reserved_{number}|>".encode()]
            number += 1
        for content in candidates:
            if missing and content not in present:
                whitespace = filler == "whitespace"
                kind = TokenKind.ADDED if whitespace else TokenKind.SPECIAL
                tokens.append(Token(len(tokens), content, kind, added=AddedTokenOptions(normalized=whitespace)))
                present.add(content)
                missing -= 1
    return vocabulary.replace(tokens=tuple(tokens))
