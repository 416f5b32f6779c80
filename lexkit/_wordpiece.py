"""lexkit's WordPiece engine: BERT's whole encode pipeline in one C pass (``lexkit/_wordpiece_kernel.c``).

Runs a ``tokenizer.json`` of exactly BERT's shape (`unsupported` says why another is refused): the
``BertNormalizer``, the ``BertPreTokenizer`` and a ``WordPiece`` model, with no added tokens (`lexkit.engine`
handles specials). fastokens has no WordPiece model, and HF runs BERT at about 2 MB/s.

Exact by construction: the normalizer and the pre-tokenizer are per-character tables filled by running HF's
own components on every code point (`_tables`), so they follow HF's Unicode data (Rust's ``to_lowercase``,
its punctuation and control classes), not Python's. The one context the tables cannot give is NFD's canonical
reordering of combining marks that survive accent stripping: a text holding a character whose output keeps such
a mark (e.g. U+1D165, U+1715) or a code point the ``regex`` module's Unicode data does not know (its combining
class unknown) is encoded by HF instead. `lexkit.engine` also probes the engine against HF before it trusts it.

The tables are built in two steps, each once per process and normalizer setting (`_tables`): the Basic
Multilingual Plane when the engine is built, and every code point (about 1.5 s on this 2-core machine, most of a
cold BERT load) only after `WIDE_ROUTED_CHARS` characters of texts holding a character above U+FFFF went to HF.
Until then such texts are encoded by HF, like the routed ones above: the same ids, later or never paying the cost.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lexkit.components import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN

if TYPE_CHECKING:
    import tokenizers

__all__ = ["ByteLevelWordPieceEngine", "WordPieceEngine", "byte_level_unsupported", "unsupported"]

JSON = dict[str, Any]
CODE_POINTS = 0x110000
_SAME, _SURROGATE, _ROUTE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_WORD, _SPACE, _PUNCT = 0, 1, 2
#: Batches holding more characters than this are encoded in one thread per core (the kernel drops the GIL).
PARALLEL_CHARS = 1 << 20
#: Unicode has assigned nothing in planes 4 to 13: the probe samples them every this many code points.
_EMPTY_PLANES = range(0x40000, 0xE0000)
_SAMPLE_STEP = 64
_MAX_CHARS = 1 << 20
#: The code points whose tables the engine builds first (`_tables`): the Basic Multilingual Plane.
NARROW_LIMIT = 0x10000
#: Characters of texts holding a code point above `NARROW_LIMIT` that go to HF before the engine builds the tables
#: of every code point (`WordPieceEngine.widen`); a 2,000-line chunk of the English corpus is about 37,000.
WIDE_ROUTED_CHARS = 1 << 16


def unsupported(data: JSON) -> str:
    """Why the WordPiece engine cannot run ``data`` (a ``tokenizer.json`` object); empty when it can."""
    model = data.get("model") or {}
    if model.get("type") != "WordPiece":
        return "not a WordPiece model"
    normalizer, pre = data.get("normalizer") or {}, data.get("pre_tokenizer") or {}
    if normalizer.get("type") != "BertNormalizer" or pre != {"type": "BertPreTokenizer"}:
        return "the WordPiece engine runs only BertNormalizer + BertPreTokenizer"
    if data.get("added_tokens") or data.get("truncation") or data.get("padding"):
        return "the WordPiece engine runs no added tokens, truncation or padding"
    prefix = model.get("continuing_subword_prefix", "##")
    max_chars = model.get("max_input_chars_per_word", 100)
    if model.get("unk_token") not in model.get("vocab", {}) or not isinstance(prefix, str) or len(
            prefix.encode()) > 16 or not isinstance(max_chars, int) or not 0 <= max_chars <= _MAX_CHARS:
        return "the WordPiece model's unk_token, prefix or max_input_chars_per_word is out of the engine's range"
    try:
        from lexkit import _wordpiece_kernel  # noqa: F401
    except ImportError:
        return "lexkit's WordPiece kernel is not built (no C compiler at install time)"
    return ""


class _Encoding(NamedTuple):
    ids: list[int]


class WordPieceEngine:
    """BERT's pipeline compiled: the per-code-point tables and the vocabulary hash live in the C kernel.

    Offers the calls of the fast engine that `lexkit.engine.Engine` uses (``encode_batch_flat`` and ``encode``).

    Args:
        data: a ``tokenizer.json`` object that `unsupported` accepts.
        reference: HF's tokenizer built from ``data`` (the encoder's own, so it is not parsed twice); None:
            build one.
    """

    name = "wordpiece"

    def __init__(self, data: JSON, reference: tokenizers.Tokenizer | None = None) -> None:
        from lexkit import _wordpiece_kernel

        reason = unsupported(data)
        if reason:
            raise ValueError(f"WordPieceEngine cannot run this tokenizer.json: {reason}")
        self._kernel = _wordpiece_kernel
        if reference is None:
            from tokenizers import Tokenizer as HFTokenizer

            reference = HFTokenizer.from_str(json.dumps(data, ensure_ascii=False))
        self.reference: tokenizers.Tokenizer = reference
        model = data["model"]
        vocab: dict[str, int] = model["vocab"]
        self._normalizer = json.dumps(data["normalizer"], sort_keys=True)
        self._vocab = ([token.encode() for token in vocab], list(vocab.values()), vocab[model["unk_token"]],
                       model.get("continuing_subword_prefix", "##").encode(), model.get("max_input_chars_per_word", 100))
        self._model = self._new_model(NARROW_LIMIT)
        self.wide = False  # True once the tables cover every code point (`widen`)
        self._wide_routed = 0  # characters of texts routed for a code point above NARROW_LIMIT so far
        self._lock = threading.Lock()
        plain = self.reference.encode("a", add_special_tokens=False).ids
        full = self.reference.encode("a", add_special_tokens=True).ids
        start = next(i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain)
        self._affixes = full[:start], full[start + len(plain):]

    def _new_model(self, limit: int) -> Any:
        return self._kernel.new_model(*_tables(self._normalizer, limit), *self._vocab)

    def widen(self) -> None:
        """Build the tables of every code point now (else built after `WIDE_ROUTED_CHARS` routed characters)."""
        with self._lock:
            if not self.wide:
                self._model = self._new_model(CODE_POINTS)
                self.wide = True

    def encode_batch_flat(self, texts: Sequence[str], *, add_special_tokens: bool = False,
                          split_special_tokens: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """All ids as one ``uint32`` array and ``len(texts) + 1`` ``int64`` offsets (text ``i`` is
        ``ids[offsets[i]:offsets[i + 1]]``); ``add_special_tokens`` runs the post-processor.

        ``split_special_tokens`` is accepted for the engine interface: this engine holds no added tokens.

        Raises:
            UnicodeEncodeError: a text holds a lone surrogate.
            TypeError: an item is not a ``str``.
        """
        return _encode_in_parts(self._encode_part, list(texts), add_special_tokens)

    def _encode_part(self, texts: list[str], add: bool) -> tuple[np.ndarray, np.ndarray]:
        prefix, suffix = self._affixes if add else ((), ())
        raw_ids, raw_offsets, routed, bad = self._kernel.encode_batch(self._model, texts, prefix, suffix)
        if bad >= 0:
            texts[bad].encode("utf-8")  # raises the UnicodeEncodeError that names the surrogate
        ids = np.frombuffer(raw_ids, dtype=np.uint32)
        offsets = np.frombuffer(raw_offsets, dtype=np.uint64).astype(np.int64)
        if not routed:
            return ids, offsets
        others = [texts[i] for i in routed]
        if not self.wide:
            # subtle: a racing thread may lose an addition; the count only decides when to widen
            self._wide_routed += sum(len(text) for text in others if text and max(text) > "\uffff")
            if self._wide_routed > WIDE_ROUTED_CHARS:
                self.widen()
        return _splice(ids, offsets, routed, self._reference_lists(others, add))

    def _reference_lists(self, texts: list[str], add: bool) -> list[list[int]]:
        return [e.ids for e in self.reference.encode_batch(texts, add_special_tokens=add)]

    def encode(self, text: str, *, add_special_tokens: bool = False, split_special_tokens: bool = True
               ) -> _Encoding:
        """The ids of one text (``.ids``, as HF's ``Encoding``)."""
        ids, _ = self._encode_part([text], add_special_tokens)
        return _Encoding(ids.tolist())


def _splice(ids: np.ndarray, offsets: np.ndarray, routed: list[int], lists: list[list[int]]
            ) -> tuple[np.ndarray, np.ndarray]:
    """``ids``/``offsets`` with text ``routed[k]`` (empty so far) replaced by ``lists[k]``."""
    parts = np.split(ids, offsets[1:-1])
    for index, seq in zip(routed, lists):
        parts[index] = np.asarray(seq, dtype=np.uint32)
    out = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(part) for part in parts], out=out[1:])
    return np.concatenate(parts).astype(np.uint32, copy=False), out


def _parts(texts: list[str]) -> list[tuple[int, int]]:
    """Contiguous index ranges of about equal characters, one per core (one range for small batches)."""
    workers = os.cpu_count() or 1
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    total = int(lengths.sum())
    if workers == 1 or total <= PARALLEL_CHARS or len(texts) < 2:
        return [(0, len(texts))]
    cuts = np.searchsorted(np.cumsum(lengths), [total * k // workers for k in range(1, workers)])
    bounds = sorted({0, *(int(c) + 1 for c in cuts), len(texts)})
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def _encode_in_parts(encode_part: Callable[[list[str], bool], tuple[np.ndarray, np.ndarray]], texts: list[str],
                     add: bool) -> tuple[np.ndarray, np.ndarray]:
    """``encode_part`` over one slice of ``texts`` per core, joined into one flat ids array and its offsets."""
    parts = _parts(texts)
    if len(parts) == 1:
        return encode_part(texts, add)
    results = list(_pool(os.getpid()).map(lambda bounds: encode_part(texts[bounds[0]:bounds[1]], add), parts))
    ids = np.concatenate([r[0] for r in results])
    shifts = np.cumsum([0] + [len(r[0]) for r in results[:-1]])
    offsets = np.concatenate([[0]] + [r[1][1:] + shift for r, shift in zip(results, shifts)])
    return ids, offsets.astype(np.int64, copy=False)


@lru_cache(maxsize=1)
def _pool(pid: int) -> ThreadPoolExecutor:
    """The worker threads; keyed by process id, since a forked child inherits the pool but not its threads."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="lexkit-wordpiece")


@lru_cache(maxsize=4)
def _tables(normalizer: str, limit: int = CODE_POINTS) -> tuple[bytes, bytes, bytes]:
    """The kernel's per-code-point tables for one ``BertNormalizer`` (JSON): the code map, its pool, classes;
    code points from ``limit`` on are routed to HF.

    Both come from HF itself: every code point, each after a ``#`` (a starter that maps to itself), goes
    through HF's normalizer, and every code point through ``BertPreTokenizer`` (`_classes`). The normalized
    probe text is the pool: each ``#`` is overwritten with the length of the output that follows it.

    subtle: planes 4 to 13 hold no assigned character in any Unicode version; they are probed every
    `_SAMPLE_STEP` code points and left as word characters that stay themselves only if every sample does
    (else every code point is probed).
    """
    from tokenizers import Tokenizer as HFTokenizer

    settings = json.loads(normalizer)
    probe = HFTokenizer.from_str(json.dumps({
        "version": "1.0", "normalizer": settings, "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}}))
    every = np.arange(CODE_POINTS, dtype=np.uint32)
    probed = ((every < 0xD800) | (every >= 0xE000)) & (every != 0x23) & (every < limit)
    empty = (every >= _EMPTY_PLANES.start) & (every < _EMPTY_PLANES.stop)
    code_points = every[probed & (~empty | (every % _SAMPLE_STEP == 0))]
    code_map, pool, classes, reordering = _probe(probe, code_points)
    sampled = code_points[(code_points >= _EMPTY_PLANES.start) & (code_points < _EMPTY_PLANES.stop)]
    if (code_map[sampled] != _SAME).any() or classes[sampled].any():
        code_map, pool, classes, reordering = _probe(probe, every[probed])
    if probe.normalizer.normalize_str("#") != "#" or [p for p, _ in probe.pre_tokenizer.pre_tokenize_str(
            "a#a")] != ["a", "#", "a"]:
        raise RuntimeError("HF's BertNormalizer/BertPreTokenizer changed '#', the probe's separator")
    classes[0x23] = _PUNCT
    code_map[0xD800:0xE000] = _SURROGATE
    code_map[limit:] = _ROUTE
    strip = settings.get("strip_accents")
    if settings.get("lowercase", True) if strip is None else strip:
        code_map[reordering] = _ROUTE
    return code_map.tobytes(), pool.tobytes(), classes.tobytes()


def _probe(probe: tokenizers.Tokenizer, code_points: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """HF's normalizer output (code map and pool) and pre-tokenizer class of each of ``code_points``, and those
    whose output NFD could reorder (`_reordering`)."""
    interleaved = np.empty(2 * len(code_points), dtype=np.uint32)
    interleaved[0::2] = 0x23
    interleaved[1::2] = code_points
    normalized = probe.normalizer.normalize_str(interleaved.tobytes().decode("utf-32-le"))
    pool = np.frombuffer(normalized.encode("utf-32-le"), dtype=np.uint32).copy()
    starts = np.flatnonzero(pool == 0x23)
    if len(starts) != len(code_points):
        raise RuntimeError("HF's normalizer output does not split back into one part per code point")
    lengths = np.diff(np.append(starts, len(pool))) - 1
    reordering = _reordering(code_points, starts, pool)
    same = (lengths == 1) & (pool[np.minimum(starts + 1, len(pool) - 1)] == code_points)
    pool[starts] = lengths
    code_map = np.full(CODE_POINTS, _SAME, dtype=np.uint32)
    code_map[code_points[~same]] = starts[~same]
    classes = np.zeros(CODE_POINTS, dtype=np.uint8)
    classes[code_points] = _classes(probe, code_points)
    return code_map, pool, classes, reordering


def _classes(probe: tokenizers.Tokenizer, code_points: np.ndarray) -> np.ndarray:
    """BertPreTokenizer's class of each code point: white space (dropped), punctuation (alone) or word.

    All code points in a row: a piece of two or more characters is word characters, an uncovered position
    white space; a one-character piece is punctuation or a word character between two others, which a second
    probe with each of them between two ``a``s tells apart.
    """
    text = code_points.tobytes().decode("utf-32-le")
    kinds = np.full(len(code_points), _SPACE, dtype=np.uint8)
    single = _pieces(probe, text, kinds)
    if single:
        again = "".join(f"a{text[i]}a" for i in single)
        kinds_again = np.full(len(again), _SPACE, dtype=np.uint8)
        kinds_again[_pieces(probe, again, kinds_again)] = _PUNCT
        kinds[single] = kinds_again[1::3]
    return kinds


def _pieces(probe: tokenizers.Tokenizer, text: str, kinds: np.ndarray) -> list[int]:
    """Marks the positions pre-tokenized into pieces of two or more characters as words in ``kinds``; returns
    the positions of one-character pieces."""
    single = []
    for piece, (start, end) in probe.pre_tokenizer.pre_tokenize_str(text):
        if end - start == 1:
            single.append(start)
        else:
            kinds[start:end] = _WORD
        if len(piece) != end - start:
            raise RuntimeError("HF's pre-tokenizer offsets are not character offsets")
    return single


def _reordering(code_points: np.ndarray, starts: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Of ``code_points``, those whose normalized output (at ``starts`` in ``pool``) keeps a combining mark or a
    character the ``regex`` module does not know: NFD may reorder such a mark with its neighbours' marks,
    which a per-character table cannot do."""
    import regex

    text = pool.tobytes().decode("utf-32-le")  # still the normalized probe text: a '#' before each output
    # every risky character becomes '#' (all '#'s are separators so far): a C-speed scan, no match objects
    marked = np.frombuffer(regex.sub(r"[^\p{ccc=0}]|\p{Cn}", "#", text).encode("utf-32-le"), dtype=np.uint32)
    hits = np.flatnonzero((marked == 0x23) & (pool != 0x23))
    found = code_points[np.searchsorted(starts, hits, side="right") - 1]
    return found[(found < _EMPTY_PLANES.start) | (found >= _EMPTY_PLANES.stop)].astype(np.int64)


# ---- byte-level WordPiece (ByteSpan) ----------------------------------------------------------------------------
#: The split patterns the byte-level WordPiece engine runs (HF's ByteLevel regex is GPT-2's).
_BYTE_LEVEL_PATTERNS = frozenset({GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN})


def byte_level_unsupported(data: JSON) -> str:
    """Why `ByteLevelWordPieceEngine` cannot run ``data`` (a ``tokenizer.json`` object); empty when it can.

    It runs a ``WordPiece`` model over byte-level pre-tokens, as ``lexkit.vocab.bytespan`` writes it: no
    normalizer, then any ``Split`` steps on a literal string (``Isolated``), then either ``ByteLevel`` with its
    GPT-2 regex or a ``Split`` on the GPT-2, cl100k or o200k pattern followed by ``ByteLevel`` without regex
    (no added prefix space in either). A normalizer is refused: HF's Unicode tables, not Python's, define it.
    """
    model = data.get("model") or {}
    if model.get("type") != "WordPiece":
        return "not a WordPiece model"
    if data.get("normalizer") is not None:
        return "the byte-level WordPiece engine runs no normalizer"
    if _byte_level_steps(data.get("pre_tokenizer")) is None:
        return "the byte-level WordPiece engine runs only [literal Split...] + ByteLevel on a published pattern"
    if data.get("added_tokens") or data.get("truncation") or data.get("padding"):
        return "the WordPiece engine runs no added tokens, truncation or padding"
    prefix = model.get("continuing_subword_prefix", "##")
    max_chars = model.get("max_input_chars_per_word", 100)
    if model.get("unk_token") not in model.get("vocab", {}) or not isinstance(prefix, str) or len(
            prefix.encode()) > 16 or not isinstance(max_chars, int) or not 0 <= max_chars <= _MAX_CHARS:
        return "the WordPiece model's unk_token, prefix or max_input_chars_per_word is out of the engine's range"
    try:
        from lexkit import _wordpiece_kernel  # noqa: F401
    except ImportError:
        return "lexkit's WordPiece kernel is not built (no C compiler at install time)"
    return ""


def _byte_level_steps(pre_tokenizer: JSON | None) -> tuple[list[str], JSON] | None:
    """(literal split strings, the pre-tokenizer JSON of the regex step) of a supported byte-level pipeline."""
    steps: list[JSON] = []
    pending = [pre_tokenizer] if pre_tokenizer else []
    while pending:
        step = pending.pop(0)
        if step.get("type") == "Sequence":
            pending[:0] = step.get("pretokenizers", [])
        else:
            steps.append(step)
    literals: list[str] = []
    while steps and steps[0].get("type") == "Split" and "String" in steps[0].get("pattern", {}):
        step = steps.pop(0)
        if step.get("behavior") != "Isolated" or step.get("invert") or not step["pattern"]["String"]:
            return None
        literals.append(step["pattern"]["String"])
    if not steps or steps[-1].get("type") != "ByteLevel" or steps[-1].get("add_prefix_space", True):
        return None
    if len(steps) == 1 and steps[0].get("use_regex", True):
        return literals, steps[0]
    if (len(steps) == 2 and not steps[1].get("use_regex", True) and steps[0].get("type") == "Split"
            and steps[0].get("behavior") == "Isolated" and not steps[0].get("invert")
            and steps[0].get("pattern", {}).get("Regex") in _BYTE_LEVEL_PATTERNS):
        return literals, steps[0]
    return None


#: Properties of the published split patterns, with the general categories that make them up in Python's data.
_PROPERTIES = ((r"\p{L}", ("Lu", "Ll", "Lt", "Lm", "Lo")), (r"\p{N}", ("Nd", "Nl", "No")),
               (r"\p{M}", ("Mn", "Mc", "Me")), (r"\p{Lu}", ("Lu",)), (r"\p{Ll}", ("Ll",)), (r"\p{Lt}", ("Lt",)),
               (r"\p{Lm}", ("Lm",)), (r"\p{Lo}", ("Lo",)))


@lru_cache(maxsize=1)
def _disputed() -> re.Pattern[str]:
    """A character class of the code points whose split class may differ between HF and the ``regex`` module.

    HF's regex engine (Oniguruma) carries older Unicode data than the ``regex`` module: a character assigned or
    re-categorized since (U+05C8 a mark for ``regex`` 2026, unassigned for HF 0.23; U+0295 Lo then Ll) splits
    differently under o200k's letter classes. Python's ``unicodedata`` (Unicode 14 on Python 3.11) is older
    than both, so every code point whose properties differ between it and ``regex`` is disputed (HF's data lies
    between the two); so are the non-ASCII characters that case-fold to ASCII letters (``(?i:'s)`` and U+017F).
    Texts holding one are encoded by HF. Planes 4 to 13 hold nothing assigned in either.
    """
    import unicodedata

    import regex

    every = np.arange(0x40000, dtype=np.uint32)
    every = np.concatenate([every[(every < 0xD800) | (every >= 0xE000)], np.arange(0xE0000, CODE_POINTS,
                                                                                     dtype=np.uint32)])
    text = every.tobytes().decode("utf-32-le")
    names, categories = np.unique(np.array(list(map(unicodedata.category, text))), return_inverse=True)
    disputed = np.zeros(len(text), dtype=bool)
    for prop, members in _PROPERTIES:
        ours = np.frombuffer(regex.sub(prop, "\x00", text).encode("utf-32-le"), dtype=np.uint32) == 0
        ours[0] = False  # U+0000 itself
        disputed |= ours != np.isin(categories, np.flatnonzero(np.isin(names, members)))
    disputed[every < 0x80] = False  # ASCII is the same in every version (the split kernel's tests check it)
    found = [int(c) for c in every[disputed]]
    found += [int(every[m.start()]) for m in regex.finditer(r"(?i)[a-z]", text) if every[m.start()] >= 0x80]
    ranges, start = [], None
    for c, following in zip(sorted(set(found)), [*sorted(set(found))[1:], -1]):
        start = c if start is None else start
        if following != c + 1:
            ranges.append(f"\\U{start:08x}-\\U{c:08x}" if c > start else f"\\U{c:08x}")
            start = None
    return re.compile(f"[{''.join(ranges)}]" if ranges else "(?!)")


class ByteLevelWordPieceEngine:
    """WordPiece over byte-level pre-tokens (ByteSpan's ``longest-prefix``) on lexkit's WordPiece kernel.

    Pre-tokens come from lexkit's own pre-tokenizers (`lexkit.components`, the ``regex`` module running the same
    pattern as HF); the kernel maps each pre-token's UTF-8 bytes through GPT-2's byte-to-unicode table and runs
    the same greedy longest-prefix match as for BERT (`unsupported` engines: `byte_level_unsupported`). HF encodes
    a text holding a character whose Unicode class HF may see otherwise (`_disputed`: about 17,600 recently
    assigned or re-categorized code points), and a text whose pre-tokens do not tile it (never seen).
    Offers the calls of the fast engine that `lexkit.engine.Engine` uses (``encode_batch_flat`` and ``encode``).

    Args:
        data: a ``tokenizer.json`` object that `byte_level_unsupported` accepts.
    """

    name = "wordpiece"

    def __init__(self, data: JSON) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        from lexkit import _wordpiece_kernel
        from lexkit.components import build_pre_tokenizer
        from lexkit.corpus.splitting import ascii_split_pattern
        from lexkit.formats.surface import bytes_to_unicode

        reason = byte_level_unsupported(data)
        if reason:
            raise ValueError(f"ByteLevelWordPieceEngine cannot run this tokenizer.json: {reason}")
        self._kernel = _wordpiece_kernel
        self.reference: tokenizers.Tokenizer = HFTokenizer.from_str(json.dumps(data, ensure_ascii=False))
        steps = _byte_level_steps(data["pre_tokenizer"])
        assert steps is not None
        self._literals = steps[0]
        split = build_pre_tokenizer(steps[1])._plain_split()
        assert split is not None
        # ASCII text: Python's ``re`` runs the same pattern 1.7x faster than ``regex`` (the counting stage's
        # translation, `lexkit.corpus.splitting`, tested equal on ASCII text there)
        ascii_split = ascii_split_pattern(steps[1]["pattern"]["Regex"] if steps[1]["type"] == "Split" else
                                          GPT2_PATTERN).findall
        self._split: Callable[[str], list[str]] = lambda text: ascii_split(text) if text.isascii() else split(text)
        self._table = "".join(bytes_to_unicode()[b] for b in range(256)).encode()
        model = data["model"]
        vocab: dict[str, int] = model["vocab"]
        # subtle: no normalizer and no pre-tokenizer classes here; encode_bytes never reads these tables
        self._model = _wordpiece_kernel.new_model(
            np.full(CODE_POINTS, _SAME, dtype=np.uint32).tobytes(), b"", bytes(CODE_POINTS),
            [token.encode() for token in vocab], list(vocab.values()), vocab[model["unk_token"]],
            model.get("continuing_subword_prefix", "##").encode(), model.get("max_input_chars_per_word", 100))
        plain = self.reference.encode("a", add_special_tokens=False).ids
        full = self.reference.encode("a", add_special_tokens=True).ids
        start = next(i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain)
        self._affixes = full[:start], full[start + len(plain):]

    def pre_tokens(self, text: str) -> list[str]:
        """The raw pre-tokens of ``text`` (before the byte-to-unicode map), as HF's pre-tokenizer splits it."""
        pieces = [text] if text else []
        for literal in self._literals:
            if any(literal in piece for piece in pieces):
                pieces = [part for piece in pieces for part in _isolate(piece, literal)]
        split = self._split
        if len(pieces) == 1 and pieces[0] is text:  # no literal in the text (the usual case)
            return split(text)
        return [part for piece in pieces for part in (split(piece) if piece not in self._literals else [piece])]

    def encode_batch_flat(self, texts: Sequence[str], *, add_special_tokens: bool = False,
                          split_special_tokens: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """All ids as one ``uint32`` array and ``len(texts) + 1`` ``int64`` offsets (text ``i`` is
        ``ids[offsets[i]:offsets[i + 1]]``); ``add_special_tokens`` runs the post-processor.

        ``split_special_tokens`` is accepted for the engine interface: this engine holds no added tokens.

        Raises:
            UnicodeEncodeError: a text holds a lone surrogate.
            TypeError: an item is not a ``str``.
        """
        return _encode_in_parts(self._encode_part, list(texts), add_special_tokens)

    def _encode_part(self, texts: list[str], add: bool) -> tuple[np.ndarray, np.ndarray]:
        from array import array

        lengths, counts, chunks, routed = array("I"), array("I"), [], []
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {index} is a {type(text).__name__}, not a str")
            encoded = text.encode("utf-8")
            if len(encoded) != len(text) and _disputed().search(text):
                routed.append(index)
                counts.append(0)
                continue
            pieces = self.pre_tokens(text)
            before = len(lengths)
            lengths.extend(map(len, pieces) if len(encoded) == len(text) else
                           (len(piece.encode("utf-8")) for piece in pieces))
            if sum(lengths[before:]) != len(encoded):  # the pieces do not tile the text: HF encodes it
                del lengths[before:]
                routed.append(index)
                counts.append(0)
                continue
            counts.append(len(lengths) - before)
            chunks.append(encoded)
        prefix, suffix = self._affixes if add else ((), ())
        raw_ids, raw_offsets = self._kernel.encode_bytes(self._model, b"".join(chunks), lengths, counts,
                                                         self._table, prefix, suffix)
        ids = np.frombuffer(raw_ids, dtype=np.uint32)
        offsets = np.frombuffer(raw_offsets, dtype=np.uint64).astype(np.int64)
        if not routed:
            return ids, offsets
        lists = [e.ids for e in self.reference.encode_batch([texts[i] for i in routed], add_special_tokens=add)]
        parts = np.split(ids, offsets[1:-1])
        for index in routed:  # a routed text got only the affixes: clear them before splicing HF's ids in
            parts[index] = parts[index][:0]
        return _splice(np.concatenate(parts), np.concatenate([[0], np.cumsum([len(p) for p in parts])]),
                       routed, lists)

    def encode(self, text: str, *, add_special_tokens: bool = False, split_special_tokens: bool = True
               ) -> _Encoding:
        """The ids of one text (``.ids``, as HF's ``Encoding``)."""
        ids, _ = self._encode_part([text], add_special_tokens)
        return _Encoding(ids.tolist())


def _isolate(text: str, literal: str) -> list[str]:
    """``text`` split around every occurrence of ``literal``, each kept as its own piece (HF ``Isolated``)."""
    out: list[str] = []
    for position, part in enumerate(text.split(literal)):
        if position:
            out.append(literal)
        if part:
            out.append(part)
    return out
