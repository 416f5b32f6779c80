"""What the token viewer embeds so a page can encode typed text itself: pre-tokenizer regexes and BPE tables.

Byte-level BPE vocabularies (GPT-2, tiktoken ranks, lexkit's ``bpe``/``scaffold-bpe``/``lbpe`` trainers) run in
the page with a small JavaScript encoder (``viewer_assets/viewer.js``). Two table layouts:

- ``merges``: HF merge-list semantics, the ordered ``(left, right, result)`` triples packed as 3-byte integers;
  ``long-first`` re-orders them (LBPE), ``scaffold`` adds its demolition table.
- ``ranks``: tiktoken semantics (lowest-ranked concatenation first, whole pre-token first), used for vocabularies
  read from tiktoken ranks, whose derived merge list is twice as long as the token table.

Everything else (normalizers, Metaspace/WordPiece/Unigram models, morph, longest-token) returns a reason instead:
the page says it cannot run that tokenizer rather than approximating it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from lexkit.components import GPT2_PATTERN
from lexkit.encoders import long_first_order
from lexkit.tokenizer import Tokenizer
from lexkit.vocabulary import TokenKind, Vocabulary

__all__ = ["LIVE_ENCODERS", "NotRunnable", "LiveModel", "js_pattern", "live_model"]

LIVE_ENCODERS = ("bpe", "long-first", "scaffold")
_QUANTIFIERS = "?*+"


class NotRunnable(Exception):
    """The page cannot reproduce this tokenizer; the message says why (shown to the reader)."""


@dataclass(frozen=True)
class LiveModel:
    """A tokenizer as the page's encoder reads it (JSON-ready through `to_json`)."""

    mode: str  # "merges" or "ranks"
    stages: list[dict[str, Any]]  # pre-tokenizer stages: {"split": js regex} or {"bytes": prefix_space, "regex"}
    byte_ids: list[int]  # byte value -> token id
    table: str  # base64: merges (3 x 3-byte ints each) or tokens (1-byte length + bytes each, id order)
    whole_first: bool  # a pre-token that is itself a token is taken whole (HF ignore_merges / tiktoken)
    expansions: dict[int, list[list[int]]]  # scaffold id -> [piece id, piece length in bytes] it is demolished into
    size: int  # table bytes before base64

    def to_json(self) -> dict[str, Any]:
        """The fields the page reads."""
        return {"mode": self.mode, "stages": self.stages, "byteIds": self.byte_ids, "table": self.table,
                "wholeFirst": self.whole_first, "expansions": {str(k): v for k, v in self.expansions.items()}}


def js_pattern(pattern: str) -> str:
    """Rewrite a Python ``regex`` pre-tokenizer pattern for JavaScript's ``u`` flag.

    Scoped case-insensitive groups ``(?i:...)`` become explicit ``[sS]`` classes and possessive quantifiers
    (``?+``, ``++``, ``*+``) lose their ``+``: in the published GPT-2/cl100k/o200k patterns nothing can backtrack into
    them, so the matches are the same.

    Raises:
        NotRunnable: a construct JavaScript reads differently (inline flags, atomic groups, ``\\p`` scripts ...).

    >>> js_pattern(r"(?i:'s|'t)|\\p{L}++")
    "(?:'[sS]|'[tT])|\\\\p{L}+"
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    insensitive_depth: list[bool] = []  # per open group: was it a (?i: group
    after_atom = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n and pattern[i + 1] in "pP" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.index("}", i)
                name = pattern[i + 3:end]
                if "=" in name or name.lower().startswith(("is", "in")):
                    raise NotRunnable(f"regex property \\p{{{name}}} has no JavaScript equivalent")
                out.append(pattern[i:end + 1])
                i = end + 1
            else:
                if i + 1 < n and pattern[i + 1] in "AZzGhHvVXRK":
                    raise NotRunnable(f"regex escape \\{pattern[i + 1]} reads differently in JavaScript")
                out.append(pattern[i:i + 2])
                i += 2
            after_atom = True
        elif c == "[":
            end = i + 1
            if end < n and pattern[end] == "^":
                end += 1
            if end < n and pattern[end] == "]":
                end += 1
            while end < n and pattern[end] != "]":
                if pattern[end] == "[":
                    raise NotRunnable("nested character classes read differently in JavaScript")
                end += 2 if pattern[end] == "\\" else 1
            out.append(pattern[i:end + 1])
            i = end + 1
            after_atom = True
        elif c == "(":
            if pattern.startswith("(?i:", i):
                out.append("(?:")
                insensitive_depth.append(True)
                i += 4
            elif pattern.startswith(("(?:", "(?=", "(?!", "(?<=", "(?<!"), i) or pattern[i + 1:i + 2] != "?":
                insensitive_depth.append(False)
                out.append(c)
                i += 1
            else:
                raise NotRunnable(f"regex group {pattern[i:i + 4]!r}... has no JavaScript equivalent")
            after_atom = False
        elif c == ")":
            insensitive_depth.pop()
            out.append(c)
            i += 1
            after_atom = True
        elif c in _QUANTIFIERS or c == "{":
            if c == "{":
                end = pattern.index("}", i)
                out.append(pattern[i:end + 1])
                i = end + 1
            else:
                out.append(c)
                i += 1
            if after_atom and i < n and pattern[i] == "+":  # possessive: same matches here, JavaScript lacks it
                i += 1
            after_atom = False
        elif any(insensitive_depth) and c.isascii() and c.isalpha():
            out.append(f"[{c.lower()}{c.upper()}]")
            i += 1
            after_atom = True
        else:
            out.append(c)
            i += 1
            after_atom = c not in "|"
    return "".join(out)


def _stages(vocabulary: Vocabulary) -> list[dict[str, Any]]:
    """The pre-tokenizer as page stages; raises NotRunnable for components the page lacks."""
    spec = vocabulary.pre_tokenizer
    if spec is None:
        raise NotRunnable("no ByteLevel pre-tokenizer (the page encodes byte-level vocabularies only)")
    parts = spec.get("pretokenizers", []) if spec.get("type") == "Sequence" else [spec]
    stages: list[dict[str, Any]] = []
    for part in parts:
        kind = part.get("type")
        if kind == "Split":
            pattern = part.get("pattern", {})
            if part.get("behavior") != "Isolated" or part.get("invert"):
                raise NotRunnable(f"Split behaviour {part.get('behavior')!r} is not implemented in the page")
            if "Regex" in pattern:
                stages.append({"split": js_pattern(pattern["Regex"])})
            else:  # a literal: escape exactly JavaScript's syntax characters (the u flag rejects other escapes)
                stages.append({"split": re.sub(r"[\\^$.*+?()[\]{}|/]", r"\\\g<0>", pattern.get("String", ""))})
        elif kind == "ByteLevel":
            regex_source = js_pattern(GPT2_PATTERN) if part.get("use_regex", True) else None
            stages.append({"bytes": bool(part.get("add_prefix_space", True)), "regex": regex_source})
        else:
            raise NotRunnable(f"pre-tokenizer {kind!r} is not implemented in the page")
    if not stages or "bytes" not in stages[-1]:
        raise NotRunnable("the pipeline does not end in ByteLevel (the page encodes byte-level vocabularies only)")
    return stages


def _int3(values: list[int]) -> bytes:
    out = bytearray()
    for value in values:
        out += value.to_bytes(3, "little")
    return bytes(out)


def live_model(tokenizer: Tokenizer) -> LiveModel:
    """The page-side model of ``tokenizer``.

    Raises:
        NotRunnable: the page's encoder cannot give the same ids (the reason is shown in the page).
    """
    vocabulary = tokenizer.vocabulary
    if tokenizer.encoder_name not in LIVE_ENCODERS:
        raise NotRunnable(f"encoder {tokenizer.encoder_name!r} runs only in Python")
    if vocabulary.model != "bpe" or vocabulary.alphabet.kind != "bytes":
        raise NotRunnable(f"{vocabulary.model} vocabularies run only in Python")
    if vocabulary.normalizer is not None:
        raise NotRunnable("its normalizer is not implemented in the page")
    options = vocabulary.model_options
    if options.get("dropout") or options.get("continuing_subword_prefix") or options.get("end_of_word_suffix") \
            or options.get("byte_fallback"):
        raise NotRunnable("BPE options (dropout, subword prefix/suffix, byte fallback) are not implemented in the page")
    stages = _stages(vocabulary)
    byte_map = vocabulary.byte_ids
    if len(byte_map) < 256:
        raise NotRunnable("not every byte has a token")
    byte_ids = [byte_map[b] for b in range(256)]
    if len(vocabulary) >= 1 << 24:
        raise NotRunnable("more than 16.7 million tokens")
    expansions: dict[int, list[list[int]]] = {}
    if tokenizer.encoder_name == "scaffold":
        table = tokenizer.encoder.expansions  # type: ignore[attr-defined]
        tokens = vocabulary.tokens
        expansions = {k: [[p, len(tokens[p].content)] for p in v] for k, v in table.items()}
    if "tiktoken" in vocabulary.metadata and tokenizer.encoder_name == "bpe":
        blob = bytearray()
        for token in vocabulary.tokens:
            content = token.content if token.kind in (TokenKind.NORMAL, TokenKind.BYTE) else b""
            if len(content) > 255:
                raise NotRunnable(f"token {token.id} is longer than 255 bytes")
            blob.append(len(content))
            blob += content
        return LiveModel("ranks", stages, byte_ids, base64.b64encode(bytes(blob)).decode(), True, {}, len(blob))
    if options.get("ignore_merges"):
        raise NotRunnable("ignore_merges on a merge list is not implemented in the page")
    merges = vocabulary.merges
    order = long_first_order(vocabulary) if tokenizer.encoder_name == "long-first" else range(len(merges))
    flat: list[int] = []
    for rank in order:
        merge = merges[rank]
        flat += (merge[0], merge[1], vocabulary.merge_result(merge))
    data = _int3(flat)
    return LiveModel("merges", stages, byte_ids, base64.b64encode(data).decode(), False, expansions, len(data))
