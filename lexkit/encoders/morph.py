"""The ``morph`` encoder: root/affix lexicon first, BPE fallback, surface realization on decode.

Source: Bayram et al., "Tokens with Meaning: A Hybrid Tokenization Approach for NLP", arXiv 2508.14292
(``specs/trainers.md`` section 7). A vocabulary trained by ``lexkit.vocab.morph`` holds, in this id order,
control tokens (``<uppercase>``, ``<unknown>``, space, newline, tab, ``<pad>``, ``<eos>``), roots (content = the
citation form; altered forms such as ``kitab`` for ``kitap`` share the root's id), affix classes (content =
``##`` + the class name, e.g. ``##lAr``; every allomorph, ``ler``/``lar``, shares the class id) and a byte-level BPE
fallback trained on what the lexicon does not cover. What the realizer needs (allomorphs, root variants,
phonological classes) is kept in ``metadata["morph"]`` of ``lexkit.json``.

Encoding (per whitespace-separated word): split before each upper-case letter and emit ``<uppercase>`` for
each such segment, lower-case with the language's rules, then scan left to right: the longest root form, else
the longest affix form the realizer reproduces in this context, else a run of text no lexicon entry starts in,
encoded with the BPE merges. The fallback runs of every word a batch has not seen before go through one batched
call of `lexkit.engine` (the merges as a byte-level BPE ``tokenizer.json``; ids equal to merging by rank). Decoding chooses every allomorph from its neighbours (vowel harmony, voicing
assimilation, buffer consonants, altered roots before vowel-initial affixes). The encoder decodes each word it
has just encoded and, on a mismatch, encodes that word with the BPE fallback alone, so ``decode(encode(x)) == x``
for every text; `MorphEncoder.stats` counts those fallbacks (the realizer's miss rate).

Not handled: affix choice by anything but the previous sound (lexically irregular allomorphy falls back to
BPE); ALL-CAPS words cost one ``<uppercase>`` per letter, as in the released tokenizer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING, Any

import regex

from lexkit.encoders.base import Encoder
from lexkit.engine import split_flat
from lexkit.errors import EncodingError, LexkitError, LossyConversionError
from lexkit.vocabulary import JSON, TokenKind, Vocabulary

if TYPE_CHECKING:
    from lexkit.encoders._engines import CompiledTokenizer
    from lexkit.engine import Engine

__all__ = ["CONTROL_TOKENS", "AFFIX_PREFIX", "RESIDUE_SPLIT", "Phonology", "Realizer", "MorphEncoder"]

#: Control tokens of a morph vocabulary, in id order (ids 0-6), and their content.
CONTROL_TOKENS: tuple[tuple[str, str], ...] = (
    ("uppercase", "<uppercase>"), ("unknown", "<unknown>"), ("space", " "), ("newline", "\n"), ("tab", "\t"),
    ("pad", "<pad>"), ("eos", "<eos>"),
)
#: Prefix of an affix class token's content: keeps it apart from literal text (BPE never merges ``#`` with letters).
AFFIX_PREFIX = "##"
_WHITESPACE = regex.compile(r"([ \n\t])")
_CACHE_WORDS = 1 << 20  # distinct words remembered by an encoder
#: How the BPE fallback pre-splits text: runs of letters, of digits, of anything else (never across classes).
RESIDUE_SPLIT = regex.compile(r"\p{L}+|\p{N}+|[^\p{L}\p{N}]+")


@dataclass(frozen=True)
class Phonology:
    """The sound classes a realizer needs, as strings of (lower-case) letters.

    Args:
        vowels: all vowels.
        front: front vowels (the rest are back).
        rounded: rounded vowels.
        high: vowels that harmonize in rounding as well as in frontness (Turkish: the high vowels ıiuü).
        voiceless: voiceless consonants (a suffix-initial voicing pair takes its voiceless member after them).
        voicing_pairs: two-letter strings "voiced voiceless" that alternate at a suffix start (``dt``, ``cç``).
        lower: case pairs where lower-casing differs from Unicode's (Turkish ``{"I": "ı", "İ": "i"}``).
    """

    vowels: str
    front: str = ""
    rounded: str = ""
    high: str = ""
    voiceless: str = ""
    voicing_pairs: tuple[str, ...] = ()
    lower: Mapping[str, str] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Phonology:
        """Read the ``phonology`` object of a lexicon file or of ``metadata["morph"]``."""
        return cls(
            vowels=data["vowels"], front=data.get("front", ""), rounded=data.get("rounded", ""),
            high=data.get("high", ""), voiceless=data.get("voiceless", ""),
            voicing_pairs=tuple(data.get("voicing_pairs", ())), lower=dict(data.get("lower") or {}),
        )

    def to_json(self) -> JSON:
        """The JSON object `from_json` reads."""
        return {"vowels": self.vowels, "front": self.front, "rounded": self.rounded, "high": self.high,
                "voiceless": self.voiceless, "voicing_pairs": list(self.voicing_pairs), "lower": dict(self.lower or {})}

    def lower_text(self, text: str) -> str:
        """Lower-case with the language's special pairs first (Turkish ``I`` -> ``ı``)."""
        if self.lower:
            text = "".join(self.lower.get(char, char) for char in text)
        return text.lower()

    def upper_first(self, text: str) -> str:
        """Upper-case the first character (inverse of `lower_text` on one letter)."""
        if not text:
            return text
        inverse = {low: up for up, low in (self.lower or {}).items()}
        first = inverse.get(text[0]) or text[0].upper()
        return first + text[1:]


@dataclass(frozen=True, slots=True)
class _State:
    """What the realizer knows about the word so far: its last vowel and last character."""

    vowel: str = ""
    last: str = ""

    def after(self, surface: str, vowels: str, harmony: str = "") -> _State:
        if not surface:
            return self
        vowel = harmony
        if not vowel:
            for char in reversed(surface):
                if char in vowels:
                    vowel = char
                    break
            else:
                vowel = self.vowel
        return _State(vowel, surface[-1])


class Realizer:
    """Chooses the surface form of lexicon ids in context; shared by the encoder and the decoder.

    Args:
        phonology: the sound classes.
        affixes: affix class id -> its allomorphs.
        root_variants: root id -> [citation form, altered forms...] (only roots that have altered forms).
        root_harmony: root id -> the vowel suffix harmony follows after it, where it is not the root's own last
            vowel (loanwords such as ``saat`` -> ``saati``).
    """

    def __init__(self, phonology: Phonology, affixes: Mapping[int, Sequence[str]],
                 root_variants: Mapping[int, Sequence[str]], root_harmony: Mapping[int, str]) -> None:
        self.phonology = phonology
        self.affixes = {token_id: tuple(forms) for token_id, forms in affixes.items()}
        self.root_variants = {token_id: tuple(forms) for token_id, forms in root_variants.items()}
        self.root_harmony = dict(root_harmony)
        self._voiced = {pair[0]: pair[1] for pair in phonology.voicing_pairs}
        self._voiced.update({pair[1]: pair[1] for pair in phonology.voicing_pairs})
        self._buffer: dict[int, dict[str, bool | None]] = {
            token_id: self._buffer_rules(forms) for token_id, forms in self.affixes.items()
        }
        self._chosen: dict[tuple[int, str, str], str] = {}  # (class, last vowel, last character) -> allomorph

    def _buffer_rules(self, forms: Sequence[str]) -> dict[str, bool | None]:
        """Per allomorph: True if it only follows a vowel, False if only a consonant, None if either.

        A form that is another form plus one leading letter carries a buffer: a leading consonant (``yı`` vs
        ``ı``) follows vowels, a leading vowel (``ım`` vs ``m``) follows consonants; the shorter form the reverse.
        """
        rules: dict[str, bool | None] = dict.fromkeys(forms)
        vowels = self.phonology.vowels
        present = set(forms)
        for form in forms:
            if len(form) > 1 and form[1:] in present:
                lead_is_vowel = form[0] in vowels
                rules[form] = not lead_is_vowel
                rules[form[1:]] = lead_is_vowel
        return rules

    def choose(self, class_id: int, state: _State) -> str:
        """The allomorph of an affix class that fits after the word so far."""
        key = (class_id, state.vowel, state.last)
        found = self._chosen.get(key)
        if found is None:
            found = self._chosen[key] = self._choose(class_id, state)
        return found

    def _choose(self, class_id: int, state: _State) -> str:
        forms = self.affixes[class_id]
        if len(forms) == 1:
            return forms[0]
        phonology = self.phonology
        after_vowel = state.last in phonology.vowels
        after_voiceless = state.last in phonology.voiceless
        rules = self._buffer[class_id]
        best, best_score = forms[0], -1_000
        for form in forms:
            score = 0
            rule = rules[form]
            if rule is not None:
                score += 8 if rule == after_vowel else -8
            vowel = next((char for char in form if char in phonology.vowels), "")
            if vowel and state.vowel:
                score += 2 if (vowel in phonology.front) == (state.vowel in phonology.front) else -2
                if vowel in phonology.high:
                    score += 1 if (vowel in phonology.rounded) == (state.vowel in phonology.rounded) else -1
            if form[0] in self._voiced:
                score += 1 if (form[0] == self._voiced[form[0]]) == after_voiceless else -1
            if score > best_score:
                best, best_score = form, score
        return best

    def start(self, root_id: int, form: str, state: _State) -> _State:
        """The state after a root realized as ``form``."""
        return state.after(form, self.phonology.vowels, self.root_harmony.get(root_id, ""))

    def realize(self, pieces: Sequence[tuple[str, int, str]]) -> list[str]:
        """Surface strings of one word's lexicon and fallback pieces.

        Args:
            pieces: ``(kind, id, literal)`` with kind ``"root"``, ``"affix"`` or ``"text"``; ``literal`` is the
                root's citation form or the fallback text (ignored for affixes).
        """
        out: list[str] = []
        state = _State()
        vowels = self.phonology.vowels
        for position, (kind, token_id, literal) in enumerate(pieces):
            if kind == "affix":
                surface = self.choose(token_id, state)
                state = state.after(surface, vowels)
            elif kind == "root":
                surface = literal
                after = self.start(token_id, literal, state)
                variants = self.root_variants.get(token_id)
                following = pieces[position + 1] if position + 1 < len(pieces) else None
                if variants and following is not None and following[0] == "affix":
                    # subtle: an altered root form appears only before a vowel-initial affix, and the affix is
                    # then re-chosen after the altered form (söyle + Iyor -> söyl + üyor).
                    if self.choose(following[1], after)[0] in vowels:
                        surface = variants[1]
                        after = self.start(token_id, surface, state)
                state = after
            else:
                surface = literal
                state = state.after(literal, vowels)
            out.append(surface)
        return out


class MorphEncoder(Encoder):
    """Lexicon-first hybrid encoder with exact decoding (see the module docstring).

    `stats` counts ``words`` encoded (cache misses) and ``fallback_words`` whose lexicon segmentation did not
    decode back exactly and were encoded with the BPE fallback instead.
    """

    name = "morph"
    models = frozenset({"bpe"})

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(vocabulary)
        data = vocabulary.metadata.get("morph")
        if not isinstance(data, Mapping):
            raise LexkitError(
                "encoder 'morph' needs a vocabulary trained with algorithm 'morph' (metadata['morph'] is missing); "
                "train one with `lexkit train morph --lexicon PATH`, or pick another encoder"
            )
        self.phonology = Phonology.from_json(data["phonology"])
        control = {name: int(token_id) for name, token_id in data["control"].items()}
        self._uppercase = control["uppercase"]
        self._whitespace = {" ": control["space"], "\n": control["newline"], "\t": control["tab"]}
        self._whitespace_ids = {token_id: char for char, token_id in self._whitespace.items()}
        root_start, root_end = data["roots"]
        affixes = {int(token_id): forms for token_id, forms in data["affixes"].items()}
        variants = {int(token_id): forms for token_id, forms in data["root_variants"].items()}
        self.realizer = Realizer(
            self.phonology, affixes, variants, {int(k): v for k, v in data["root_harmony"].items()},
        )
        tokens = vocabulary.tokens
        self._kind: dict[int, str] = {}
        self._root_forms: dict[str, int] = {}
        for token_id in range(root_start, root_end):
            self._kind[token_id] = "root"
            for form in variants.get(token_id, (tokens[token_id].text,)):
                self._root_forms.setdefault(form, token_id)
        self._affix_forms: dict[str, list[int]] = {}
        for token_id, forms in affixes.items():
            self._kind[token_id] = "affix"
            for form in forms:
                self._affix_forms.setdefault(form, []).append(token_id)
        # Every prefix of a form, so a longest-match scan stops as soon as no form can continue.
        self._root_prefixes = {form[:end] for form in self._root_forms for end in range(1, len(form) + 1)}
        self._affix_prefixes = {form[:end] for form in self._affix_forms for end in range(1, len(form) + 1)}
        self.roots_only_at_word_start = bool(data.get("roots_only_at_word_start", False))
        self._byte_ids = vocabulary.byte_ids
        if len(self._byte_ids) < 256:
            raise LexkitError(
                f"encoder 'morph' needs all 256 single bytes for its BPE fallback; this vocabulary has "
                f"{len(self._byte_ids)}; retrain it with `lexkit train morph`"
            )
        self._word_cache: dict[str, list[int]] = {}
        self._bpe_cache: dict[str, list[int]] = {}
        self._fallback_compiled: CompiledTokenizer | None = None
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------------------------------------------
    # encoding
    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        return self.encode_ordinary_batch([text], add_special_tokens=add_special_tokens)[0]

    def encode_ordinary_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        """Ids of each text; the words no text has shown before are segmented together (`encode_words`)."""
        if add_special_tokens and self.vocabulary.post_processor is not None:
            raise EncodingError("encoder 'morph' has no post-processor; pass add_special_tokens=False")
        split = [_WHITESPACE.split(text) for text in texts]
        cache = self._word_cache
        whitespace = self._whitespace
        new = [part for part in dict.fromkeys(chain.from_iterable(split))
               if part and part not in whitespace and part not in cache]
        found = dict(zip(new, self.encode_words(new)))
        if len(cache) + len(found) > _CACHE_WORDS:
            cache.clear()  # bounded memory on huge corpora; frequent words come back at once
        cache.update(found)
        out: list[list[int]] = []
        for parts in split:
            ids: list[int] = []
            for part in parts:
                if part:
                    space = whitespace.get(part)
                    if space is not None:
                        ids.append(space)
                    else:
                        ids += cache[part] if part in cache else found[part]
            out.append(ids)
        return out

    def encode_word(self, word: str) -> list[int]:
        """Ids of one whitespace-free word: lexicon segmentation if it decodes back exactly, else BPE."""
        return self._expand(self.word_pieces(word))

    def word_pieces(self, word: str) -> list[int | str]:
        """One word as lexicon ids and the texts the BPE fallback encodes, in order (exact on decoding)."""
        return self.words_pieces([word])[0]

    def encode_words(self, words: Sequence[str]) -> list[list[int]]:
        """`encode_word` of each word, their fallback texts encoded together (`words_pieces`)."""
        return [self._expand(pieces) for pieces in self.words_pieces(words)]

    def words_pieces(self, words: Sequence[str]) -> list[list[int | str]]:
        """`word_pieces` of each word: each round's fallback texts go through one batched engine call."""
        self.stats["words"] += len(words)
        out: list[list[int | str]] = [self._pieces(word, lexicon=True) for word in words]
        pending = list(range(len(words)))
        for lexicon in (False, None):  # the lexicon pieces, then the plain fallback, then the word as one text
            self._fill_fallback([piece for index in pending for piece in out[index] if isinstance(piece, str)])
            pending = [index for index in pending
                       if self._decode_word(self._expand(out[index])) != words[index].encode("utf-8")]
            if lexicon is False:
                self.stats["fallback_words"] += len(pending)
            for index in pending:
                out[index] = self._pieces(words[index], lexicon=False) if lexicon is False else [words[index]]
        self._fill_fallback([words[index] for index in pending])  # no case markers: always exact
        return out

    def _expand(self, pieces: list[int | str]) -> list[int]:
        ids: list[int] = []
        for piece in pieces:
            if isinstance(piece, str):
                ids += self._bpe(piece)
            else:
                ids.append(piece)
        return ids

    def _case_segments(self, word: str) -> list[tuple[bool, str]]:
        """Split before each upper-case letter whose lower-casing the decoder can undo; lower-case those."""
        segments: list[tuple[bool, str]] = []
        phonology = self.phonology
        for char in word:
            lowered = phonology.lower_text(char) if char.isupper() else char
            marked = lowered != char and len(lowered) == 1 and phonology.upper_first(lowered) == char
            if marked or not segments:
                segments.append((marked, lowered if marked else char))
            else:
                segments[-1] = (segments[-1][0], segments[-1][1] + char)
        return segments

    def _pieces(self, word: str, *, lexicon: bool) -> list[int | str]:
        """Scan each lower-case segment: the longest root, else the longest affix form the realizer would give
        here, else one character of a text run (encoded by the fallback)."""
        out: list[int | str] = []
        vowels = self.phonology.vowels
        state = _State()  # the realizer's view of the word so far (the decoder re-checks the whole word)
        matched = False  # a root or affix was matched earlier in the word
        for marked, segment in self._case_segments(word):
            if marked:
                out.append(self._uppercase)
            if not lexicon:
                out.append(segment)
                continue
            size = len(segment)
            position = 0
            run_start = -1
            while position < size:
                run = segment[run_start:position] if run_start >= 0 else ""
                roots_ok = not (self.roots_only_at_word_start and matched)
                found = self._match(segment, position, roots_ok, state, run)
                if found is None:
                    if run_start < 0:
                        run_start = position
                    position += 1
                    continue
                if run:
                    out.append(run)
                    state = state.after(run, vowels)
                    run_start = -1
                kind, token_id, form = found
                out.append(token_id)
                state = self.realizer.start(token_id, form, state) if kind == "root" else state.after(form, vowels)
                matched = True
                position += len(form)
            if run_start >= 0:
                out.append(segment[run_start:])
                state = state.after(segment[run_start:], vowels)
        return out

    def _match(self, segment: str, position: int, roots_ok: bool, state: _State,
               run: str) -> tuple[str, int, str] | None:
        """The lexicon piece starting at ``position``, if any (``run``: pending fallback text just before it)."""
        size = len(segment)
        if roots_ok:
            end, best = position + 1, None
            while end <= size and segment[position:end] in self._root_prefixes:
                if segment[position:end] in self._root_forms:
                    best = segment[position:end]
                end += 1
            if best is not None:
                return ("root", self._root_forms[best], best)
        if not state.last and not run:
            return None  # an affix needs something to attach to
        end, candidates = position + 1, []
        while end <= size and segment[position:end] in self._affix_prefixes:
            candidates.append(segment[position:end])
            end += 1
        here = state.after(run, self.phonology.vowels) if run and candidates else state
        for form in reversed(candidates):  # longest first
            for class_id in self._affix_forms.get(form, ()):
                if self.realizer.choose(class_id, here) == form:
                    return ("affix", class_id, form)
        return None

    def _bpe(self, text: str) -> list[int]:
        """The BPE fallback: merges by rank inside each letter / digit / other run."""
        cache = self._bpe_cache
        runs = RESIDUE_SPLIT.findall(text)
        if any(run not in cache for run in runs):
            self._fill_fallback([text])
        return [token_id for run in runs for token_id in cache[run]]

    def _fill_fallback(self, texts: Sequence[str]) -> None:
        """Encode every letter / digit / other run of ``texts`` not encoded yet, in one engine call."""
        cache = self._bpe_cache
        runs = [run for run in dict.fromkeys(chain.from_iterable(map(RESIDUE_SPLIT.findall, texts)))
                if run not in cache]
        if not runs:
            return
        if len(cache) + len(runs) > _CACHE_WORDS:
            cache.clear()
        engine = self._fallback_engine
        if engine is None:  # no merges: every byte is its own token
            byte_ids = self._byte_ids
            cache.update((run, [byte_ids[byte] for byte in run.encode("utf-8")]) for run in runs)
            return
        ids, offsets = engine.encode_batch_flat(runs)
        cache.update(zip(runs, split_flat(ids, offsets)))

    @cached_property
    def _fallback_engine(self) -> Engine | None:
        """The BPE fallback as a byte-level BPE ``tokenizer.json`` in `lexkit.engine` (None: no merges).

        Each run is one pre-token (``ByteLevel`` without its regex), so the engine applies the merges by rank
        inside each run, as HF's BPE does; the parts and results of the merges are the vocabulary's own ids.
        """
        from lexkit.encoders._engines import compiled
        from lexkit.formats.surface import bytes_to_unicode

        vocabulary = self.vocabulary
        if not vocabulary.merges:
            return None
        table = bytes_to_unicode()
        tokens = vocabulary.tokens

        def surface(token_id: int) -> str:
            return "".join(table[byte] for byte in tokens[token_id].content)

        vocab = {surface(token_id): token_id for token_id in self._byte_ids.values()}
        merges: list[list[str]] = []
        seen: set[tuple[int, int]] = set()
        for merge in vocabulary.merges:
            if (merge[0], merge[1]) not in seen:  # the first rank of a pair wins, as in `Vocabulary.merge_ranks`
                seen.add((merge[0], merge[1]))
                vocab[surface(vocabulary.merge_result(merge))] = vocabulary.merge_result(merge)
                merges.append([surface(merge[0]), surface(merge[1])])
        data: JSON = {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                              "use_regex": False},
            "post_processor": None, "decoder": None,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False, "vocab": vocab, "merges": merges},
        }
        self._fallback_compiled = compiled(data, {})  # held: the engine cache keeps entries while they are used
        return self._fallback_compiled.engine

    # ------------------------------------------------------------------------------------------------------
    # decoding
    def token_surfaces(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> list[bytes]:
        """The bytes each id stands for in this context (``<uppercase>`` stands for nothing).

        Raises:
            LexkitError: an id is outside the vocabulary.
        """
        tokens = self.vocabulary.tokens
        out: list[bytes] = []
        word: list[int] = []

        def flush() -> None:
            if word:
                out.extend(self._realize(word))
                word.clear()

        for position, token_id in enumerate(ids):
            if not 0 <= token_id < len(tokens):
                raise LexkitError(f"token id {token_id} at position {position} is outside the vocabulary")
            if token_id in self._whitespace_ids:
                flush()
                out.append(self._whitespace_ids[token_id].encode())
            elif tokens[token_id].kind == TokenKind.SPECIAL and token_id != self._uppercase:
                flush()
                out.append(b"" if skip_special_tokens else tokens[token_id].content)
            else:
                word.append(token_id)
        flush()
        return out

    def decode_bytes(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> bytes:
        """The exact bytes of ``ids``, each allomorph and root form chosen by the realizer."""
        return b"".join(self.token_surfaces(ids, skip_special_tokens=skip_special_tokens))

    def _decode_word(self, ids: list[int]) -> bytes:
        return b"".join(self._realize(ids))

    def _realize(self, ids: list[int]) -> list[bytes]:
        """Surfaces of one word's ids (no whitespace among them)."""
        tokens = self.vocabulary.tokens
        pieces: list[tuple[str, int, str]] = []
        raw: list[bytes | None] = []
        for token_id in ids:
            kind = self._kind.get(token_id, "text")
            if token_id == self._uppercase:
                raw.append(b"")
                continue
            content = tokens[token_id].content
            # Fallback bytes may cut a character; they only feed the realizer's context, decoded leniently.
            pieces.append((kind, token_id, content.decode("utf-8", errors="ignore") if kind != "affix" else ""))
            raw.append(content if kind == "text" else None)
        surfaces = iter(self.realizer.realize(pieces))
        out: list[bytes] = []
        marks: list[int] = []
        for token_id, literal in zip(ids, raw, strict=True):
            if token_id == self._uppercase:
                marks.append(len(out) + 1)
                out.append(b"")
                continue
            surface = next(surfaces)  # one per non-marker id, fallback pieces included
            out.append(literal if literal is not None else surface.encode("utf-8"))
        for mark in marks:
            self._upper_at(out, mark)
        return out

    def _upper_at(self, parts: list[bytes], index: int) -> None:
        """Upper-case the character that starts ``parts[index]`` (it may run on into the next fallback bytes)."""
        if index >= len(parts) or not parts[index]:
            return
        lead = parts[index][0]
        need = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        taken: list[tuple[int, int]] = []  # (part, bytes of the character it holds)
        position = index
        while need and position < len(parts):
            used = len(parts[position][:need])
            taken.append((position, used))
            need -= used
            position += 1
        try:
            char = b"".join(parts[p][:n] for p, n in taken).decode("utf-8")
        except UnicodeDecodeError:
            return  # not a whole character: the encoder's check sends such words to the plain fallback
        if need:
            return
        for part, used in taken:
            parts[part] = parts[part][used:]
        parts[index] = self.phonology.upper_first(char).encode("utf-8") + parts[index]

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """No ``tokenizer.json`` form: HF has no lexicon-first model with allomorph realization.

        Raises:
            LossyConversionError: always without ``allow_lossy=True`` (then the plain BPE part is returned).
        """
        if not allow_lossy:
            raise LossyConversionError(
                "encoder 'morph' cannot be written as a tokenizer.json (lexicon matching and allomorph "
                "realization have no HF form); save lexkit.json (Tokenizer.save does), or pass allow_lossy=True"
            )
        return super().to_hf(allow_lossy=True)
